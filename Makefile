# Two commands do everything: `make train` and `make test`. Both build .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl
export WANDB_MODE ?= offline

.PHONY: venv sysdeps train test test-all bench clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: an unpinned torch would pull GBs of CUDA wheels.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	# Meta-World without its mujoco==3.3.0 pin (pyproject.toml, extra `metaworld`).
	$(BIN)/pip install -q --no-deps metaworld==3.1.1
	touch $@

venv: $(BIN)/.installed

# EGL for MuJoCo's offscreen renderer; Xvfb and xdotool for the recorder's window in tests;
# X and GL libraries for OpenCV's Qt window; ROS 1 (roscore, rospy, the message packages) for
# the deploy path. Installed only where missing (needs root, as in CI).
SYSPKGS := libegl1 libgl1-mesa-dri libgles2 libgl1 libglib2.0-0 libxkbcommon-x11-0 libxcb-xinerama0 xvfb xdotool \
	ros-core python3-rospy python3-rostopic python3-std-msgs python3-sensor-msgs python3-geometry-msgs \
	python3-trajectory-msgs
sysdeps:
	@{ ldconfig -p | grep -q libEGL.so.1 && command -v Xvfb >/dev/null && command -v xdotool >/dev/null && \
		command -v roscore >/dev/null && command -v rostopic >/dev/null && \
		[ -d /usr/lib/python3/dist-packages/trajectory_msgs ]; } || \
		{ apt-get update -qq && apt-get install -y -qq $(SYSPKGS); }

# The main job: multitask MoE training on MuJoCo (configs/train.yaml), about 4 min on 2 cores.
train: sysdeps venv
	$(BIN)/robolearn train

# The CI suite (about 19 min on 2 cores); the 15 slowest tests are listed at the end.
test: sysdeps venv
	$(BIN)/python -m pytest -q -m "not slow" --durations=15

# Everything, the long statistical checks (marked slow) included.
test-all: sysdeps venv
	$(BIN)/python -m pytest -q --durations=15

bench: venv
	$(BIN)/python bench/sim_speed.py
	$(BIN)/python bench/moe_speed.py
	$(BIN)/python bench/sac_update.py

clean:
	rm -rf $(VENV) .pytest_cache

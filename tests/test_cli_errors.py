"""Every error a command raises ends as one line on stderr with exit 1; `debug=true` re-raises it."""
from __future__ import annotations

import pytest

from robolearn import cli


def raising(err: Exception):
    def command(args: list[str]) -> None:
        assert "debug=true" not in args  # the global flag never reaches a command's own parser
        raise err
    return command


@pytest.mark.parametrize("err", [KeyError("grasp"), RuntimeError("fleet actor died\nwith detail"), ValueError("bad x")])
def test_any_error_is_one_line_and_exit_1(err: Exception, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(cli.COMMANDS, "envs", raising(err))
    assert cli.main(["envs"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err
    assert str(err).strip("'").split("\n")[0] in lines[0]
    if isinstance(err, KeyError):  # not a user error: its type and the way to the traceback are named
        assert "KeyError" in lines[0] and "debug=true" in lines[0]


def test_debug_true_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.COMMANDS, "envs", raising(KeyError("grasp")))
    with pytest.raises(KeyError, match="grasp"):
        cli.main(["envs", "debug=true"])


def test_debug_must_be_a_boolean(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["envs", "debug=maybe"]) == 1
    assert "'debug' must be true or false" in capsys.readouterr().err


def test_hydra_commands_take_debug_too(tmp_path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "missing.hdf5"
    assert cli.main(["bc", f"data=[{missing}]", "logger=none", "debug=false", f"out={tmp_path / 'bc'}"]) == 1
    assert f"{missing}" in capsys.readouterr().err

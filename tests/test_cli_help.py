"""`--help`: every command answers it, exit 0, listing the options it really reads with their defaults."""
from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

import pytest

from robolearn.cli import COMMANDS, main
from robolearn.cli_help import format_value
from robolearn.config import compose_train, to_dataclass
from robolearn.deploy.runner import DeployRunConfig


def flattened(config: Any, prefix: str = "") -> dict[str, Any]:
    out = {}
    for f in fields(config):
        value = getattr(config, f.name)
        out |= flattened(value, f"{prefix}{f.name}.") if is_dataclass(value) else {f"{prefix}{f.name}": value}
    return out


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(f"robolearn {command}" in text for command in COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_answers_help(command: str, capsys: pytest.CaptureFixture) -> None:
    assert main([command, "--help"]) == 0
    captured = capsys.readouterr()
    assert captured.out.lstrip().startswith(f"robolearn {command}") and not captured.err


def test_hydra_help_lists_the_composed_config_with_meanings(capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "policy=mlp", "total_steps=1234", "--help"]) == 0
    text = capsys.readouterr().out
    config = to_dataclass(compose_train(["policy=mlp", "total_steps=1234"]))
    for key, value in flattened(config).items():  # every option, with the default the run would use
        assert f"  {key}={format_value(value)}" in text, key
    assert "policy.kind=mlp" in text and "auto (a GPU when there is one)" in text
    assert "policy: dense_compute | dense_params | mlp | moe | multihead" in text


def test_plain_command_help_lists_its_dataclass_fields_with_meanings(capsys: pytest.CaptureFixture) -> None:
    assert main(["deploy", "--help"]) == 0
    text = capsys.readouterr().out
    for key, value in flattened(DeployRunConfig()).items():
        assert f"  {key}={format_value(value)}" in text, key
    assert "rosbridge authentication" in text
    assert main(["data", "info", "--help"]) == 0 and "  skip_bad=false" in capsys.readouterr().out

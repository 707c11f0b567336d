"""Options made from a config dataclass: the default lives once, in the dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import click
import pytest
from click.testing import CliRunner

from models import TrainConfig, described, options_from
from models.cli import train_command


@dataclass(frozen=True)
class Config:
    name: str
    rounds: int = described(3, "how many rounds")
    rate: float = described(0.5, "how fast")
    mode: Literal["fast", "slow"] = described("fast", "which way")
    check: bool = described(True, "check the result")
    cap: int | None = described(None, "at most N", type=click.IntRange(min=1))
    steps_s: float = described(2.0, "seconds a step may take", flag="--step")
    internal: int = 7


def command() -> click.Command:
    @click.command()
    @options_from(Config)
    def run(**values: Any) -> None:
        click.echo(repr(Config(name="x", **values)))

    return run


def test_every_described_field_is_an_option_in_the_dataclass_order() -> None:
    options = [p for p in command().params if isinstance(p, click.Option)]
    assert [max(p.opts, key=len) for p in options] == [
        "--rounds",
        "--rate",
        "--mode",
        "--check",
        "--cap",
        "--step",
    ]
    by_name = {p.name: p for p in options}
    assert by_name["rounds"].default == 3
    assert by_name["rounds"].help == "how many rounds"
    assert by_name["rounds"].show_default is True
    assert isinstance(by_name["mode"].type, click.Choice)
    assert list(by_name["mode"].type.choices) == ["fast", "slow"]
    assert by_name["check"].secondary_opts == ["--no-check"]
    assert isinstance(by_name["cap"].type, click.IntRange)
    assert not by_name["cap"].show_default  # None: nothing to show


def test_the_values_build_the_dataclass_with_its_defaults() -> None:
    plain = CliRunner().invoke(command(), [], catch_exceptions=False)
    assert plain.output.strip() == repr(Config(name="x"))
    given = ["--rounds", "5", "--mode", "slow", "--no-check", "--cap", "2", "--step", "9"]
    changed = CliRunner().invoke(command(), given, catch_exceptions=False)
    want = Config(name="x", rounds=5, mode="slow", check=False, cap=2, steps_s=9.0)
    assert changed.output.strip() == repr(want)
    refused = CliRunner().invoke(command(), ["--mode", "medium"])
    assert refused.exit_code == 2
    assert "medium" in refused.output


def test_a_field_without_help_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"Config\.internal has no help"):
        options_from(Config, "internal")


def test_train_options_default_to_train_config() -> None:
    """`triage train` with no hyperparameter options trains with TrainConfig's defaults."""
    defaults = TrainConfig()
    options = {p.name: p for p in train_command.params if isinstance(p, click.Option)}
    for name in ("epochs", "max_length", "truncation", "batch_size", "lr", "lora_r", "imbalance"):
        assert options[name].default == getattr(defaults, name), name
        assert options[name].help, name

"""Every `triage` option as a new user meets it: described, and one meaning per name.

An option's help reads ``"<meaning>; <note for this command>"``: the part before the first
``"; "`` is what the name means and must be the same in every command that has the option; the
note after it may differ. Type and default must match too, except where EXCEPTIONS says why.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import click
import pytest

from ops.cli import cli

#: option name -> (what may differ, why). Keep it short: each entry is a name whose meaning is
#: the same but whose default cannot be.
EXCEPTIONS: dict[str, tuple[frozenset[str], str]] = {
    "--limit": (
        frozenset({"default"}),
        "a list shows a screenful by default (queue 20, corrections 50); a file is read whole",
    ),
}


def walk(command: click.Command, path: str = "triage") -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, f"{path} {name}")


COMMANDS = list(walk(cli))
OPTIONS = [
    (path, param)
    for path, command in COMMANDS
    for param in command.params
    if isinstance(param, click.Option) and not param.hidden
]


def meaning(param: click.Option) -> str:
    return (param.help or "").split("; ", 1)[0]


def kind(param: click.Parameter) -> tuple[object, ...]:
    """What a user can pass: the type's class, its choices and bounds, flag or value."""
    info = param.type.to_info_dict()
    keep = ("param_type", "choices", "min", "max", "min_open", "max_open")
    return (getattr(param, "is_flag", False), param.multiple, *(info.get(k) for k in keep))


def default(param: click.Parameter) -> object:
    value = param.default
    return getattr(value, "__qualname__", value) if callable(value) else value


def name(param: click.Option) -> str:
    return max(param.opts, key=len)


def test_the_tree_is_walked() -> None:
    paths = {path for path, _ in COMMANDS}
    assert {"triage train", "triage produce", "triage corrections list", "triage bench"} <= paths
    assert len(OPTIONS) > 80


@pytest.mark.parametrize(("path", "option"), OPTIONS, ids=[f"{p} {name(o)}" for p, o in OPTIONS])
def test_every_option_has_help(path: str, option: click.Option) -> None:
    assert meaning(option).strip(), f"`{path} {name(option)}` has no help text"


def test_every_argument_is_named_in_its_commands_help() -> None:
    missing = [
        f"{path} {param.human_readable_name}"
        for path, command in COMMANDS
        for param in command.params
        if isinstance(param, click.Argument)
        and param.human_readable_name not in (command.help or "")
    ]
    assert not missing, f"arguments their command's help does not describe: {missing}"


def test_one_meaning_type_and_default_per_option_name() -> None:
    seen: dict[str, list[tuple[str, click.Option]]] = defaultdict(list)
    for path, option in OPTIONS:
        seen[name(option)].append((path, option))
    problems = []
    for option_name, uses in seen.items():
        may_differ = EXCEPTIONS.get(option_name, (frozenset(), ""))[0]
        checks = {"meaning": meaning, "type": kind, "default": default}
        for aspect, read in checks.items():
            values = {path: read(option) for path, option in uses}
            if aspect not in may_differ and len({repr(v) for v in values.values()}) > 1:
                problems.append(f"{option_name} {aspect} differs: {values}")
    assert not problems, "\n".join(problems)


def test_exceptions_are_still_needed() -> None:
    names = {name(option) for _, option in OPTIONS}
    assert set(EXCEPTIONS) <= names, "an exception names an option no command has any more"


def test_json_is_always_the_print_json_flag() -> None:
    for path, option in OPTIONS:
        if "--json" in option.opts:
            assert option.is_flag, f"`{path} --json` takes a value; a file is --json-out FILE"

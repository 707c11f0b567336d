"""The options several commands share, and options made from a config dataclass's fields.

Shared options are defined once so that a name keeps one meaning, type and default everywhere
(tests/ops/test_cli_tree.py checks it). They live here, in a bottom package, because every
package's CLI may import models. A ``note`` is the part of the help after ``"; "``: what the
option is for in that one command.

Where a command only fills a config dataclass (``TrainConfig``, ``BenchConfig``), its options
are made from the fields (:func:`options_from`): the default is stated once, in the dataclass,
and the option cannot drift from what the code behind it assumes.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import click
from click.decorators import FC

from models.data import HeadColumn
from models.exceptions import ModelError

T = TypeVar("T")

text_col_option = click.option(
    "--text-col", default="text", show_default=True, help="column holding the ticket text"
)
label_col_option = click.option(
    "--label-col", default="label", show_default=True, help="column holding the team/label"
)


def seed_option(note: str) -> Callable[[FC], FC]:
    return click.option(
        "--seed", type=int, default=13, show_default=True, help=f"random seed; {note}"
    )


def held_out_fraction_option(note: str = "") -> Callable[[FC], FC]:
    return click.option(
        "--test-fraction",
        type=click.FloatRange(0, 0.5, min_open=True),
        default=0.2,
        show_default=True,
        help="share of the rows held out to score every model on" + (f"; {note}" if note else ""),
    )


def health_config_option(note: str, dest: str = "config") -> Callable[[FC], FC]:
    """``--config``: the data-health config (JSON) that train, evaluate and data inspect read."""
    return click.option(
        "--config",
        dest,
        type=click.Path(path_type=Path),
        help=f"data-health config (JSON); {note}",
    )


def json_out_option(note: str = "") -> Callable[[FC], FC]:
    return click.option(
        "--json-out",
        type=click.Path(dir_okay=False, path_type=Path),
        help="also write the results to this JSON file" + (f"; {note}" if note else ""),
    )


def limit_option(note: str) -> Callable[[FC], FC]:
    """``--limit`` where the default is everything (a list's screenful is its own option)."""
    return click.option(
        "--limit", type=click.IntRange(min=1), default=None, help=f"at most N; {note}"
    )


loglevel_option = click.option(
    "--loglevel",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="log level",
)

device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default=None,
    help="where the model runs (default: TRIAGE_DEVICE, else auto)",
)


def described(default: T, help: str, **option: Any) -> T:
    """A dataclass field's default, with the help of the option that sets it (and any other
    ``click.option`` setting, e.g. ``type`` or ``flag``, the option's name where it is not the
    field's), for :func:`options_from`."""
    return field(default=default, metadata={"help": help, "option": option})


def options_from(config: type, *names: str) -> Callable[[FC], FC]:
    """Click options setting these fields of the dataclass ``config``, listed in this order
    (none named: every field declared with :func:`described`, in the dataclass's order).

    Each is ``--field-name`` (or the field's ``flag``) with the field's default, shown unless it
    is None, and the help given to :func:`described`; the value arrives under the field's own
    name, so ``config(**values)`` takes it. The type comes from the annotation: int, float, a
    Literal as a choice, bool as a ``--x/--no-x`` switch, unless the field gives its own.
    """
    hints = typing.get_type_hints(config)
    by_name = {f.name: f for f in fields(config)}
    names = names or tuple(name for name, f in by_name.items() if "help" in f.metadata)
    options = []
    for name in names:
        spec = by_name[name]
        if "help" not in spec.metadata:
            raise TypeError(f"{config.__name__}.{name} has no help: declare it with described()")
        settings = dict(spec.metadata["option"])
        flag = settings.pop("flag", "--" + name.replace("_", "-"))
        kind = settings.pop("type", None) or _click_type(hints[name])
        if kind is bool:
            flag, kind = f"{flag}/--no-{flag.removeprefix('--')}", None
        if spec.default is not None:  # None: click's own "not given", shown as nothing
            settings = {"default": spec.default, "show_default": True, **settings}
        options.append(click.option(flag, name, type=kind, help=spec.metadata["help"], **settings))

    def decorate(command: FC) -> FC:
        for option in reversed(options):  # the first listed is the first in --help
            command = option(command)
        return command

    return decorate


def _click_type(hint: Any) -> Any:
    """int, float and bool as themselves, a Literal as a choice, ``X | None`` as X."""
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) is Literal:
        return click.Choice([str(a) for a in args])
    if len(args) == 1:
        return _click_type(args[0])
    if hint in (int, float, bool):
        return hint
    raise TypeError(f"no click type for {hint!r}: give the field its own type= in described()")


HEAD_OPTIONS = [
    click.option(
        "--task-col",
        "task_cols",
        multiple=True,
        help="a column whose labels train an extra single-label head of that name (urgency, "
        "sentiment) on the same encoder; repeat for more heads",
    ),
    click.option(
        "--multi-label-col",
        "multi_label_cols",
        multiple=True,
        help="a column of label sets (billing;refund) that trains a multi-label head of that name, "
        "with a threshold per label tuned on validation; a blank cell is the empty set",
    ),
    click.option(
        "--label-sep", default=";", show_default=True, help="between a --multi-label-col's labels"
    ),
    click.option(
        "--head-weight",
        "head_weights",
        multiple=True,
        help="NAME=W: head NAME's weight in the joint loss (primary head: 'label'; default 1)",
    ),
]


@dataclass(frozen=True)
class HeadOptions:
    """`triage train`'s extra heads as one argument: their columns and loss weights."""

    columns: tuple[HeadColumn, ...] = ()
    weights: dict[str, float] = field(default_factory=dict)


def head_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the head options and hands the command one ``heads`` (:class:`HeadOptions`)."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        task_cols: tuple[str, ...],
        multi_label_cols: tuple[str, ...],
        label_sep: str,
        head_weights: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:
        columns = [HeadColumn(c) for c in task_cols]
        columns += [HeadColumn(c, multilabel=True, sep=label_sep) for c in multi_label_cols]
        heads = HeadOptions(tuple(columns), parse_head_weights(head_weights))
        return command(*args, heads=heads, **kwargs)

    for option in reversed(HEAD_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def parse_head_weights(given: Sequence[str]) -> dict[str, float]:
    """``("urgency=0.5", ...)`` as weights by head name, refusing a malformed one by name."""
    out: dict[str, float] = {}
    for item in given:
        name, _, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ModelError(
                f"--head-weight {item!r} is not NAME=W: write e.g. urgency=0.5"
            ) from None
        if not name.strip():
            raise ModelError(f"--head-weight {item!r} names no head: write e.g. urgency=0.5")
    return out

"""Records from rows: what a store read hands out is a frozen dataclass, never an ORM row (a row
is bound to its session and lazy-loads after it closed). A record's fields are named as its
table's columns, so the copy is made by name, here, instead of by a constructor call per record
type that repeats every column.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def record_of(record: type[R], row: object, **converted: Any) -> R:
    """``record`` with each field copied from the attribute of ``row`` of the same name, except
    those in ``converted`` (a value that must not be shared with the row, say, a JSON list)."""
    copied = {f.name: getattr(row, f.name) for f in fields(record) if f.name not in converted}
    return record(**copied, **converted)

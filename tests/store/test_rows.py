"""Records from rows: every field copied by name, converted ones given."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from store.rows import record_of


@dataclass(frozen=True)
class Record:
    id: int
    names: list[str]


def test_fields_are_copied_by_name_and_converted_ones_given() -> None:
    names = ["a"]
    row = SimpleNamespace(id=3, names=names, internal="not a field")
    assert record_of(Record, row) == Record(3, names)
    copied = record_of(Record, row, names=list(row.names))
    assert copied == Record(3, ["a"])
    assert copied.names is not names


def test_a_field_the_row_lacks_is_named() -> None:
    with pytest.raises(AttributeError, match="names"):
        record_of(Record, SimpleNamespace(id=3))

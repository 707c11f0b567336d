"""Readers for labelled exports: CSV (any dialect) and JSON Lines.

Exports come from ticketing tools and spreadsheets, so the reader is lenient about format
(delimiter, quoting, a UTF-8 byte-order mark, CRLF) and strict about content: every problem that
would silently cost rows or poison training (a missing column, blank labels, a row with more
fields than the header, bytes that are not UTF-8) stops with a message that names the line and
says how to fix the file. Files are decoded line by line so an encoding error points at its line.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.exceptions import DataError

JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
SNIFF_BYTES = 64 * 1024
SNIFF_DELIMITERS = ",;\t|"
MAX_LISTED_ROWS = 10

# Long complaint narratives exceed the csv module's default 128 KiB field limit.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


#: one row's labels for an extra head: one label (a task head) or a set (a multi-label head,
#: possibly empty); None where nobody gave it (a pseudo-labelled or generated row), so that row
#: trains the other heads and not this one
HeadValue = tuple[str, ...] | None


@dataclass(frozen=True)
class HeadLabels:
    """An extra head's labels, one per row of the data it belongs to."""

    multilabel: bool
    values: list[HeadValue]

    def take(self, rows: Sequence[int]) -> HeadLabels:
        return HeadLabels(self.multilabel, [self.values[i] for i in rows])

    def padded(self, n: int) -> HeadLabels:
        """These rows, then ``n`` rows whose label for this head is unknown."""
        return HeadLabels(self.multilabel, self.values + [None] * n)

    @property
    def classes(self) -> list[str]:
        return sorted({label for value in self.values if value for label in value})


@dataclass(frozen=True)
class LabelledData:
    """Texts and their (primary) labels, in file order; ``source`` says where they came from.

    ``heads`` holds the labels of any extra head (urgency, tags), by head name, row for row:
    every step that drops, reorders or adds rows carries them along (:meth:`take`,
    :meth:`extended`), so a ticket's team and urgency can never drift apart.
    """

    texts: list[str]
    labels: list[str]
    source: str
    heads: Mapping[str, HeadLabels] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(f"{self.source}: {len(self.texts)} texts but {len(self.labels)} labels")
        for name, head in self.heads.items():
            if len(head.values) != len(self.texts):
                raise DataError(
                    f"{self.source}: head {name!r} has {len(head.values)} labels for "
                    f"{len(self.texts)} texts"
                )

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    def take(self, rows: Sequence[int], texts: Sequence[str] | None = None) -> LabelledData:
        """Rows ``rows`` in that order, with their head labels; ``texts`` replaces their texts
        (cleaned ones, say)."""
        return LabelledData(
            texts=list(texts) if texts is not None else [self.texts[i] for i in rows],
            labels=[self.labels[i] for i in rows],
            source=self.source,
            heads={name: head.take(rows) for name, head in self.heads.items()},
        )

    def extended(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        source: str | None = None,
        copied_from: Sequence[int] | None = None,
    ) -> LabelledData:
        """These rows followed by new ones. A new row copies the head labels of the row it was
        made from (``copied_from``, a noisy copy) or leaves them unknown (pseudo or generated
        rows: only the primary label is known)."""
        heads = {
            name: HeadLabels(head.multilabel, head.values + head.take(copied_from).values)
            if copied_from is not None
            else head.padded(len(texts))
            for name, head in self.heads.items()
        }
        return LabelledData(
            self.texts + list(texts), self.labels + list(labels), source or self.source, heads
        )


@dataclass(frozen=True)
class HeadColumn:
    """A column of an export that trains an extra head named after it."""

    column: str
    multilabel: bool = False
    #: between a multi-label cell's labels (``billing;refund``)
    sep: str = ";"

    def value(self, raw: Any) -> HeadValue:
        """One cell: a blank task cell is an unknown label (the row trains the other heads); a
        blank multi-label cell is the empty set."""
        cell = _cell(raw).strip()
        if self.multilabel:
            return tuple(sorted({x.strip() for x in cell.split(self.sep) if x.strip()}))
        return (cell,) if cell else None


def read_labelled(
    path: Path, text_col: str, label_col: str, heads: Sequence[HeadColumn] = ()
) -> LabelledData:
    """Read ``text_col`` and ``label_col`` of a CSV or JSONL export, refusing unusable files;
    each of ``heads`` adds an extra head from its column, read in the same pass."""
    path = Path(path)
    names = [c.column for c in heads]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise DataError(f"head column(s) {clash} given twice: name each extra head's column once")
    texts: list[str] = []
    labels: list[str] = []
    values: dict[str, list[HeadValue]] = {name: [] for name in names}
    blank_lines: list[int] = []
    for line, record in _numbered_records(path):
        if not texts:
            _require_columns(path, record, (text_col, label_col, *names))
        text = _cell(record.get(text_col))
        label = _cell(record.get(label_col)).strip()
        if not label:
            blank_lines.append(line)
        texts.append(text)
        labels.append(label)
        for c in heads:
            values[c.column].append(c.value(record.get(c.column)))
    if not texts:
        what = "is empty" if path.stat().st_size == 0 else "has a header but no data rows"
        raise DataError(f"{path} {what}: export it again with its rows")
    if blank_lines:
        shown = ", ".join(str(n) for n in blank_lines[:MAX_LISTED_ROWS])
        more = (
            f" (and {len(blank_lines) - MAX_LISTED_ROWS} more)"
            if len(blank_lines) > MAX_LISTED_ROWS
            else ""
        )
        raise DataError(
            f"{path}: {len(blank_lines)} rows have a blank {label_col!r}, on line(s) {shown}{more};"
            " label them or remove those rows"
        )
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise DataError(
            f"{path}: every row has {label_col!r} = {classes[0]!r}; a classifier needs at least"
            f" 2 classes - check that {label_col!r} is the right column"
        )
    extra = {c.column: HeadLabels(c.multilabel, values[c.column]) for c in heads}
    return LabelledData(texts=texts, labels=labels, source=str(path), heads=extra)


def read_texts(path: Path, text_col: str) -> list[str]:
    """``text_col`` of every row of a CSV or JSONL export without labels (blank rows dropped)."""
    path = Path(path)
    texts: list[str] = []
    for number, (_line, record) in enumerate(_numbered_records(path)):
        if number == 0:
            _require_columns(path, record, (text_col,))
        text = _cell(record.get(text_col))
        if text.strip():
            texts.append(text)
    if not texts:
        raise DataError(f"{path} has no text in column {text_col!r}: export it with its rows")
    return texts


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Yield each row of a CSV or JSONL file as a dict (CSV values are strings)."""
    for _line, record in _numbered_records(Path(path)):
        yield record


def _numbered_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number where the record starts, record) for every data row of ``path``."""
    if not path.is_file():
        where = "is a directory" if path.is_dir() else "does not exist"
        raise DataError(f"{path} {where}: pass the path of a .csv or .jsonl export")
    if path.suffix.lower() in JSONL_SUFFIXES:
        yield from _jsonl_records(path)
    else:
        yield from _csv_records(path)


def _decoded_lines(path: Path) -> Iterator[str]:
    """The file's lines as text, line endings kept; a BOM on the first line is dropped."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[exc.start : exc.start + 4]
                raise DataError(
                    f"{path} is not UTF-8: undecodable bytes {bad!r} on line {number}"
                    " - re-save the file as UTF-8 (e.g. 'CSV UTF-8' in Excel)"
                ) from exc
            yield line


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(_decoded_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}: line {number} is not valid JSON ({exc.msg}); JSON Lines needs one"
                " object per line"
            ) from exc
        if not isinstance(record, dict):
            raise DataError(
                f"{path}: line {number} holds a {type(record).__name__}, not an object;"
                ' write one {"column": value, ...} object per line'
            )
        yield number, record


def _csv_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(_decoded_lines(path), dialect=_sniff_dialect(path))
    header: list[str] | None = None
    start = 1
    for row in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [name.strip() for name in row]
            continue
        if len(row) > len(header):
            raise DataError(
                f"{path}: line {line} has {len(row)} fields but the header has {len(header)};"
                " quote text that contains the delimiter, or fix that row"
            )
        yield line, dict(zip(header, row, strict=False))


def _sniff_dialect(path: Path) -> type[csv.Dialect] | csv.Dialect:
    if path.suffix.lower() == ".tsv":
        return csv.excel_tab
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if len(head) == SNIFF_BYTES and b"\n" in head:  # a cut record confuses the sniffer
        head = head[: head.rindex(b"\n")]
    sample = head.decode("utf-8-sig", errors="replace")
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=SNIFF_DELIMITERS)
    except csv.Error:  # one column, or too little text to tell: the common case is a comma
        return csv.excel
    # Take only the delimiter from the sniffer. Its quoting guesses (doublequote, escapechar)
    # are unreliable on real exports: a text with an escaped quote ("") made it pick
    # doublequote=False and split the row. Every spreadsheet and csv writer uses RFC 4180.

    class Sniffed(csv.excel):
        delimiter = sniffed.delimiter

    return Sniffed


def _require_columns(path: Path, record: dict[str, Any], wanted: Iterable[str]) -> None:
    missing = [name for name in wanted if name not in record]
    if missing:
        found = ", ".join(repr(name) for name in record) or "none"
        raise DataError(
            f"{path} has no column {', '.join(repr(m) for m in missing)}; columns found: {found}"
            " - pass the right names with --text-col / --label-col"
        )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)

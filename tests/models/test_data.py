"""Readers of labelled exports: formats they accept and every refusal's message."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from models.data import LabelledData, iter_records, read_labelled
from models.exceptions import DataError


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, "utf-8", newline="")
    return path


def test_reads_comma_csv_with_quoted_multiline_text(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.csv",
        'text,label\r\n"card, lost\r\nplease help",cards\r\nwhere is my money,transfers\r\n',
    )
    data = read_labelled(path, "text", "label")
    assert data == LabelledData(
        texts=["card, lost\r\nplease help", "where is my money"],
        labels=["cards", "transfers"],
        source=str(path),
    )
    assert data.classes == ["cards", "transfers"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_sniffs_other_delimiters(tmp_path: Path, delimiter: str) -> None:
    rows = ["id;text;label", "1;my card is lost, help;cards", "2;send money abroad;transfers"]
    path = write(tmp_path / "t.csv", "\n".join(r.replace(";", delimiter) for r in rows) + "\n")
    data = read_labelled(path, "text", "label")
    assert data.texts == ["my card is lost, help", "send money abroad"]
    assert data.labels == ["cards", "transfers"]


def test_utf8_bom_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "\ufefftext,label\ncafé card,cards\nwire,transfers\n")
    assert read_labelled(path, "text", "label").texts == ["café card", "wire"]


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_reads_json_lines(tmp_path: Path, suffix: str) -> None:
    lines = [
        json.dumps({"body": "lost card", "team": "cards", "extra": 1}),
        "",
        json.dumps({"body": "fx rate", "team": 7}),
    ]
    path = write(tmp_path / f"t{suffix}", "\ufeff" + "\n".join(lines) + "\n")
    data = read_labelled(path, "body", "team")
    assert data.texts == ["lost card", "fx rate"]
    assert data.labels == ["cards", "7"]


def test_iter_records_yields_every_column(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "text,team,id\nhello,cards,1\n\nbye,fx,2\n")
    assert list(iter_records(path)) == [
        {"text": "hello", "team": "cards", "id": "1"},
        {"text": "bye", "team": "fx", "id": "2"},
    ]


def test_reads_the_shipped_sample(sample_dir: Path) -> None:
    data = read_labelled(sample_dir / "banking77_train.csv", "text", "team")
    assert len(data) == 1400
    assert len(data.classes) == 7


# -- refusals: each message names the value and the fix -------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv does not exist: pass the path"):
        read_labelled(tmp_path / "nope.csv", "text", "label")


def test_missing_column_names_the_columns_found(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "body,team\nhello,cards\n")
    with pytest.raises(DataError) as info:
        read_labelled(path, "text", "team")
    message = str(info.value)
    assert "no column 'text'" in message
    assert "columns found: 'body', 'team'" in message
    assert "--text-col" in message


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "")
    with pytest.raises(DataError, match="is empty"):
        read_labelled(path, "text", "label")


def test_header_without_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "text,label\n")
    with pytest.raises(DataError, match="has a header but no data rows"):
        read_labelled(path, "text", "label")


def test_blank_labels_name_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "text,label\na,x\nb,\nc,y\nd,  \n")
    with pytest.raises(DataError) as info:
        read_labelled(path, "text", "label")
    assert "2 rows have a blank 'label', on line(s) 3, 5" in str(info.value)
    assert "label them or remove those rows" in str(info.value)


def test_many_blank_labels_are_summarised(tmp_path: Path) -> None:
    rows = "".join(f"t{i},\n" for i in range(15))
    path = write(tmp_path / "t.csv", "text,label\nok,x\nfine,y\n" + rows)
    with pytest.raises(DataError, match=r"line\(s\) 4, 5, .*, 13 \(and 5 more\)"):
        read_labelled(path, "text", "label")


def test_single_class(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "text,label\na,cards\nb,cards\n")
    with pytest.raises(DataError, match=r"every row has 'label' = 'cards'.*at least 2 classes"):
        read_labelled(path, "text", "label")


def test_undecodable_bytes_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", b"text,label\nfine,a\ncaf\xe9,b\n")
    with pytest.raises(DataError, match=r"not UTF-8: undecodable bytes .* on line 3.*UTF-8"):
        read_labelled(path, "text", "label")


def test_row_with_extra_fields_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "text,label\nfine,a\nlost, stolen card,b\n")
    with pytest.raises(DataError, match="line 3 has 3 fields but the header has 2"):
        read_labelled(path, "text", "label")


def test_invalid_json_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", '{"text": "a", "label": "x"}\n{"text": \n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        read_labelled(path, "text", "label")


def test_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", '["a", "x"]\n')
    with pytest.raises(DataError, match="line 1 holds a list, not an object"):
        list(iter_records(path))


def test_escaped_quotes_survive_dialect_sniffing(tmp_path: Path) -> None:
    """Regression: the sniffer guessed doublequote=False on this file and split the row."""
    path = tmp_path / "gold.csv"
    rows = [
        # shape of a real CFPB narrative: a lone quote, then two apostrophes, then commas
        {
            "text": "was told they \" cant even open '' my account, they wont listen",
            "label": "cards",
        },
        {"text": "plain text", "label": "fx"},
    ]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label"], quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(rows)
    data = read_labelled(path, "text", "label")
    assert data.texts == [r["text"] for r in rows]

"""Data health: clean-up, label normalisation, duplicates, redaction, entropy and verdicts."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from models.clean import clean_text
from models.data import LabelledData
from models.exceptions import DataError
from models.health import HealthConfig, HealthReport, prepare
from models.imbalance import imbalance_verdict, refuse_if_severe, shannon_entropy
from models.labels import normalise_label
from models.near_duplicates import near_duplicates


def data(texts: list[str], labels: list[str]) -> LabelledData:
    return LabelledData(texts=texts, labels=labels, source="test.csv")


def sentence(seed: int, words: int = 60) -> str:
    rng = random.Random(seed)
    return " ".join(f"w{rng.randrange(100_000)}" for _ in range(words))


def removed_rows(report: HealthReport) -> int:
    return (
        report.empty_dropped
        + report.exact_duplicates
        + report.near_duplicates
        + report.conflict_rows_dropped
    )


# -- clean_text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "My card was declined.\n\nOn Mon, 3 Jun 2024 at 10:00, Support <s@bank.com> wrote:\n"
        "> How can we help?\n> Thanks",
        "My card was declined.\nOn Monday Support Team\n<s@bank.com> wrote:\nanything",
        "My card was declined.\n-----Original Message-----\nFrom: support\nSubject: hi",
        "My card was declined.\nFrom: Support <s@bank.com>\nSent: Monday\nTo: me\nold text",
        "> earlier message\nMy card was declined.\n> more quoted text",
    ],
)
def test_quoted_replies_are_stripped(text: str) -> None:
    assert clean_text(text) == "My card was declined."


@pytest.mark.parametrize(
    "text",
    [
        "My card was declined.\n-- \nJane Doe\nACME Ltd",
        "My card was declined.\n\nSent from my iPhone",
        "My card was declined.\n\nBest regards,\nJane Doe\nHead of Finance, ACME",
        "My card was declined.\nThanks!",
        "My card was declined.\nKind regards\nJane",
    ],
)
def test_signatures_are_stripped(text: str) -> None:
    assert clean_text(text) == "My card was declined."


def test_a_closing_word_inside_the_message_is_kept() -> None:
    text = "Thanks\nfor nothing: my card was declined three times at the same shop today and " * 2
    assert clean_text(text).startswith("Thanks\nfor nothing")


def test_whitespace_unicode_and_control_characters_are_normalised() -> None:
    raw = "  ﬁx\tmy  ＣＡＲＤ\u200b\x07 please\r\n\r\n\r\n\r\nnow\u00a0 "
    assert clean_text(raw) == "fix my CARD please\n\nnow"


def test_mojibake_is_repaired_but_real_accents_are_kept() -> None:
    assert clean_text("I donâ€™t see my cafÃ© payment") == "I don’t see my café payment"
    assert clean_text("Crème brûlée at the café") == "Crème brûlée at the café"


# -- labels ---------------------------------------------------------------------------------


def test_normalise_label_case_whitespace_and_synonyms() -> None:
    synonyms = {"Invoices ": "Billing", "card  issues": "cards"}
    assert normalise_label("  Cards\t", synonyms) == "cards"
    assert normalise_label("INVOICES", synonyms) == "billing"
    assert normalise_label("Card Issues", synonyms) == "cards"
    assert normalise_label("fx", {}) == "fx"


def test_labels_outside_allowed_labels_are_named() -> None:
    config = HealthConfig(allowed_labels=["cards", "FX"], synonyms={"forex": "fx"})
    texts = ["a b", "c d", "e f", "g h", "i j"]
    with pytest.raises(DataError) as info:
        prepare(data(texts, ["Cards", "forex", "loans", "Loans", "pets"]), config)
    message = str(info.value)
    assert "labels not in allowed_labels: 'loans' (2 rows), 'pets' (1 rows)" in message
    assert "synonyms" in message


def test_renames_are_reported() -> None:
    clean, report = prepare(
        data(["a b", "c d", "e f"], ["Cards", "cards", " FX "]), HealthConfig(min_class_count=0)
    )
    assert clean.labels == ["cards", "cards", "fx"]
    assert report.label_renames == {"Cards": "cards", " FX ": "fx"}


# -- configuration --------------------------------------------------------------------------


def test_config_from_json(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    path.write_text(json.dumps({"synonyms": {"forex": "fx"}, "allowed_labels": ["fx", "cards"]}))
    config = HealthConfig.from_json(path)
    assert config.synonyms == {"forex": "fx"}
    assert config.allowed_labels == ["fx", "cards"]
    assert config.min_class_count == 10


def test_config_with_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    path.write_text(json.dumps({"synonym": {"forex": "fx"}}))
    with pytest.raises(DataError, match=r"unknown keys \['synonym'\]; allowed: .*'synonyms'"):
        HealthConfig.from_json(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist; check the --config path"):
        HealthConfig.from_json(tmp_path / "none.json")


def test_bad_threshold_is_refused() -> None:
    with pytest.raises(DataError, match=r"near_duplicate_threshold 1.5 is outside \(0, 1\]"):
        HealthConfig(near_duplicate_threshold=1.5)


# -- entropy and verdicts -------------------------------------------------------------------


def test_uniform_distribution_has_entropy_ln_k() -> None:
    nats, normalised = shannon_entropy([25, 25, 25, 25])
    assert nats == pytest.approx(math.log(4))
    assert normalised == pytest.approx(1.0)


def test_skewed_distribution_entropy() -> None:
    nats, normalised = shannon_entropy([90, 10])
    expected = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert nats == pytest.approx(expected)
    assert normalised == pytest.approx(expected / math.log(2))
    assert shannon_entropy([7]) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        (1.0, "healthy"),
        (0.85, "healthy"),
        (0.8499, "modest"),
        (0.70, "modest"),
        (0.6999, "meaningful"),
        (0.50, "meaningful"),
        (0.4999, "severe"),
        (0.0, "severe"),
    ],
)
def test_verdict_boundaries(value: float, verdict: str) -> None:
    assert imbalance_verdict(value) == verdict


def test_report_counts_classes_entropy_and_small_classes() -> None:
    labels = ["a"] * 12 + ["b"] * 12 + ["c"] * 3 + ["d"] * 1
    texts = [sentence(i, words=5) for i in range(len(labels))]
    clean, report = prepare(data(texts, labels), HealthConfig())
    assert report.class_counts == {"a": 12, "b": 12, "c": 3, "d": 1}
    assert report.small_classes == ["d", "c"]
    assert report.entropy_nats == pytest.approx(shannon_entropy([12, 12, 3, 1])[0])
    assert report.verdict == imbalance_verdict(report.entropy_normalised)
    assert len(clean) == report.rows_out == 28


def test_severe_imbalance_refuses_training_unless_forced() -> None:
    labels = ["big"] * 200 + ["tiny"] * 2
    texts = [sentence(i, words=4) for i in range(len(labels))]
    _, report = prepare(data(texts, labels), HealthConfig())
    assert report.verdict == "severe"
    with pytest.raises(DataError, match=r"severely imbalanced.*unless --force"):
        refuse_if_severe(report)
    refuse_if_severe(report, force=True)


# -- duplicates, conflicts, empties ---------------------------------------------------------


def test_exact_duplicates_ignore_case_punctuation_and_spacing() -> None:
    texts = ["Where is my card?", "where is my  card", "WHERE IS MY CARD!!", "send money"]
    clean, report = prepare(data(texts, ["cards"] * 3 + ["transfers"]), HealthConfig())
    assert clean.texts == ["Where is my card?", "send money"]
    assert report.exact_duplicates == 2
    assert report.rows_in - report.rows_out == removed_rows(report) == 2


def test_conflicting_duplicates_keep_the_majority_label() -> None:
    texts = ["refund please", "Refund please!", "refund please", "lost card", "lost card", "fx"]
    labels = ["payments", "payments", "cards", "cards", "payments", "fx"]
    clean, report = prepare(data(texts, labels), HealthConfig(min_class_count=0))
    # "refund please": 2 payments vs 1 cards -> one payments row; "lost card": a tie -> dropped
    assert clean.texts == ["refund please", "fx"]
    assert clean.labels == ["payments", "fx"]
    assert report.conflicting_duplicates == 2
    assert report.conflict_rows_dropped == 4
    assert report.conflict_policy == "majority"
    assert "majority" in report.render()


def test_conflicting_duplicates_can_all_be_dropped() -> None:
    texts = ["refund please", "refund please", "refund please", "lost card", "fx rate"]
    labels = ["payments", "payments", "cards", "cards", "fx"]
    clean, report = prepare(
        data(texts, labels), HealthConfig(conflict_policy="drop", min_class_count=0)
    )
    assert clean.texts == ["lost card", "fx rate"]
    assert report.conflicting_duplicates == 1
    assert report.conflict_rows_dropped == 3
    assert report.rows_in - report.rows_out == removed_rows(report)


def test_near_duplicates_with_the_same_label_are_removed() -> None:
    base = sentence(1).split()
    edited = [*base[:30], "changed", *base[31:]]  # one word of 60: bigram Jaccard 57/61
    texts = [" ".join(base), sentence(2), " ".join(edited), sentence(3)]
    clean, report = prepare(data(texts, ["a", "b", "a", "b"]), HealthConfig(min_class_count=0))
    assert clean.texts == [texts[0], texts[1], texts[3]]
    assert report.near_duplicates == 1
    assert report.near_duplicate_conflicts == 0


def test_near_duplicates_with_different_labels_are_kept_and_counted() -> None:
    base = sentence(1).split()
    edited = " ".join([*base[:30], "changed", *base[31:]])
    texts = [" ".join(base), edited, sentence(2)]
    clean, report = prepare(data(texts, ["a", "b", "b"]), HealthConfig(min_class_count=0))
    assert len(clean) == 3
    assert report.near_duplicates == 0
    assert report.near_duplicate_conflicts == 1


def test_near_duplicate_threshold_is_respected() -> None:
    base = sentence(1).split()
    far = [*base[:20], *sentence(9, words=20).split(), *base[40:]]  # a third rewritten
    tokens = [base, far]
    assert near_duplicates(tokens, ["a", "a"], threshold=0.9) == (set(), 0)
    assert near_duplicates(tokens, ["a", "a"], threshold=0.4) == ({1}, 0)


def test_near_duplicates_scale_to_thousands_of_texts() -> None:
    texts = [sentence(i, words=30).split() for i in range(3000)]
    copies = [[*texts[i][:-1], "tail"] for i in range(0, 3000, 100)]  # 29 of 30 bigrams shared
    removed, conflicts = near_duplicates(
        texts + copies, ["x"] * (len(texts) + len(copies)), threshold=0.9
    )
    assert removed == set(range(3000, 3030))
    assert conflicts == 0


def test_texts_empty_after_cleaning_are_dropped_and_counted() -> None:
    texts = ["> only a quoted line", "  \u200b ", "lost card", "send money"]
    clean, report = prepare(data(texts, ["a", "a", "a", "b"]), HealthConfig(min_class_count=0))
    assert clean.texts == ["lost card", "send money"]
    assert report.empty_dropped == 2
    assert report.quoted_replies_stripped == 1


def test_too_few_classes_after_cleaning_is_an_error() -> None:
    with pytest.raises(DataError, match="only 1 rows in 1 class"):
        prepare(data(["lost card", "Lost card!", "lost card"], ["a", "a", "b"]), HealthConfig())


# -- redaction inside prepare ---------------------------------------------------------------


def test_pii_is_redacted_and_counted() -> None:
    texts = [
        "email me at jo@example.com about card 4111 1111 1111 1111",
        "call +44 7700 900123 about account number 12345678",
        "nothing personal here",
    ]
    clean, report = prepare(data(texts, ["a", "b", "b"]), HealthConfig(min_class_count=0))
    assert clean.texts[:2] == [
        "email me at [EMAIL] about card [CARD]",
        "call [PHONE] about account number [ACCOUNT]",
    ]
    assert report.redactions == {"email": 1, "phone": 1, "card": 1, "account": 1, "ssn": 0}


def test_redaction_can_be_turned_off() -> None:
    texts = ["email me at jo@example.com", "nothing here"]
    clean, report = prepare(data(texts, ["a", "b"]), HealthConfig(redact=False))
    assert clean.texts[0] == "email me at jo@example.com"
    assert sum(report.redactions.values()) == 0


def test_signatures_in_prepare_are_counted_and_report_renders() -> None:
    texts = ["my card is stuck\n\nSent from my iPhone", "send money please"]
    _, report = prepare(data(texts, ["a", "b"]), HealthConfig())
    assert report.signatures_stripped == 1
    rendered = report.render()
    assert "signatures stripped                1" in rendered
    assert "-> healthy" in rendered
    assert report.to_dict()["class_counts"] == {"a": 1, "b": 1}


def test_config_value_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    path.write_text(json.dumps({"min_class_count": "10"}))
    with pytest.raises(DataError, match="'min_class_count' = '10' should be int"):
        HealthConfig.from_json(path)

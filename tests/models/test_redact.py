"""PII redaction: each kind is replaced and counted; look-alike numbers are left alone."""

from __future__ import annotations

import pytest

from models.redact import luhn_ok, redact

NONE = {"email": 0, "phone": 0, "card": 0, "account": 0}


def counts(**found: int) -> dict[str, int]:
    return {**NONE, **found}


@pytest.mark.parametrize(
    ("text", "expected", "found"),
    [
        ("mail me at john.doe+bank@example.co.uk now", "mail me at [EMAIL] now", {"email": 1}),
        ("card 4111 1111 1111 1111 declined", "card [CARD] declined", {"card": 1}),
        ("card 4111-1111-1111-1111.", "card [CARD].", {"card": 1}),
        ("amex 378282246310005 and 5555555555554444", "amex [CARD] and [CARD]", {"card": 2}),
        ("call +44 7700 900123 today", "call [PHONE] today", {"phone": 1}),
        ("ring (555) 123-4567 or 555.123.4567", "ring [PHONE] or [PHONE]", {"phone": 2}),
        ("on 1-800-555-0199 or 07700900123", "on [PHONE] or [PHONE]", {"phone": 2}),
        ("my account number is 12345678", "my account number is [ACCOUNT]", {"account": 1}),
        ("acct #9876-5432-10 closed", "acct #[ACCOUNT] closed", {"account": 1}),
        ("IBAN GB82 WEST 1234 5698 7654 32 ok", "IBAN [ACCOUNT] ok", {"account": 1}),
        ("to DE89370400440532013000 please", "to [ACCOUNT] please", {"account": 1}),
    ],
)
def test_each_kind_is_replaced_and_counted(text: str, expected: str, found: dict[str, int]) -> None:
    result = redact(text)
    assert result.text == expected
    assert result.counts == counts(**found)


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112 is not a card",  # 16 digits, fails the Luhn check
        "paid $1,500.00 on 2023-01-15 and 12/05/2023, ref 123456",
        "charged 25.00 twice at 10.30, APR 867.4001 %",
        "see G.S. 14-113.13 and No. 00-15946, 1921 236 SW 153",
        "a transfer of 1 000 000 failed; account 12 was closed",
        "IBAN GB82 WEST 1234 5698 7654 33 is mistyped",  # mod-97 check fails
        "I have 2 cards and 3 accounts, XXXX XXXX",
    ],
)
def test_look_alikes_are_not_redacted(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.counts == NONE


def test_mixed_text_counts_every_kind() -> None:
    result = redact(
        "I'm a@b.io, card 4111 1111 1111 1111, account no. 12345678, phone +1 555 123 4567"
    )
    assert result.text == "I'm [EMAIL], card [CARD], account no. [ACCOUNT], phone [PHONE]"
    assert result.counts == counts(email=1, phone=1, card=1, account=1)


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112")

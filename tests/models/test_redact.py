"""PII redaction: each kind is replaced and counted; look-alike numbers are left alone."""

from __future__ import annotations

import os
import re
import string
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.redact import KINDS, luhn_ok, redact, redact_text

NONE = dict.fromkeys(KINDS, 0)


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


# -- the issue's formats ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "found"),
    [
        ("card 4111.1111.1111.1111 declined", "card [CARD] declined", {"card": 1}),
        ("card 4111\u00a01111\u00a01111\u00a01111 ok", "card [CARD] ok", {"card": 1}),
        ("card 4111\u2009-\u20091111 - 1111 - 1111.", "card [CARD].", {"card": 1}),
        ("4111 1111 1111 1111 123 exp 12/25", "[CARD] 123 exp 12/25", {"card": 1}),
        ("iban gb82 west 1234 5698 7654 32 ok", "iban [ACCOUNT] ok", {"account": 1}),
        (
            "to de89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000.",
            "to [ACCOUNT].",
            {"account": 1},
        ),
        ("DE 89 3704 0044 0532 0130 00 thanks", "[ACCOUNT] thanks", {"account": 1}),
        ("ssn 123-45-6789 and 123 45 6789", "ssn [SSN] and [SSN]", {"ssn": 2}),
        ("my social security number: 078051120", "my social security number: [SSN]", {"ssn": 1}),
        ("mail jöhn.doe@exämple.com", "mail [EMAIL]", {"email": 1}),
        ("ref 2231 555-123-4567", "ref 2231 [PHONE]", {"phone": 1}),
        ("call 555-1234 123-45-6789", "call [PHONE] [SSN]", {"phone": 1, "ssn": 1}),
        ("ring +44\u202f20\u202f7946\u202f0958", "ring [PHONE]", {"phone": 1}),
    ],
)
def test_issue_formats_are_replaced(text: str, expected: str, found: dict[str, int]) -> None:
    result = redact(text)
    assert result.text == expected
    assert result.counts == counts(**found)


@pytest.mark.parametrize(
    "text",
    [
        "ssn-like but not issued: 000-12-3456, 666-12-3456, 900-12-3456, 123-00-4567, 123-45-0000",
        "on 12.05.2023 10.30 and 15.06.2023 at 11.45",
        "ORD-2023-000123, #12345678, 1.234.567,89 EUR, v1.2.3.4, 10:30-11:45, zip 12345-6789",
        "iban gb82 west 1234 5698 7654 33 is mistyped",
        "page 123.45.6789 of the report",
    ],
)
def test_more_look_alikes_survive(text: str) -> None:
    assert redact(text).text == text


@pytest.mark.parametrize(
    ("text", "expected", "found"),
    [
        # A card and a phone next to each other are one run of digit groups; a Luhn-valid
        # window reaching into the phone ("0000 0000 7 100 100") must not beat card + phone.
        (" 3000 0000 0000 7   100 100 1000 ", " [CARD]   [PHONE] ", {"card": 1, "phone": 1}),
        ("4111 1111 1111 1111 555 123 4567", "[CARD] [PHONE]", {"card": 1, "phone": 1}),
        (
            "42370 436700 030   1\u00a0207\u00a0300\u00a07793",
            "[CARD]   [PHONE]",
            {"card": 1, "phone": 1},
        ),
        ("(793) 359 3500   3000000000007", "[PHONE]   [CARD]", {"card": 1, "phone": 1}),
        # "3404 3000 0000 0000" passes the Luhn check too; the "(100)" makes 100.3404 a phone.
        (" (100) 100.3404   3000 0000 0000 7 ", " [PHONE]   [CARD] ", {"card": 1, "phone": 1}),
        # Two phones whose digits together pass the Luhn check: a card would leave the "(933)".
        ("(933) 900\u20097389   546 678 6700", "[PHONE]   [PHONE]", {"phone": 2}),
        (
            "account no. 555 123 4567 4111 1111 1111 1111",
            "account no. [ACCOUNT] [CARD]",
            {"card": 1, "account": 1},
        ),
    ],
)
def test_card_next_to_phone(text: str, expected: str, found: dict[str, int]) -> None:
    result = redact(text)
    assert result.text == expected
    assert result.counts == counts(**found)


def test_redact_text_keeps_none() -> None:
    assert redact_text(None) is None
    assert redact_text("a@b.io") == "[EMAIL]"


# -- property-based: generated PII in generated text -----------------------------------------

#: CI runs the property tests derandomized (the same examples every run, no example database),
#: so a red build is the code's doing, not the draw's. ``REDACT_EXAMPLES=20000 pytest
#: tests/models/test_redact.py`` runs a larger randomized search (a new draw each run) for
#: looking for new bugs; a failure it finds belongs in the parametrized cases above.
_EXAMPLES = int(os.environ.get("REDACT_EXAMPLES", "0"))
PROPERTY = settings(
    max_examples=_EXAMPLES or 400,
    derandomize=not _EXAMPLES,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SPACES = [" ", "\u00a0", "\u2009", "\u202f", "\u2007", "\u3000", "\t"]
DASHES = ["-", "\u2010", "\u2011", "\u2013", "\u2212"]
CARD_SEPARATORS = [*SPACES, *DASHES, ".", " - ", "  ", "\u200b"]
PHONE_SEPARATORS = [" ", "-", ".", "\u00a0", "\u2009", "\u202f"]
#: Words around the PII: letters in several scripts and punctuation, never a digit or an "@",
#: so any digit (or "@") left in the output is a piece of PII that got through.
WORDS = st.text(
    alphabet=st.characters(
        categories=("Lu", "Ll", "Lo", "Po", "Ps", "Pe", "Sm", "Sc"),
        exclude_characters="@#-\u2010\u2011\u2012\u2013\u2014\u2015\u2212%+_",
    ),
    min_size=1,
    max_size=12,
).filter(lambda word: not any(char.isdigit() for char in word))
BOUNDARIES = st.sampled_from([" ", "\n", " (", ") ", ": ", ", ", ". ", "\u00a0", ' "', '" '])


def luhn_complete(payload: str) -> str:
    """``payload`` plus the check digit that makes it pass the Luhn check."""
    return payload + next(d for d in "0123456789" if luhn_ok(payload + d))


def grouped(draw: st.DrawFn, chars: str, separator: str, smallest: int = 1) -> str:
    """``chars`` cut into groups of ``smallest``-6 characters, joined by ``separator``."""
    groups, rest = [], chars
    while rest:
        size = draw(st.integers(smallest, 6))
        groups.append(rest[:size])
        rest = rest[size:]
    return separator.join(groups)


@st.composite
def cards(draw: st.DrawFn) -> str:
    length = draw(st.integers(13, 19))
    payload = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    number = luhn_complete(draw(st.sampled_from("3456")) + payload[1:])
    style = draw(st.sampled_from(["plain", "fours", "random"]))
    separator = draw(st.sampled_from(CARD_SEPARATORS))
    if style == "plain":
        return number
    if style == "fours":
        return separator.join(number[i : i + 4] for i in range(0, len(number), 4))
    return grouped(draw, number, separator, smallest=4)  # the last group may be shorter


IBAN_COUNTRIES = {"GB": 22, "DE": 22, "FR": 27, "NL": 18, "NO": 15, "BE": 16, "CH": 21, "MT": 31}


def iban_check_digits(country: str, bban: str) -> str:
    numeric = "".join(str(int(char, 36)) for char in bban + country + "00")
    return f"{98 - int(numeric) % 97:02d}"


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(IBAN_COUNTRIES)))
    size = IBAN_COUNTRIES[country] - 4
    # A bank code of up to four letters, then digits, sometimes a letter or two at the end.
    bank = draw(st.text(string.ascii_uppercase, max_size=4))
    tail = draw(st.text(string.ascii_uppercase + string.digits, max_size=2))
    bban = bank + draw(st.text(string.digits, min_size=size, max_size=size))
    bban = (bban[: size - len(tail)] + tail)[:size]
    iban = country + iban_check_digits(country, bban) + bban
    iban = "".join(c.lower() if draw(st.booleans()) else c for c in iban)
    separator = draw(st.sampled_from([*SPACES[:4], "-", ""]))
    head = iban[:2] + separator + iban[2:4] if draw(st.booleans()) else iban[:4]
    if draw(st.booleans()):
        body = separator.join(iban[i : i + 4] for i in range(4, len(iban), 4))
    else:
        body = grouped(draw, iban[4:], separator)
    return head + separator + body


@st.composite
def ssns(draw: st.DrawFn) -> str:
    area = draw(st.integers(1, 899).filter(lambda a: a != 666))
    group, serial = draw(st.integers(1, 99)), draw(st.integers(1, 9999))
    first, second = draw(st.sampled_from([*SPACES[:4], *DASHES])), draw(st.sampled_from("- "))
    return f"{area:03d}{first}{group:02d}{second}{serial:04d}"


@st.composite
def emails(draw: st.DrawFn) -> str:
    local_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-éü"
    local = draw(st.text(local_chars, min_size=1, max_size=20))
    labels = draw(
        st.lists(
            st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10),
            min_size=1,
            max_size=3,
        )
    )
    tld = draw(st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=6))
    return f"{local}@{'.'.join(labels)}.{tld}"


def digits(draw: st.DrawFn, n: int, *, first: str = "123456789") -> str:
    return draw(st.sampled_from(first)) + draw(
        st.text("0123456789", min_size=n - 1, max_size=n - 1)
    )


@st.composite
def phones(draw: st.DrawFn) -> str:
    sep = draw(st.sampled_from(PHONE_SEPARATORS))
    style = draw(st.sampled_from(["international", "nanp", "paren", "trunk", "local"]))
    if style == "international":
        country = digits(draw, draw(st.integers(1, 3)))
        groups = [digits(draw, draw(st.integers(1, 4)))]
        groups += [digits(draw, draw(st.integers(3, 4))) for _ in range(draw(st.integers(2, 3)))]
        while len(country + "".join(groups)) > 15:  # E.164: at most 15 digits
            groups.pop()
        return f"+{country}{sep}{sep.join(groups)}"
    if style == "nanp":
        number = f"{digits(draw, 3)}{sep}{digits(draw, 3)}{sep}{digits(draw, 4)}"
        return f"1{sep}{number}" if draw(st.booleans()) else number
    if style == "paren":
        return f"({digits(draw, 3)}) {digits(draw, 3)}{sep}{digits(draw, 4)}"
    if style == "trunk":
        return f"0{digits(draw, 4)}{sep}{digits(draw, draw(st.integers(5, 6)))}"
    return f"{digits(draw, 3)}-{digits(draw, 4)}"


PII = st.one_of(cards(), ibans(), ssns(), emails(), phones())


@st.composite
def texts_with_pii(draw: st.DrawFn) -> tuple[str, list[str]]:
    found = draw(st.lists(PII, min_size=1, max_size=4))
    pieces = []
    for item in found:
        pieces += [*draw(st.lists(WORDS, max_size=4)), draw(BOUNDARIES) + item + draw(BOUNDARIES)]
    pieces += draw(st.lists(WORDS, max_size=4))
    return " ".join(pieces), found


PLACEHOLDER = re.compile(r"\[[A-Z]+\]")


@PROPERTY
@given(texts_with_pii())
def test_generated_pii_never_survives(case: tuple[str, list[str]]) -> None:
    text, found = case
    out = redact(text).text
    assert not any(char.isdigit() for char in out), (text, out)
    assert "@" not in out, (text, out)
    # The placeholders' own letters are not PII: an email "-@-.ai" leaves "ai" in "[EMAIL]".
    letters = "".join(char for char in PLACEHOLDER.sub("", out) if char.isalnum()).lower()
    for item in found:
        assert item not in out, (text, out)
        compact = "".join(char for char in item if char.isalnum()).lower()
        assert compact not in letters, (text, out)


DATES = st.dates(date(1990, 1, 1), date(2040, 12, 31))
#: What a ticket says about money, time and orders; none of it is personal.
SAFE = st.one_of(
    st.builds("${:,}.{:02d}".format, st.integers(0, 10**7), st.integers(0, 99)),
    st.builds("{:,.2f} EUR".format, st.floats(0, 10**6, allow_nan=False)),
    DATES.map(lambda d: d.isoformat()),
    DATES.map(lambda d: d.strftime("%d/%m/%Y")),
    DATES.map(lambda d: d.strftime("%d.%m.%Y")),
    DATES.map(lambda d: d.strftime("%b %d, %Y")),
    st.times().map(lambda t: t.strftime("%H:%M")),
    st.builds("order #{}".format, st.integers(10**5, 10**10)),
    st.builds("ORD-{}-{:06d}".format, st.integers(2000, 2030), st.integers(0, 999999)),
    st.builds("ref {}".format, st.integers(0, 10**6)),
)


#: Words that name the number after them ("A/C 2000-01-01" reads as an account number, as
#: "account 2000-01-01" should) are left out here: that is the named-number rule, not a leak.
NOT_LEADS = WORDS.filter(
    lambda word: not re.search(r"acc|a/c|iban|rout|ss|social", word, re.IGNORECASE)
)


@PROPERTY
@given(st.lists(st.one_of(NOT_LEADS, SAFE), min_size=1, max_size=12))
def test_amounts_dates_and_order_numbers_survive(pieces: list[str]) -> None:
    text = " ".join(pieces)
    assert redact(text).text == text

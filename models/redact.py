"""PII redaction: emails, phone numbers, card numbers and account numbers become placeholders.

Tickets are stored, trained on and shown to reviewers; personal data must not travel that far.
The patterns lean towards precision on the numbers that matter: a digit run is a card only if it
passes the Luhn check, an IBAN only if its mod-97 check holds, and a bare number is an account
number only when the text calls it one, so order numbers, amounts and dates survive. Placeholders
are fixed tokens, so the classifier sees "[CARD]" consistently in training and in production.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

KINDS = ("email", "phone", "card", "account")
PLACEHOLDERS = {kind: f"[{kind.upper()}]" for kind in KINDS}

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# 13-19 digits, optionally grouped by single spaces or dashes, not glued to more digits
# (the look-behinds come after the first digit so `re` can skip straight to digits).
_CARD = re.compile(r"\d(?<!\d\d)(?<!\d[ -]\d)(?:[ -]?\d){12,18}(?![ -]?\d)")
_IBAN = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]){11,30}\b")
_ACCOUNT = re.compile(
    r"(?P<lead>\b(?:account|acct|a/c|iban|routing)\.?"
    r"(?:\s*(?:number|num|no\.?|nr\.?|#))?\s*(?:is|:|#|-)?\s*)"
    r"(?P<number>\d(?:[ -]?\d){5,19})(?![ -]?\d)",
    re.IGNORECASE,
)
# Optional +country code, optional (area code), then digit groups split by space, dot or dash;
# or an unbroken run of 9-14 digits (+447700900123, 07700900123). Each branch starts with its
# first character and only then looks behind: a leading look-behind would make `re` try every
# position of every text, which is most of the cost of redaction.
_PHONE = re.compile(
    r"(?:\+(?<![\w+]\+)(?:\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,5}(?:[ .-]\d{2,6}){1,4}|\d{9,14})"
    r"|\((?<![\w+]\()\d{1,4}\)[ .-]?\d{1,5}(?:[ .-]\d{2,6}){1,4}"
    r"|\d(?<![\w+]\d)(?:\d{0,4}(?:[ .-]\d{2,6}){1,4}|\d{8,13}))"
    r"(?![\w-])"
)
# Every number worth redacting has at least six digits close together; most texts have none.
_NUMBERISH = re.compile(r"\d(?:[ ().+-]{0,2}\d){5}")
_DATE = re.compile(r"\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")


@dataclass(frozen=True)
class Redaction:
    """The redacted text and how many of each kind were replaced."""

    text: str
    counts: dict[str, int]


def redact(text: str) -> Redaction:
    """Replace emails, card numbers, account numbers/IBANs and phone numbers with placeholders."""
    counts = dict.fromkeys(KINDS, 0)
    if "@" in text:
        text = _replace(_EMAIL, text, "email", counts, lambda _m: True)
    if _NUMBERISH.search(text):
        text = _replace(_IBAN, text, "account", counts, lambda m: _iban_ok(m.group()))
        text = _replace(_CARD, text, "card", counts, lambda m: luhn_ok(_digits(m.group())))
        text = _replace_account_numbers(text, counts)
        text = _replace(_PHONE, text, "phone", counts, lambda m: _phone_ok(m.group()))
    return Redaction(text=text, counts=counts)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number carries."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _replace(
    pattern: re.Pattern[str],
    text: str,
    kind: str,
    counts: dict[str, int],
    accept: Callable[[re.Match[str]], bool],
) -> str:
    def substitute(match: re.Match[str]) -> str:
        if not accept(match):
            return match.group()
        counts[kind] += 1
        return PLACEHOLDERS[kind]

    return pattern.sub(substitute, text)


def _replace_account_numbers(text: str, counts: dict[str, int]) -> str:
    def substitute(match: re.Match[str]) -> str:
        counts["account"] += 1
        return match.group("lead") + PLACEHOLDERS["account"]

    return _ACCOUNT.sub(substitute, text)


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def _iban_ok(candidate: str) -> bool:
    iban = candidate.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _phone_ok(candidate: str) -> bool:
    digits = _digits(candidate)
    if not 7 <= len(digits) <= 15 or _DATE.fullmatch(candidate):
        return False
    if candidate.startswith(("+", "(")):
        return True
    if candidate.startswith("0"):  # trunk prefix: a national number has 10-11 digits
        return len(digits) in (10, 11)
    # No prefix: only the shapes of North American numbers (555-123-4567, 1 555 123 4567,
    # 555-1234), so amounts, statute numbers and citations are left alone.
    groups = tuple(len(group) for group in re.split(r"[ .-]", candidate))
    if groups == (3, 4):
        return "." not in candidate  # 867.4001 is a number, not a phone
    return groups in ((3, 3, 4), (1, 3, 3, 4))

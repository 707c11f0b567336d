"""PII redaction: emails, phone numbers, card numbers, account numbers/IBANs and US social
security numbers become placeholders.

Tickets are stored, trained on and shown to reviewers; personal data must not travel that far.
People type numbers however they like (``4111.1111.1111.1111``, a no-break space between groups,
a lowercase IBAN), so separators are any dash, dot or Unicode space, and letters any case. The
patterns still lean towards precision on the numbers that matter: a digit run is a card only if
it passes the Luhn check, an IBAN only if its mod-97 check (and its country's length) holds, an
SSN only if its area, group and serial can be issued, and a bare number is an account number only
when the text calls it one, so order numbers, amounts and dates survive. Placeholders are fixed
tokens, so the classifier sees "[CARD]" consistently in training and in production.

Speed matters (every ticket passes here): every numeric pattern starts with a digit so ``re`` can
skip to the digits, and they all run only when the text has six digits close together.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from models.pii_patterns import (
    ALNUM,
    AREA_CODE,
    CARD_GROUP_MAX,
    CARD_RUN,
    DASH,
    DASH_RUN,
    DATE,
    EMAIL,
    GROUPS,
    IBAN,
    IBAN_LENGTHS,
    LEAD,
    LEAD_WINDOW,
    LEAD_WORDS,
    LETTER_VALUES,
    NAMED_NUMBER,
    NOT_ALNUM,
    NOT_DIGIT,
    NUMBERISH,
    PHONE,
    PHONE_SHAPES,
    PHONE_SPLIT,
    PLUS_PHONE,
    SPACE_RUN,
    SSN,
)

KINDS = ("email", "phone", "card", "account", "ssn")
PLACEHOLDERS = {kind: f"[{kind.upper()}]" for kind in KINDS}


@dataclass(frozen=True)
class Redaction:
    """The redacted text and how many of each kind were replaced."""

    text: str
    counts: dict[str, int]


def redact(text: str) -> Redaction:
    """Replace emails, IBANs, SSNs, international phone numbers, cards, named account/social
    security numbers and other phone numbers with placeholders, in that order: the stricter
    shapes claim a number first (no card is written in 3-2-4 groups or after a "+", and an SSN
    next to another number must not become part of a "card" found across both)."""
    counts = dict.fromkeys(KINDS, 0)
    if "@" in text:
        text = _replace(EMAIL, text, "email", counts, lambda _m: True)
    if NUMBERISH.search(text):
        text = _replace_ibans(text, counts)
        text = _replace(SSN, text, "ssn", counts, _ssn_ok)
        text = PLUS_PHONE.sub(lambda m: _redact_phone(m.group(), counts), text)
        text = CARD_RUN.sub(lambda m: _redact_card_run(m, counts), text)
        text = _replace_named_numbers(text, counts)
        text = PHONE.sub(lambda m: _redact_phone(m.group(), counts), text)
    return Redaction(text=text, counts=counts)


def redact_text(text: str | None) -> str | None:
    """Redacted ``text``, or None: for optional fields (a subject, a reviewer's note)."""
    return None if text is None else redact(text).text


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


def _replace_named_numbers(text: str, counts: dict[str, int]) -> str:
    """Numbers the text calls an account, IBAN, routing or social security number; the words
    stay, for context. Any such number counts: the text says what it is."""
    pieces: list[str] = []
    done = 0
    for match in NAMED_NUMBER.finditer(text):
        start = match.start()
        window = max(done, start - LEAD_WINDOW)
        before = text[window:start].lower()
        if not any(word in before for word in LEAD_WORDS):
            continue  # cheaper than LEAD's search at every position of the window
        lead = LEAD.search(text, window, start)
        if lead is None:
            continue
        kind = "ssn" if lead.group("word")[0] in "sS" else "account"
        pieces += [text[done:start], PLACEHOLDERS[kind]]
        counts[kind] += 1
        done = match.end()
    return "".join(pieces) + text[done:] if pieces else text


def _redact_card_run(match: re.Match[str], counts: dict[str, int]) -> str:
    """The cards inside one run of digit groups. The run may hold more than a card (a CVV, an
    expiry, an order number, a phone or a second card typed next to it), so the stretches of
    whole groups of 13-19 digits that pass the Luhn check, one group or several of at most six
    digits joined by one kind of separator, are chosen to cover as many digits as possible,
    together with the phone numbers next to them (see _run_windows)."""
    run = match.group()
    parts = GROUPS.findall(run)  # digits, separator, digits, ...
    digits = parts[::2]
    whole = "".join(digits)
    if (
        len(whole) <= 19
        and len(set(parts[1::2])) <= 1
        and (len(digits) == 1 or max(map(len, digits)) <= CARD_GROUP_MAX)
        and luhn_ok(whole)
    ):  # the usual case: the run is one card
        counts["card"] += 1
        return PLACEHOLDERS["card"]
    area = AREA_CODE.search(match.string, max(0, match.start() - 8), match.start())
    cards = _card_windows(parts, area.group() if area else "")
    if not cards:
        return run
    out: list[str] = []
    i = 0
    while i < len(digits):
        end = cards.get(i)
        if end is None:
            out.append(digits[i])
            end = i + 1
        else:
            counts["card"] += 1
            out.append(PLACEHOLDERS["card"])
        if end < len(digits):
            out.append(parts[2 * end - 1])
        i = end
    return "".join(out)


def _card_windows(parts: list[str], area: str = "") -> dict[int, int]:
    """Start group -> end group (exclusive) of the cards that, with the phones the cards leave
    whole, cover the most digits of a run (dynamic programming over the groups, from the last
    one back).

    Phones count because a card typed next to a phone (``3000 0000 0000 7   100 100 1000``)
    makes one run, and a Luhn-valid window reaching into the phone (``0000 0000 7 100 100``, 15
    digits) covers more digits than the card alone (13) while leaving a piece of each behind:
    card plus phone covers all 23. The phones are only counted, not replaced: the phone pass
    replaces them later with what is around them (the "(555)" of ``(555) 123 4567``, a lead
    that makes it an account number). So a phone here is a stretch that pass would take: the
    PHONE shape, _phone_ok, and no dash right after it; ``area`` is the "(555) " just before
    the run, which belongs to a phone at its start. On a tie, more card digits win."""
    digits = parts[::2]
    n = len(digits)
    card_ends = _card_ends(parts)
    if not any(card_ends):
        return {}
    # The area code's digits count for a phone at the start: a card there would leave them.
    area_digits = len(_digits(area))
    # (digits covered, card digits) of the best choice within groups[i:]
    best: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    choice: list[tuple[int, bool] | None] = [None] * (n + 1)  # (end, is a card)
    for i in range(n - 1, -1, -1):
        best[i] = best[i + 1]
        for end in card_ends[i]:
            size = sum(map(len, digits[i:end]))
            score = (size + best[end][0], size + best[end][1])
            if score > best[i]:
                best[i], choice[i] = score, (end, True)
        lead = "" if i else area
        if not lead and digits[i][0] != "0" and len(digits[i]) not in (1, 3):
            continue  # no phone starts here (see PHONE_SHAPES)
        size = 0
        shape: tuple[int, ...] = ()
        for j in range(i, min(n, i + 5)):
            size += len(digits[j])
            shape += (len(digits[j]),)
            if size > 15:  # E.164
                break
            if j + 1 < n and DASH.match(parts[2 * j + 1]):
                continue  # "555-123-4567-9999": the phone pass would not take it
            if _phone_in_run(parts, i, j, shape, lead):
                score = (size + area_digits * bool(lead) + best[j + 1][0], best[j + 1][1])
                if score > best[i]:
                    best[i], choice[i] = score, (j + 1, False)
    return _chosen_cards(choice, n)


def _card_ends(parts: list[str]) -> list[list[int]]:
    """For each group of a run, the end groups (exclusive) of the Luhn-valid cards starting
    there: 13-19 digits, one kind of separator, no group longer than a card's."""
    digits = parts[::2]
    kinds = [_separator_kind(sep) for sep in parts[1::2]]
    n = len(digits)
    card_ends: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        number = ""
        for j in range(i, n):
            if j > i and kinds[j - 1] != kinds[i]:
                break
            if j > i and max(len(digits[i]), len(digits[j])) > CARD_GROUP_MAX:
                break  # "order 667699510 2002-01-01" is two numbers, not a grouped card
            number += digits[j]
            if len(number) > 19:
                break
            if len(number) >= 13 and luhn_ok(number):
                card_ends[i].append(j + 1)
    return card_ends


def _chosen_cards(choice: list[tuple[int, bool] | None], n: int) -> dict[int, int]:
    """Walk the best choice from the first group: the cards it takes, start -> end."""
    cards: dict[int, int] = {}
    i = 0
    while i < n:
        window = choice[i]
        if window is None:
            i += 1
        else:
            end, card = window
            if card:
                cards[i] = end
            i = end
    return cards


def _phone_in_run(parts: list[str], i: int, j: int, shape: tuple[int, ...], lead: str) -> bool:
    """Whether groups i to j (inclusive) of a run, after ``lead``, are a phone that the phone
    pass would take: what PHONE and _phone_ok come to, with cheap tests first."""
    if lead or parts[2 * i][0] == "0":
        if not lead and not 10 <= sum(shape) <= 11:
            return False  # the length of a national number with its trunk prefix
        phone = lead + "".join(parts[2 * i : 2 * j + 1])
        return bool(PHONE.fullmatch(phone)) and _phone_ok(phone)
    if shape not in PHONE_SHAPES:
        return False
    # These shapes are never a date, and PHONE takes them with one separator character
    # between groups; a dot alone makes 867.4001 a number.
    seps = parts[2 * i + 1 : 2 * j + 1 : 2]
    return all(len(sep) == 1 for sep in seps) and (len(seps) > 1 or seps[0] != ".")


def _separator_kind(separator: str) -> str:
    """Spaces (any number, any kind) are one kind, any dash another: ``4111 - 1111`` is grouped
    like ``4111-1111``, while ``12.05.2023 10.30`` mixes kinds and is not one number."""
    return DASH_RUN.sub("-", SPACE_RUN.sub("", separator)) or " "


def _replace_ibans(text: str, counts: dict[str, int]) -> str:
    pieces: list[str] = []
    done = 0
    for match in IBAN.finditer(text):
        spaced = not text[match.start() - 1].isalpha()
        start = match.start() - (3 if spaced else 2)
        if start < done or (spaced and text[start : start + 2].upper() not in IBAN_LENGTHS):
            continue  # "DE 89 ...", but not any two-letter word before a number
        end = _iban_end(text[start : match.end()])
        if end is None:
            continue
        pieces += [text[done:start], PLACEHOLDERS["account"]]
        counts["account"] += 1
        done = start + end
    return "".join(pieces) + text[done:] if pieces else text


def _iban_end(candidate: str) -> int | None:
    """Where the IBAN at the start of ``candidate`` ends (an index into it), or None.

    A country with a known length gives exactly one place to check; otherwise every group
    boundary is tried, longest first.
    """
    ends = [match.end() for match in ALNUM.finditer(candidate)]
    length = IBAN_LENGTHS.get(candidate[:2].upper())
    if length is not None:
        tries = [length] if length <= len(ends) else []
    else:
        boundaries = {match.start() for match in NOT_ALNUM.finditer(candidate)}
        tries = [n for n, end in enumerate(ends, 1) if end in boundaries or end == len(candidate)]
        tries = [n for n in reversed(tries) if 15 <= n <= 34]
    compact = NOT_ALNUM.sub("", candidate).upper()
    for n in tries:
        if _mod97_ok(compact[:n]):
            return ends[n - 1]
    return None


def _mod97_ok(iban: str) -> bool:
    return int((iban[4:] + iban[:4]).translate(LETTER_VALUES)) % 97 == 1


def _ssn_ok(match: re.Match[str]) -> bool:
    """Numbers the SSA never issues: area 000, 666 or 900-999, group 00, serial 0000."""
    digits = _digits(match.group())
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _redact_phone(candidate: str, counts: dict[str, int]) -> str:
    """The phone numbers in one candidate: the whole, or else its longest stretches of
    space-separated chunks that are phones, so a number typed next to a phone
    (``ref 2231 555-123-4567``, ``555-1234 123-45-6789``) does not hide it. Only spaces split:
    inside ``12.05.2023`` a dot does not start a new number."""
    if _phone_ok(candidate):
        counts["phone"] += 1
        return PLACEHOLDERS["phone"]
    parts = SPACE_RUN.split(candidate)
    if len(parts) == 1:
        return candidate
    spaces = SPACE_RUN.findall(candidate)
    out: list[str] = []
    i = 0
    while i < len(parts):
        end = next(
            (j for j in range(len(parts), i, -1) if _phone_ok(_join(parts, spaces, i, j))), None
        )
        if end is None:
            out.append(parts[i])
            end = i + 1
        else:
            counts["phone"] += 1
            out.append(PLACEHOLDERS["phone"])
        if end < len(parts):
            out.append(spaces[end - 1])
        i = end
    return "".join(out)


def _join(parts: list[str], spaces: list[str], start: int, end: int) -> str:
    pieces = [parts[start]]
    for k in range(start + 1, end):
        pieces += [spaces[k - 1], parts[k]]
    return "".join(pieces)


def _digits(text: str) -> str:
    return NOT_DIGIT.sub("", text)


def _phone_ok(candidate: str) -> bool:
    digits = _digits(candidate)
    if not 7 <= len(digits) <= 15 or DATE.match(candidate):
        return False
    if candidate.startswith(("+", "(")):
        return True
    groups = tuple(len(group) for group in PHONE_SPLIT.split(candidate))
    if candidate.startswith("0"):
        # Trunk prefix: a national number has 10-11 digits, starts with 0 plus an area code
        # (07700 900123, 06 12 34 56 78) and keeps one separator: "0.00 2000-01-01" is not one.
        kinds = {_separator_kind(sep) for sep in PHONE_SPLIT.findall(candidate)}
        return len(digits) in (10, 11) and groups[0] >= 2 and len(kinds) <= 1
    # No prefix: only the shapes of North American numbers (555-123-4567, 1 555 123 4567,
    # 555-1234), so amounts, statute numbers and citations are left alone.
    if groups == (3, 4):
        return "." not in candidate  # 867.4001 is a number, not a phone
    return groups in ((3, 3, 4), (1, 3, 3, 4))

"""The shapes PII takes in a ticket, as the patterns :mod:`models.redact` matches.

People type numbers however they like, so separators are any dash, dot or Unicode space, and
every numeric pattern starts with a digit so ``re`` can skip straight to the digits (a leading
look-behind would make it try every position of every text). What a match must also satisfy
(Luhn, mod-97, an issuable SSN) is decided in :mod:`models.redact`.
"""

from __future__ import annotations

import re
import string

#: Spaces people (and word processors) put between digit groups: ASCII, no-break, thin, figure,
#: ideographic; the invisible ones (zero-width, word joiner, soft hyphen, BOM) too, since a copy
#: from a PDF or a chat app carries them and they hide a number from a plain pattern.
SPACES = " \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u200b-\u200d\u2060\ufeff\u00ad\u180e"
DASHES = r"\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"
SEP = f"[{SPACES}{DASHES}.]"  # between card digit groups
GAP = f"[{SPACES}{DASHES}]"  # between SSN and IBAN groups: a dot there is an amount

EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
# A maximal run of 13+ digits with up to three separator characters between digits; which part
# of it is a card is decided in Python (see _redact_card_run). The look-behinds come after the first
# digit so `re` can skip straight to digits; they make the run start where the digits start.
CARD_RUN = re.compile(
    rf"\d(?<!\d\d)(?<!\d{SEP}\d)(?<!\d{SEP}{{2}}\d)(?<!\d{SEP}{{3}}\d)"
    rf"(?:{SEP}{{0,3}}\d){{12,}}"
)
GROUPS = re.compile(rf"\d+|{SEP}+")
CARD_GROUP_MAX = 6  # a grouped card is written 4-4-4-4, 4-6-5, ...: no group is longer
SPACE_RUN = re.compile(f"[{SPACES}]+")
DASH_RUN = re.compile(f"[{DASHES}]+")
DASH = re.compile(f"[{DASHES}]")
PHONE_SHAPES = ((3, 4), (3, 3, 4), (1, 3, 3, 4))  # group sizes _phone_ok takes without a 0
# The area code of a phone written "(555) 123 4567", just before a run of digit groups.
AREA_CODE = re.compile(rf"\((?<![\w+]\()\d{{1,4}}\){SEP}?\Z")
# The check digits of an IBAN, right after (or one space after) a two-letter country code at a
# word start; the country code is added back in _replace_ibans (anchoring on a digit keeps the
# scan fast).
IBAN = re.compile(
    rf"\d(?:(?<=[A-Za-z]{{2}}\d)(?<!\w[A-Za-z]{{2}}\d)|(?<=[A-Za-z]{{2}}{GAP}\d)"
    rf"(?<!\w[A-Za-z]{{2}}{GAP}\d))\d(?:{GAP}?[A-Za-z0-9]){{11,30}}"
)
# 123-45-6789 or 123 45 6789, not glued to other digits, not the tail of a phone (+1 123 45 6789)
SSN = re.compile(
    rf"\d(?<![\w+{DASHES}]\d)(?<!\d[.,]\d)(?<!\+\d{GAP}\d)(?<!\+\d\d{GAP}\d)"
    rf"(?<!\+\d{{3}}{GAP}\d)\d\d{GAP}\d\d{GAP}\d{{4}}"
    rf"(?![\w{DASHES}]|[.,]\d)"
)
# A number the text names: "account no. 12345678", "SSN: 123456789". Found digits first (fast),
# then the words just before it are checked (LEAD), instead of scanning every word for a lead.
NAMED_NUMBER = re.compile(rf"\d(?<!\d\d)(?<!\d{GAP}\d)(?:{GAP}?\d){{5,19}}(?!{GAP}?\d)")
LEAD = re.compile(
    r"\b(?P<word>account|acct|a/c|iban|routing|ssn|ss#|social\s+security)\.?"
    r"(?:\s*(?:number|num|no\.?|nr\.?|#))?\s*(?:is|:|#|-)?\s*\Z",
    re.IGNORECASE,
)
LEAD_WINDOW = 48
LEAD_WORDS = ("acc", "a/c", "iban", "rout", "ss", "social")
ALNUM = re.compile("[A-Za-z0-9]")
NOT_ALNUM = re.compile("[^A-Za-z0-9]")
NOT_DIGIT = re.compile(r"\D")
LETTER_VALUES = str.maketrans({letter: str(ord(letter) - 55) for letter in string.ascii_uppercase})
# Optional +country code, optional (area code), then digit groups split by space, dot or dash;
# or an unbroken run of 9-14 digits (+447700900123, 07700900123). Each branch starts with its
# first character and only then looks behind: a leading look-behind would make `re` try every
# position of every text, which is most of the cost of redaction.
PHONE = re.compile(
    rf"(?:\+(?<![\w+]\+)(?:\d{{1,3}}{SEP}?(?:\(\d{{1,4}}\){SEP}?)?\d{{1,5}}(?:{SEP}\d{{2,6}}){{1,4}}"
    rf"|\d{{9,14}})"
    rf"|\((?<![\w+]\()\d{{1,4}}\){SEP}?\d{{1,5}}(?:{SEP}\d{{2,6}}){{1,4}}"
    rf"|\d(?<![\w+]\d)(?:\d{{0,4}}(?:{SEP}\d{{2,6}}){{1,4}}|\d{{8,13}}))"
    r"(?![\w-])"
)
# International numbers alone, claimed before cards: "+1 541 200 4597 920" is a phone even when
# its digits after the country code happen to pass the Luhn check.
PLUS_PHONE = re.compile(
    rf"\+(?<![\w+]\+)\d{{1,3}}{SEP}?(?:\(\d{{1,4}}\){SEP}?)?\d{{1,5}}(?:{SEP}\d{{2,6}}){{1,4}}(?![\w-])"
)
PHONE_SPLIT = re.compile(f"{SEP}+")
# Every number worth redacting has at least six digits close together, or is an IBAN (two
# letters, two digits, then more digits within five characters); most texts have neither.
NUMBERISH = re.compile(
    rf"\d(?:(?:[{SPACES}{DASHES}().+]{{0,3}}\d){{5}}"
    rf"|(?:(?<=[A-Za-z]{{2}}\d)|(?<=[A-Za-z]{{2}}{GAP}\d))\d(?:{GAP}?[A-Za-z0-9]){{4}}{GAP}?\d)"
)
# A date at the start of a candidate phone (``01.01.2000 10,000.00``): not a phone.
DATE = re.compile(r"(?:\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})(?!\d)")

#: IBAN length by country (the SWIFT registry): the check then covers exactly the IBAN, not a
#: word typed after it. Countries not listed are accepted at any group boundary.
# fmt: off
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}
# fmt: on

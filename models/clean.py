"""Text clean-up shared by training and inference: the model never sees a form it wasn't trained
on. E-mail exports carry quoted replies, signatures, mojibake and invisible characters; all of it
is noise longer than the request. Inference (every ticket the worker scores) imports only this
module, not the rest of data health.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_MOJIBAKE = re.compile(
    "[ÃÂâ][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u0192\u02c6\u02dc\u2013-\u2122]"
)
_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2060\ufeff]"
)
# After NFKC every exotic space is U+0020; only runs and tabs are left to fold.
_INLINE_SPACE = re.compile(r"[ \t]{2,}|\t")
_NEWLINE_MARKS = ("\r", "\u2028", "\u2029", "\x85")
_NEWLINES = re.compile("\r\n?|[\u2028\u2029\x85]")
_BLANK_LINES = re.compile(r"\n{3,}")
_QUOTE_HEADERS = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:original message|forwarded message)[ \t]*-{2,}[ \t]*$"
    r"|^[ \t]*On\b[^\n]{0,300}(?:\n[^\n]{0,300})?\bwrote:[ \t]*$"
    r"|^[ \t]*From:[^\n]+\n[ \t]*(?:Sent|Date):",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTED_LINE = re.compile(r"^[ \t]*>[^\n]*(?:\n|$)", re.MULTILINE)
_SIGNATURE_DELIMITER = re.compile(r"^--[ \t]?$", re.MULTILINE)
_SENT_FROM = re.compile(
    r"^[ \t]*(?:sent from my [^\n]{1,40}|sent from (?:mail|outlook|yahoo mail)[^\n]{0,40}"
    r"|get outlook for [^\n]{1,30})[ \t]*$\n?",
    re.IGNORECASE | re.MULTILINE,
)
_CLOSING = re.compile(
    r"^[ \t]*(?:(?:best|kind|warm|warmest|many)[ \t]+(?:regards|wishes|thanks)|regards|best"
    r"|thanks(?: again| so much| in advance)?|thank you(?: in advance| again)?|cheers|sincerely"
    r"|yours (?:truly|sincerely|faithfully)|respectfully)[ \t]*[,.!]*[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_SIGNOFF_MAX_LINES = 4
_SIGNOFF_MAX_CHARS = 60
_RULE_LINE = re.compile(r"[ \t]*[-_=*]{3,}[ \t]*")


@dataclass(frozen=True)
class Cleaned:
    text: str
    quoted_reply: bool
    signature: bool


def clean_text(text: str) -> str:
    """Clean-up shared by training and inference, so the model never sees a form it wasn't
    trained on: repaired encoding, NFKC, no control characters, no quoted replies or signatures,
    tidy whitespace."""
    return clean(text).text


def clean(text: str) -> Cleaned:
    text = _repair_mojibake(text)
    text = unicodedata.normalize("NFKC", text)
    if any(mark in text for mark in _NEWLINE_MARKS):
        text = _NEWLINES.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text, quoted = _strip_quoted_reply(text)
    text, signed = _strip_signature(text)
    text = _INLINE_SPACE.sub(" ", text).replace(" \n", "\n").replace("\n ", "\n")
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return Cleaned(text=text.strip(), quoted_reply=quoted, signature=signed)


def _repair_mojibake(text: str) -> str:
    """Undo UTF-8 that was decoded as Windows-1252 ("donâ€™t" -> "don’t"), only when the
    round trip is lossless, so genuine accented text is never touched."""
    if not _MOJIBAKE.search(text):
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _strip_quoted_reply(text: str) -> tuple[str, bool]:
    stripped = False
    header = _QUOTE_HEADERS.search(text) if ":" in text or "--" in text else None
    if header:
        text, stripped = text[: header.start()], True
    without_quotes = _QUOTED_LINE.sub("", text) if ">" in text else text
    return without_quotes, stripped or without_quotes != text


def _strip_trailing_rules(text: str) -> str:
    """Drop "_____" or "-----" lines left at the end once a reply or signature is cut."""
    while True:
        head, _, last = text.rpartition("\n")
        if not head or not _RULE_LINE.fullmatch(last):
            return text
        text = head.rstrip()


def _strip_signature(text: str) -> tuple[str, bool]:
    if "\n" not in text:  # every signature form sits on lines of its own
        return text, False
    stripped = False
    delimiter = _SIGNATURE_DELIMITER.search(text)
    if delimiter:
        text, stripped = text[: delimiter.start()], True
    without_sent_from = _SENT_FROM.sub("", text)
    stripped = stripped or without_sent_from != text
    text = _strip_trailing_rules(without_sent_from.rstrip())
    # "Best regards,\nName\nTitle" at the end: the closing line, then only a few short lines.
    closings = list(_CLOSING.finditer(text))
    if closings:
        last = closings[-1]
        tail = text[last.end() :].strip("\n").split("\n") if text[last.end() :].strip() else []
        short_tail = len(tail) <= _SIGNOFF_MAX_LINES and all(
            len(line.strip()) <= _SIGNOFF_MAX_CHARS for line in tail
        )
        if short_tail and text[: last.start()].strip():
            text, stripped = text[: last.start()], True
    return text, stripped

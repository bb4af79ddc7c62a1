"""Evidence-derived text (file and folder names, archive member names, messages quoting them)
shown safely: on a terminal, and in Markdown meant for a platform or a court.

A suspect names the files. A name may hold control characters (ESC and OSC sequences that
re-colour, retitle or hyperlink the terminal), Rich markup (``[/]``, ``[link=...]``), or
Markdown and HTML (a backtick, ``|``, a newline and ``## ...``, ``<img onerror=...>``).

- ``control_escaped``: every control character (C0, DEL, C1), line and paragraph separator and
  bidirectional override is written as ``\\xNN`` / ``\\uNNNN``, so what is shown is one line
  that reads in its real order.
- ``markdown_escaped``: that, then every character Markdown or HTML gives a meaning to is
  backslash-escaped (CommonMark: any ASCII punctuation may be), so the text renders as the
  literal characters and never as a heading, a table cell, code or HTML.

The terminal form with Rich markup escaped is ``cli_common.shown``.
"""

from __future__ import annotations

import re

# bidirectional embeddings, overrides and isolates, marks, and line/paragraph separators
_INVISIBLE = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]")
# ASCII punctuation that Markdown (CommonMark, GFM tables and strikethrough) or HTML read as
# syntax anywhere in a line; escaping the rest of the punctuation is allowed but only adds noise
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#!|~&])")
# what is syntax only at the start of a line (list items, setext underlines)
_LEADING = re.compile(r"^([-+=]|\d+[.)])")


def _code(match: re.Match[str]) -> str:
    point = ord(match.group(0))
    return f"\\x{point:02x}" if point <= 0xFF else f"\\u{point:04x}"


def control_escaped(text: str) -> str:
    """``text`` with control and direction characters shown as ``\\xNN`` / ``\\uNNNN``."""
    return _CONTROL.sub(_code, text)


def markdown_escaped(text: str) -> str:
    """``text`` as literal characters in Markdown, inline (a table cell, a list item, a line):
    control characters shown as ``\\xNN``, Markdown/HTML punctuation backslash-escaped."""
    escaped = _MARKDOWN.sub(r"\\\1", control_escaped(text))
    return _LEADING.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], escaped, count=1)


# what a spreadsheet reads as the start of a formula (CSV injection: ``=HYPERLINK(...)``)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs: a leading ``'`` before a
    formula start (OWASP's advice), the rest unchanged."""
    return "'" + text if text.startswith(FORMULA_START) else text


__all__ = ["FORMULA_START", "control_escaped", "markdown_escaped", "spreadsheet_safe"]

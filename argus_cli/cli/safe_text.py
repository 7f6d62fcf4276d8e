"""Text from outside argus, made safe to show on a terminal.

A server (or a file planted in the runtime directory) controls error messages,
close reasons, connection ids, symbol names and stats values. Written raw, an
``ESC`` starts a terminal escape sequence: a title change, an OSC 52 clipboard
write, an OSC 8 link, a screen clear; C1 controls (U+0080-U+009F) do the same on
terminals that honour 8-bit controls; bidi controls reorder what the user reads
(U+202E turns ``txt.exe`` into ``exe.txt``). A line break starts a fake line.

``neutralize`` is the one function that turns such text into something a
terminal shows literally: every control character (C0, DEL, C1), the bidi
controls, the line and paragraph separators and lone surrogates (which would
make the write fail) become visible escapes, ``\\x1b``, ``\\u202e``, ``\\n``.
Ordinary Unicode (accents, CJK, emoji) is kept.

``shown`` also redacts secrets, and ``plain`` wraps the result in a rich
``Text`` (never markup: ``[red]`` or ``[link=...]`` in data stays literal).
Everything argus prints from data goes through one of them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..client.redact import redact_text

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["neutralize", "plain", "shown"]

# C0 and DEL and C1; ALM, LRM, RLM; LINE and PARAGRAPH SEPARATOR; the bidi embeddings,
# overrides and isolates (Unicode's Bidi_Control property); lone surrogates
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutralize(text: str) -> str:
    """``text`` with every terminal control and bidi control replaced by a visible escape."""
    return _UNSAFE.sub(_escape, text)


def shown(value: object) -> str:
    """``value`` as one line for a terminal: secrets redacted, controls neutralized."""
    return neutralize(redact_text(str(value)))


def plain(value: object, style: str = "") -> Text:
    """``shown(value)`` as a rich ``Text``: rendered literally, never parsed as markup."""
    from rich.text import Text  # rich loads for human output only, not for JSON lines

    return Text(shown(value), style=style)

"""Making Unicode tricks visible to a reviewer.

Text from the platform (prompts, responses, metadata, appeals, request ids,
classifier labels) may carry characters a browser does not show as
themselves: bidi controls that reorder what is displayed (U+202E turns
`txt.exe` into what reads as `exe.txt`), zero-width characters that split a
word a filter looks for or smuggle instructions past a reader, Unicode "tag"
characters that spell hidden ASCII, and control characters. And it may mix
scripts inside one word (`paypal` spelt with a Cyrillic `a`) to pass for another.

`reveal(text)` renders each such character as a visible marker, `⟦U+202E RLO⟧`
in a styled span, and wraps mixed-script words in a highlighted span; every
other character is escaped. `findings(text)` names what was found, for the
warning badge on the case page. Both work in one pass with compiled regular
expressions, so a 1 MiB prompt costs milliseconds.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from django.utils.safestring import SafeString, mark_safe

# Short names people know these by; the marker's title gives the full Unicode name.
_ABBREVIATIONS = {
    0x061C: "ALM",
    0x200B: "ZWSP",
    0x200C: "ZWNJ",
    0x200D: "ZWJ",
    0x200E: "LRM",
    0x200F: "RLM",
    0x202A: "LRE",
    0x202B: "RLE",
    0x202C: "PDF",
    0x202D: "LRO",
    0x202E: "RLO",
    0x2060: "WJ",
    0x2066: "LRI",
    0x2067: "RLI",
    0x2068: "FSI",
    0x2069: "PDI",
    0xFEFF: "BOM",
    0x00AD: "SHY",
}

BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
ZERO_WIDTH = "\u200b-\u200d\u2060-\u2064\ufeff\u00ad\u034f\u180e\u115f\u1160\u3164\uffa0"
TAGS = "\U000e0000-\U000e007f"  # invisible copies of ASCII: "ASCII smuggling"
VARIATION_SUPPLEMENT = "\U000e0100-\U000e01ef"
CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029"  # not tab, newline, carriage return
# A run of tag characters is one marker that spells out the text it hides; any other hidden
# character is a marker of its own.
_HIDDEN = re.compile(f"[{TAGS}]{{2,}}|[{BIDI}{ZERO_WIDTH}{TAGS}{VARIATION_SUPPLEMENT}{CONTROL}]")
_CONTROL = re.compile(f"[{CONTROL}]")
_ZWJ = "\u200d"


_BIDI = re.compile(f"[{BIDI}]")
_ZERO_WIDTH = re.compile(f"[{ZERO_WIDTH}{VARIATION_SUPPLEMENT}]")
_TAGS = re.compile(f"[{TAGS}]")


def _count(text: str, pattern: re.Pattern[str]) -> int:
    return pattern.subn("", text)[1]


# Scripts with letters that pass for Latin ones, by their Unicode blocks. Two letters of two of
# them side by side inside a word ("paypal" spelt with a Cyrillic "a") mark the word as mixing scripts.
_SCRIPTS = {
    "Latin": "A-Za-z\u00c0-\u024f\u1e00-\u1eff",
    "Cyrillic": "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f",
    "Greek": "\u0370-\u03ff\u1f00-\u1fff",
    "Armenian": "\u0530-\u058f",
    "Cherokee": "\u13a0-\u13ff\uab70-\uabbf",
}
_SCRIPT_LETTERS = {name: re.compile(f"[{letters}]") for name, letters in _SCRIPTS.items()}
_WORD_REST = re.compile(r"[^\W\d_]*")


@lru_cache(maxsize=64)
def _seam(present: tuple[str, ...]) -> re.Pattern[str]:
    """A letter of one of these scripts followed by a letter of another: one pass, no backtracking."""
    return re.compile(
        "|".join(
            f"[{_SCRIPTS[name]}](?=[{''.join(_SCRIPTS[other] for other in present if other != name)}])"
            for name in present
        )
    )

# Past this many markers in one text the rest of its hidden characters are taken out of view
# (and counted in one last marker): a megabyte of zero-width spaces must not become 40 MB of HTML.
MAX_MARKERS = 2000


@dataclass(frozen=True)
class Findings:
    bidi: int = 0
    zero_width: int = 0
    tags: int = 0
    control: int = 0
    mixed_script_words: int = 0

    def __bool__(self) -> bool:
        return any((self.bidi, self.zero_width, self.tags, self.control, self.mixed_script_words))

    def __add__(self, other: Findings) -> Findings:
        return Findings(
            self.bidi + other.bidi,
            self.zero_width + other.zero_width,
            self.tags + other.tags,
            self.control + other.control,
            self.mixed_script_words + other.mixed_script_words,
        )

    @property
    def labels(self) -> list[str]:
        parts = [
            (self.bidi, "bidi control", "bidi controls"),
            (self.zero_width, "zero-width or invisible character", "zero-width or invisible characters"),
            (self.tags, "hidden tag character", "hidden tag characters"),
            (self.control, "control character", "control characters"),
            (self.mixed_script_words, "word mixing scripts", "words mixing scripts"),
        ]
        shown = [f"{n:,} {one if n == 1 else many}" for n, one, many in parts if n]
        if self.mixed_script_words >= MAX_MARKERS:  # counted up to the cap only
            shown[-1] = f"{MAX_MARKERS:,} or more words mixing scripts"
        return shown


def _mixed_words(text: str, limit: int | None = None) -> list[tuple[int, int, str]]:
    """(start, end, 'Cyrillic and Latin') for each word that mixes scripts, in order (the first `limit`)."""
    if text.isascii():
        return []
    present = tuple(name for name, letters in _SCRIPT_LETTERS.items() if letters.search(text))
    if len(present) < 2:  # most texts: one script, or none of these
        return []
    pattern = _seam(present)
    found: list[tuple[int, int, str]] = []
    covered = 0
    while (limit is None or len(found) < limit) and (seam := pattern.search(text, covered)):
        start = seam.start()
        while start > covered and text[start - 1].isalpha():
            start -= 1
        match = _WORD_REST.match(text, seam.start())
        end = match.end() if match else seam.end()
        word = text[start:end]
        scripts = [name for name, letters in _SCRIPT_LETTERS.items() if letters.search(word)]
        found.append((start, end, " and ".join(sorted(scripts))))
        covered = max(end, seam.end())
    return found


def _emoji_joiner(text: str, at: int) -> bool:
    """A ZWJ between two pictographs (woman + ZWJ + laptop) joins an emoji: shown as the emoji, not as a marker."""
    if text[at] != _ZWJ or at == 0 or at + 1 >= len(text):
        return False
    before, after = text[at - 1], text[at + 1]
    return (unicodedata.category(before) in {"So", "Sk"} or before == "\ufe0f") and unicodedata.category(after) == "So"


@lru_cache(maxsize=512)
def _marker(ch: str) -> str:
    code = ord(ch)
    short = _ABBREVIATIONS.get(code)
    if short is None and 0xE0020 <= code <= 0xE007E:
        short = f"TAG {chr(code - 0xE0000)}"  # the ASCII character it hides
    label = f"U+{code:04X}" + (f" {short}" if short else "")
    name = unicodedata.name(ch, "control character")
    return f'<span class="hidden-char" title="{_escape(name)}">\u27e6{_escape(label)}\u27e7</span>'


def _tag_run(run: str) -> str:
    """One marker for a run of tag characters, spelling the ASCII they hide."""
    spelt = "".join(chr(ord(ch) - 0xE0000) if 0xE0020 <= ord(ch) <= 0xE007E else "\ufffd" for ch in run)
    title = f"{len(run)} Unicode tag characters (U+E0000-E007F): invisible text a model may read"
    return f'<span class="hidden-char" title="{title}">\u27e6hidden tag text: {_escape(spelt)}\u27e7</span>'


def _escape(text: str) -> str:
    # What Django's escape() does, without its per-call wrapping: this runs once per piece of a long text.
    return html.escape(text, quote=True)


def reveal(value: object) -> SafeString:
    """HTML for `value` with every hidden character shown as a marker and every mixed-script word
    highlighted; everything else escaped."""
    text = "" if value is None else str(value)
    hidden: list[tuple[int, int]] = []
    cut = len(text)  # from here on hidden characters are taken out instead of marked
    for match in _HIDDEN.finditer(text):
        at = match.start()
        if _emoji_joiner(text, at):
            continue
        if len(hidden) == MAX_MARKERS:
            cut = at
            break
        hidden.append((at, match.end()))
    # Hidden characters are not letters, so they never fall inside a word: the pieces never overlap.
    pieces = [(at, end, _marker(text[at]) if end - at == 1 else _tag_run(text[at:end])) for at, end in hidden] + [
        (start, end, f'<span class="mixed-script" title="mixes {scripts} letters">{_escape(text[start:end])}</span>')
        for start, end, scripts in _mixed_words(text[:cut], limit=MAX_MARKERS)
    ]
    out: list[str] = []
    last = 0
    for start, end, piece in sorted(pieces):
        out.append(_escape(text[last:start]))
        out.append(piece)
        last = end
    out.append(_escape(text[last:cut]))
    if cut < len(text):
        kept = _HIDDEN.sub("", text[cut:])
        out.append(_escape(kept))
        out.append(
            f'<span class="hidden-char" title="taken out of view">\u27e6{len(text) - cut - len(kept):,} more hidden '
            f"characters not shown\u27e7</span>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every piece of `text` went through html.escape()


def findings(*values: object) -> Findings:
    """What `reveal` would mark in these texts, counted by kind."""
    total = Findings()
    for value in values:
        text = "" if value is None else str(value)
        if text.isascii() and not _CONTROL.search(text):
            continue
        zero_width = _count(text, _ZERO_WIDTH)
        joiners = text.count(_ZWJ)
        if 0 < joiners <= 10 * MAX_MARKERS:  # emoji sequences are not tricks; a flood of joiners is
            zero_width -= sum(1 for at in _positions(text, _ZWJ) if _emoji_joiner(text, at))
        total = total + Findings(
            bidi=_count(text, _BIDI),
            zero_width=zero_width,
            tags=_count(text, _TAGS),
            control=_count(text, _CONTROL),
            mixed_script_words=len(_mixed_words(text, limit=MAX_MARKERS)),
        )
    return total


def _positions(text: str, ch: str) -> list[int]:
    found, at = [], text.find(ch)
    while at != -1:
        found.append(at)
        at = text.find(ch, at + 1)
    return found

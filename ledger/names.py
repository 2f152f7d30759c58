"""Names nobody can fake: when two names of people or merchants are "the same name".

One rule, shared by the wallet (contacts, own accounts, merchants by name) and the registrar
(merchant names unique in the registry). Two names collide when, once folded, they read alike:

1. **Compatibility and case**: NFKC (full-width letters, ligatures, superscripts become plain
   letters), then Unicode case folding (`Alice` = `ALICE` = `alice`).
2. **Accents**: decomposed (NFD) and the combining marks dropped (`zoé` = `zoe`, `Élise` =
   `Elise`); spaces and the characters `_ - . ' &` between words count as one separator
   (`Boulangerie du Lac` = `boulangerie-du-lac`); invisible format characters (zero-width
   spaces and joiners, bidi controls) are dropped.
3. **Look-alike characters**: the confusable skeleton of Unicode Technical Standard #39
   (`skeleton(X)`), built from the Unicode consortium's confusables data as shipped by the
   maintained `confusable-homoglyphs` package: Cyrillic `а` = Latin `a`, capital `I` = small
   `l` = digit `1`, digit `0` = capital `O`, Greek `ο` = Latin `o`...

Case folding and the skeleton do not commute (`I` looks like `l` but folds to `i`; `0` looks
like `O`, which folds to `o`). Two measures make the comparison closed under both at once:

- the look-alike classes are joined with case where that joins no two different letters: `o`
  joins `O` and so `0` (a zero reads as an o in a lower-case name), while `I` (which looks like
  `l`) is kept apart from `i`, and `L` from `l` (`alice` and `aiice`, `Lili` and `Liii` stay two
  names);
- a name is read in every case it may be shown in, so it has three keys, `K(fold(x))`, `K(x)`
  and `K(upper(x))` with `K = fold∘skeleton` and the separators dropped (`I_ac` reads `Lac`),
  and the look-alike of a spelling is keyed as that spelling too: a name made of letters from
  another script that each look like one Latin letter (Cherokee `ᎪᏞᎥᏟᎬ` shows `ALiCE`) also
  gets the three keys of that Latin spelling.

Two names collide when their keys meet: `z0e-cIient` collides with `zoe-client`, `ALICE` with
`alice`, `b0b` with `bob`, `аlice` (Cyrillic а) with `alice`, `ᎪᏞᎥᏟᎬ` with `alice`.

Invisible characters are not letters: format characters (zero-width spaces and joiners, bidi
controls) are dropped and blank letters (Hangul fillers, the blank braille pattern) and control
characters read as a space, so they never make a new name. A name to be registered or saved
must not contain any of them at all (`unsafe_characters`), and a name read back from the chain
is shown with them made visible (`printable`).

No web3, SQL or I/O beyond reading the package's two data files once, on first use (about
0.1 s); `fold` alone needs nothing but the standard library.
"""

from __future__ import annotations

import bisect
import functools
import json
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_SEPARATORS = frozenset(" \t_-.'’&,/")
_FORMAT_CATEGORIES = frozenset({"Cf"})
# Letters and symbols that are drawn blank but are not format characters (Unicode's
# Default_Ignorable_Code_Point letters, and the empty braille cell): each reads as a space.
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5\u180e")
# Combining marks drawn as nothing (Unicode's Default_Ignorable_Code_Point marks: the combining
# grapheme joiner, Mongolian free variation selectors, the variation selectors): "Boulangerie\u034f"
# draws as "Boulangerie". An emoji's U+FE0F is one of them, shown as its code point too.
_INVISIBLE_MARKS = frozenset(
    chr(c) for first, last in ((0x034F, 0x034F), (0x180B, 0x180D), (0x180F, 0x180F),
                               (0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
    for c in range(first, last + 1)
)
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})


@functools.cache
def _package_json(name: str) -> Any:
    """A data file of the confusable-homoglyphs package, read directly: its modules import
    urllib (to regenerate the data), which would cost the wallet half a second at start."""
    from importlib.resources import files

    return json.loads(files("confusable_homoglyphs").joinpath(name).read_text(encoding="utf-8"))


@functools.cache
def _scripts() -> tuple[list[int], list[int], list[str]]:
    """Unicode script ranges (start, end, script alias) from the package's categories data."""
    data = _package_json("categories.json")
    aliases = data["iso_15924_aliases"]
    ranges = data["code_points_ranges"]
    return [r[0] for r in ranges], [r[1] for r in ranges], [aliases[r[2]] for r in ranges]


def script_of(char: str) -> str:
    """The script of a character ("LATIN", "CYRILLIC", "COMMON"...), "UNKNOWN" if unlisted."""
    starts, ends, scripts = _scripts()
    index = bisect.bisect_right(starts, ord(char)) - 1
    if index >= 0 and ord(char) <= ends[index]:
        return scripts[index]
    return "UNKNOWN"


@functools.cache
def _table() -> dict[str, str]:
    """Each confusable character -> the representative of its class of look-alikes.

    confusables.txt maps each source character to its prototype; the package keeps the pairs
    in both directions, so each class is a star around its prototype. A class is represented
    here by its smallest single-character member (for comparison only, never shown); a
    character whose prototype is a sequence (`ǆ` -> `dž`) maps to that sequence.
    """
    data: dict[str, list[dict[str, str]]] = _package_json("confusables.json")
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        root = c
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(c, c) != root:  # path compression
            parent[c], c = root, parent[c]
        return root

    sequences: dict[str, str] = {}
    for char, entries in data.items():
        if len(char) != 1:
            continue
        for entry in entries:
            other = entry["c"]
            if len(other) == 1:
                a, b = find(char), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            elif len(entries) == 1:
                sequences[char] = other
    _join_cases(parent, find)
    table = {c: find(c) for c in parent}
    for char, sequence in sequences.items():
        if char not in table:
            table[char] = "".join(table.get(s, s) for s in sequence)
    return {c: r for c, r in table.items() if c != r}


def _join_cases(parent: dict[str, str], find: Callable[[str], str]) -> None:
    """Join the class of each ASCII capital with its small letter's class, unless that would
    make two different letters one (`I` is in `l`'s class: joining it with `i` would make
    `alice` and `aiice` one name; `L` with `l` likewise)."""
    members: dict[str, set[str]] = {}
    for char in list(parent):
        members.setdefault(find(char), set()).add(char)

    def letters(root: str) -> set[str]:
        return {c.lower() for c in members.get(root, {root}) if c.isascii() and c.isalpha()}

    for capital in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        a, b = find(capital), find(capital.lower())
        if a == b or len(letters(a) | letters(b)) > 1:
            continue
        low, high = min(a, b), max(a, b)
        parent[high] = low
        parent.setdefault(low, low)
        members.setdefault(low, {low}).update(members.pop(high, {high}))


@functools.cache
def _latin_letters() -> dict[str, str]:
    """Each non-ASCII character whose class of look-alikes holds exactly one ASCII letter ->
    that letter, in its case (Cherokee `Ꮮ` -> `L`, `Ꭵ` -> `i`): the spelling a person reads."""
    data: dict[str, list[dict[str, str]]] = _package_json("confusables.json")
    found: dict[str, set[str]] = {}
    for char, entries in data.items():
        if len(char) != 1 or char.isascii():
            continue
        for entry in entries:
            other = entry["c"]
            if len(other) == 1 and other.isascii() and other.isalpha():
                found.setdefault(char, set()).add(other)
    return {c: next(iter(latin)) for c, latin in found.items() if len(latin) == 1}


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of `text`: NFD, each character by its look-alike class, NFD."""
    table = _table()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(table.get(c, c) for c in decomposed))


def fold(name: str) -> str:
    """Compatibility, case and accent folding: what a person reads, not how it was typed."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = unicodedata.normalize("NFD", text)
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category.startswith("M") or category in _FORMAT_CATEGORIES:
            continue  # accents and other combining marks; zero-width and bidi controls
        blank = char in _SEPARATORS or char in _BLANKS or char.isspace() or category == "Cc"
        kept.append(" " if blank else char)
    return " ".join("".join(kept).split())


def _key(text: str) -> str:
    return fold(skeleton(text)).replace(" ", "")


def _readings(name: str) -> frozenset[str]:
    return frozenset({_key(fold(name)), _key(name), _key(name.upper())})


def name_keys(name: str) -> frozenset[str]:
    """The keys under which `name` is compared (see the module docstring)."""
    latin = _latin_letters()
    spelled = "".join(latin.get(c, c) for c in unicodedata.normalize("NFC", name))
    keys = _readings(name) | (_readings(spelled) if spelled != name else frozenset())
    return frozenset(k for k in keys if k)


def chain_text(raw: bytes) -> str:
    """A `string` as the chain holds it: the contract stores any bytes a raw call sends, so bytes
    that are not UTF-8 become U+FFFD (shown, never raised: one such name stopped the indexer and
    every list of merchants)."""
    return raw.decode("utf-8", errors="replace")


def unsafe_characters(name: str) -> list[str]:
    """The characters of `name` a person cannot see or that change how text around them is
    shown: control and format characters (bidi overrides, zero-width), blank letters (Hangul
    fillers, the blank braille cell), unassigned and private-use code points, and any space
    but the plain one. A name to be registered or saved must have none (empty list)."""
    found = []
    for char in dict.fromkeys(name):
        category = unicodedata.category(char)
        if (category in _UNSAFE_CATEGORIES or char in _BLANKS or char in _INVISIBLE_MARKS
                or (category == "Zs" and char != " ")):
            found.append(char)
    return found


def printable(name: str) -> str:
    """`name` as it may be written to a terminal or a page: each unsafe character (escape
    sequences, bidi overrides, invisible letters) shown as its code point, `<U+202E>`, and so is
    a plain space that cannot be seen (at either end, or after another space, which a page
    collapses): "Boulangerie du Lac " is not drawn as "Boulangerie du Lac"."""
    unsafe = set(unsafe_characters(name))
    last = len(name) - 1
    return "".join(
        f"<U+{ord(c):04X}>"
        if c in unsafe or (c == " " and (i == 0 or i == last or name[i - 1] == " "))
        else c
        for i, c in enumerate(name)
    )


def reads_as_number(name: str) -> bool:
    """True for a name a person or the wallet would read as a merchant number (`2`, `#2`)."""
    text = unicodedata.normalize("NFKC", name).strip().lstrip("#").strip()
    return bool(text) and all(unicodedata.category(c) == "Nd" for c in text)


def resembles(a: str, b: str) -> bool:
    """True when a person could take one name for the other."""
    return bool(name_keys(a) & name_keys(b))


@dataclass(frozen=True)
class Resemblance:
    """A name that `candidate` collides with, and how."""

    name: str
    exact: bool  # the same name up to case, accents and separators (not just look-alike)

    @property
    def how(self) -> str:
        return "is the same name as" if self.exact else "looks like"


def resembling(candidate: str, others: Iterable[T], name_of: Callable[[T], str]) -> list[T]:
    """The items of `others` whose name collides with `candidate`, in their order."""
    keys = name_keys(candidate)
    return [item for item in others if keys & name_keys(name_of(item))]


def describe(candidate: str, other: str) -> Resemblance:
    return Resemblance(other, fold(candidate) == fold(other))


def foreign_lookalikes(name: str) -> list[tuple[str, str]]:
    """Characters of `name` from another script than the name's main one that look like a
    character of that main script (a Cyrillic `а` in a Latin name): (character, its script).

    Names written in one script (Latin with accents, or all Cyrillic, all Greek) give [].
    """
    scripts: dict[str, int] = {}
    for char in name:
        script = script_of(char)
        if script not in ("COMMON", "INHERITED", "UNKNOWN"):
            scripts[script] = scripts.get(script, 0) + 1
    if len(scripts) < 2:
        return []
    main = max(sorted(scripts), key=lambda s: scripts[s])
    table = _table()
    found = []
    for char in dict.fromkeys(name):
        script = script_of(char)
        if script in ("COMMON", "INHERITED", "UNKNOWN", main) or char not in table:
            continue
        found.append((char, script.title()))
    return found


def char_names(chars: Sequence[str]) -> str:
    """`'а' (CYRILLIC SMALL LETTER A)` for the sentences that refuse a name."""
    unsafe = set(unsafe_characters("".join(chars)))
    return ", ".join(
        f"U+{ord(c):04X} ({unicodedata.name(c, 'a control character')})" if c in unsafe
        else f"'{c}' ({unicodedata.name(c, f'U+{ord(c):04X}')})"
        for c in chars
    )

"""``.dockerignore`` files, matched the way BuildKit sends a build context.

Reading follows Docker's ignore-file reader (moby/patternmatcher ``ignorefile``): one pattern per
line; a line is a comment only when ``#`` is in column 1; surrounding whitespace is trimmed; a
leading ``!`` makes an exception; the pattern is cleaned like Go's ``filepath.Clean`` (``./a``,
``a/`` and ``a/b/..`` become ``a``) and one leading ``/`` is dropped, so ``/foo`` and ``foo`` are
the same: patterns are relative to the context root, never to the file's folder.

Matching follows the pattern matcher and BuildKit's context walk (tonistiigi/fsutil): ``*`` and
``?`` stay within one path segment, ``[...]`` is a character class (``^`` negates), ``**`` spans
any number of folders (also none), and a backslash escapes the next character. Every pattern is
tried in order and the last one that matches decides; a pattern that matches a folder also
decides for everything below it, unless a later ``!`` pattern re-includes part of it. The walk
hands each path the results of its parent folder, which is what :meth:`DockerIgnore.excludes`
reproduces. Two quirks of the matcher are kept because Docker has them: ``**x`` at the start of
a pattern with no other wildcard is a plain suffix test (``**.log`` excludes ``app.log`` and
``dir/x.log``), and ``foo**`` is a plain prefix test. One is not: the matcher also expands ``*``
inside ``[...]``; we treat a class as a class.

A pattern Docker rejects (a lone ``!``, an unterminated ``[``, a trailing backslash, a backslash
before a letter that is no regular-expression escape, as in the Windows path ``build\\out``)
fails every build that uses the file; each becomes a DA001 finding and matches nothing here.

Which file applies: with BuildKit, ``<Dockerfile>.dockerignore`` next to the Dockerfile takes
precedence over ``.dockerignore`` at the root of the context ("A Dockerfile-specific ignore-file
takes precedence over the .dockerignore file at the root of the build context if both exist",
https://docs.docker.com/build/concepts/context/#dockerignore-files). See :func:`dockerignore_for`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockaudit.findings import Finding
from dockaudit.globs import SafeRegex
from dockaudit.source import SourceFile, Span

if TYPE_CHECKING:
    from dockaudit.project import Project

#: characters Go's strings.TrimSpace removes (the Unicode White_Space set)
_GO_SPACE = " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009" \
            "\u200a\u2028\u2029\u202f\u205f\u3000"

#: escapes Go's regexp accepts after a backslash (besides punctuation), and what they become here
_REGEX_ESCAPES = {
    "d": r"\d", "D": r"\D", "s": r"[\t\n\f\r ]", "S": r"[^\t\n\f\r ]", "w": r"[0-9A-Za-z_]",
    "W": r"[^0-9A-Za-z_]", "b": r"\b", "B": r"\B", "A": r"\A", "z": r"\Z", "a": r"\a", "f": r"\f",
    "t": r"\t", "n": r"\n", "r": r"\r", "v": r"\v",
}
#: escapes Go accepts whose exact meaning we do not model (they stay literal characters)
_LOOSE_ESCAPES = frozenset("pPxQEC01234567")


def go_clean(path: str) -> str:
    """Go's ``path.Clean``: the shortest equivalent path (``a/./b/../c/`` → ``a/c``, ``''`` → ``.``)."""
    if not path:
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


class PatternError(ValueError):
    """The pattern is one Docker refuses; the message says why."""


@dataclass
class IgnorePattern:
    """One pattern as Docker reads it: ``text`` is cleaned and without its ``!``."""

    text: str
    negated: bool
    span: Span
    #: the line as written (trimmed)
    raw: str = ""
    _match: Callable[[str], bool] | None = field(default=None, repr=False, compare=False)

    def matches(self, path: str) -> bool:
        """Does the pattern itself match ``path`` (a cleaned context-relative path)?"""
        return self._match(path) if self._match is not None else False


def _parse_class(pattern: str, i: int) -> tuple[str, int]:
    """A ``[...]`` class starting at ``pattern[i]``: (Python regex, index after ``]``).

    Validates the way Go's ``filepath.Match`` does and raises :class:`PatternError` otherwise.
    """
    n = len(pattern)
    j = i + 1
    negate = False
    if j < n and pattern[j] == "^":
        negate = True
        j += 1
    items: list[str] = []

    def one(k: int) -> tuple[str, int]:
        if k >= n or pattern[k] in "-]":
            raise PatternError("malformed character class [...]")
        if pattern[k] == "\\":
            k += 1
            if k >= n:
                raise PatternError("a backslash at the end of the pattern escapes nothing")
        return pattern[k], k + 1

    while True:
        if j < n and pattern[j] == "]" and items:
            j += 1
            break
        if j >= n:
            raise PatternError("unterminated character class: [ without ]")
        lo, j = one(j)
        hi = lo
        if j < n and pattern[j] == "-":
            hi, j = one(j + 1)
        if lo > hi:
            # filepath.Match accepts it, but Go's regexp (which Docker matches with) does not
            raise PatternError(f"invalid range {lo}-{hi} in a character class")
        items.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
    return f"[{'^' if negate else ''}{''.join(items)}]", j


def compile_pattern(text: str) -> Callable[[str], bool]:
    """A predicate for one cleaned pattern (``!`` removed), as moby's pattern matcher builds it."""
    out = ["^"]
    kind = "exact"
    i = 0
    n = len(text)
    first = True
    while i < n:
        char = text[i]
        i += 1
        if char == "*":
            if i < n and text[i] == "*":
                i += 1
                if i < n and text[i] == "/":
                    i += 1
                if i >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regex"
                else:
                    out.append("(?:.*/)?")
                    kind = "regex"
                if first:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regex"
        elif char == "?":
            out.append("[^/]")
            kind = "regex"
        elif char == "\\":
            if i >= n:
                raise PatternError("a backslash at the end of the pattern escapes nothing")
            escaped = text[i]
            i += 1
            kind = "regex"
            if escaped.isascii() and escaped.isalnum():
                if escaped in _REGEX_ESCAPES:
                    out.append(_REGEX_ESCAPES[escaped])
                elif escaped in _LOOSE_ESCAPES:
                    out.append(re.escape(escaped))
                else:
                    raise PatternError(
                        f"\\{escaped} is not a valid escape (a backslash escapes the next character; "
                        "Docker fails the build with 'invalid escape sequence'); use / between folders")
            else:
                out.append(re.escape(escaped))
        elif char == "[":
            regex, i = _parse_class(text, i - 1)
            out.append(regex)
            kind = "regex"
        elif char == "]":
            out.append(r"\]")
            kind = "regex"
        elif char == "^":
            out.append("^")  # Go passes it through: an anchor that only matches at the start
        else:
            out.append(re.escape(char))
        first = False
    if kind == "exact":
        return lambda path: path == text
    if kind == "prefix":
        prefix = text[:-2]
        return lambda path: path.startswith(prefix)
    if kind == "suffix":
        suffix = text[2:]
        if not suffix:
            return lambda path: True
        bare = suffix[1:] if suffix[0] == "/" else None
        return lambda path: path.endswith(suffix) or path == bare
    try:
        regex = SafeRegex("".join(out) + r"\Z", re.DOTALL)  # linear time on hostile patterns
    except re.error as exc:  # pragma: no cover - our translation should always compile
        raise PatternError(f"pattern cannot be compiled ({exc})") from None
    return lambda path: regex.match(path) is not None


@dataclass
class DockerIgnore:
    """A parsed ``.dockerignore`` (or ``<Dockerfile>.dockerignore``)."""

    source: SourceFile
    path: str
    patterns: list[IgnorePattern]
    diagnostics: list[Finding] = field(default_factory=list)
    _dirs: dict[str, tuple[bool, IgnorePattern | None, tuple[bool, ...]]] = field(
        default_factory=dict, repr=False)

    def _state(self, path: str) -> tuple[bool, IgnorePattern | None, tuple[bool, ...]]:
        """(excluded, deciding pattern, per-pattern match flags) of ``path``, as the context walk
        computes it: each path starts from its parent folder's flags (iterative, cached)."""
        cached = self._dirs.get(path)
        if cached is not None:
            return cached
        parts = path.split("/")
        prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
        start = len(prefixes)
        while start > 0 and prefixes[start - 1] not in self._dirs:
            start -= 1
        parent_flags: tuple[bool, ...] = self._dirs[prefixes[start - 1]][2] if start > 0 else ()
        state: tuple[bool, IgnorePattern | None, tuple[bool, ...]] = (False, None, ())
        for prefix in prefixes[start:]:
            state = self._match_one(prefix, parent_flags)
            if len(self._dirs) < 100_000:
                self._dirs[prefix] = state
            parent_flags = state[2]
        return state

    def _match_one(self, path: str, parent_flags: tuple[bool, ...]) -> tuple[
            bool, IgnorePattern | None, tuple[bool, ...]]:
        matched = False
        deciding: IgnorePattern | None = None
        flags = []
        for index, pattern in enumerate(self.patterns):
            hit = bool(parent_flags) and parent_flags[index]
            if not hit:
                if pattern.negated != matched:
                    flags.append(False)
                    continue
                hit = pattern.matches(path)
            flags.append(hit)
            if hit:
                matched = not pattern.negated
                deciding = pattern
        return matched, deciding, tuple(flags)

    def excludes(self, relpath: str) -> bool:
        """Is ``relpath`` (relative to the build context) left out of the context?"""
        path = _clean_query(relpath)
        if path is None:
            return False
        return self._state(path)[0]

    def matching_pattern(self, relpath: str) -> IgnorePattern | None:
        """The pattern that decides ``relpath``: the last one to match it or a parent folder.

        A ``!`` pattern here means the path is re-included; None means no pattern matches.
        """
        path = _clean_query(relpath)
        if path is None:
            return None
        return self._state(path)[1]

    def anchor_lines(self, line: int) -> list[int]:
        return [line]


def _clean_query(relpath: str) -> str | None:
    path = go_clean(relpath.replace("\\", "/")).lstrip("/")
    if path in ("", ".") or path == ".." or path.startswith("../"):
        return None
    return path


def parse(source: SourceFile) -> DockerIgnore:
    """Read a ``.dockerignore``; never raises (bad patterns become DA001 diagnostics)."""
    patterns: list[IgnorePattern] = []
    diagnostics: list[Finding] = []
    for number in range(1, source.line_count + 1):
        line = source.line_text(number)
        if line.startswith("#"):
            continue
        stripped = line.strip(_GO_SPACE)
        if not stripped:
            continue
        start = len(line) - len(line.lstrip(_GO_SPACE)) + 1
        span = Span(source.path, number, start, number, start + len(stripped))
        text = stripped
        negated = text.startswith("!")
        if negated:
            text = text[1:].strip(_GO_SPACE)
        if text:
            text = go_clean(text)
            if len(text) > 1 and text.startswith("/"):
                text = text[1:]
        if negated and (not text or go_clean("!" + text) == "!"):
            diagnostics.append(Finding(span, 'a lone "!" is not a pattern; Docker fails the build '
                                       '("illegal exclusion pattern")', rule="DA001"))
            continue
        pattern = IgnorePattern(text=text, negated=negated, span=span, raw=stripped)
        try:
            pattern._match = compile_pattern(text)
        except PatternError as exc:
            diagnostics.append(Finding(span, f"invalid pattern {stripped!r}: {exc}", rule="DA001"))
            pattern._match = None
        patterns.append(pattern)
    return DockerIgnore(source=source, path=source.path, patterns=patterns, diagnostics=diagnostics)


def dockerignore_for(project: Project, context: str, dockerfile: str | None) -> DockerIgnore | None:
    """The ignore file a build of ``context`` with ``dockerfile`` uses (root-relative paths).

    ``<Dockerfile>.dockerignore`` next to the Dockerfile wins over ``<context>/.dockerignore``
    (BuildKit; the classic builder reads only the latter).
    """
    candidates = []
    if dockerfile:
        specific = project.resolve(".", dockerfile + ".dockerignore")
        if specific is not None:
            candidates.append(specific)
    base = project.resolve(".", context or ".")
    if base is not None:
        candidates.append(".dockerignore" if base == "." else f"{base}/.dockerignore")
    for candidate in candidates:
        if candidate in project.tree.files:
            document = project.document(candidate, "dockerignore")
            if document is not None:
                return document
    return None

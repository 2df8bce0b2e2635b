"""Env files (``.env``, ``env_file:`` targets and their templates) with docker compose's semantics.

Compose's dotenv dialect (compose-go ``dotenv``), which differs from python-dotenv and from
``docker run --env-file``:

- ``KEY=value``, ``export KEY=value``, and the YAML-like ``KEY: value``. Names may contain
  letters, digits, ``_ . - [ ]``; spaces around the name and after ``=`` are dropped.
- ``KEY`` alone (no ``=``) inherits the variable from the shell that runs compose. dockaudit
  treats that environment as empty, so such a key is listed but has no value.
- Unquoted values run to the end of the line; `` #`` (a space, then ``#``) starts a comment;
  trailing whitespace is dropped; ``$VAR``/``${VAR}`` are interpolated.
- ``'single'`` quotes are literal (only ``\\'`` is special); ``"double"`` quotes process
  ``\\n \\t \\r \\a \\b \\f \\v \\\\ \\" \\$`` and ``\\0NNN`` and then interpolate. Both may span lines.
- Interpolation sees the keys defined earlier in the same file (and the shell, here empty).

A line compose would refuse (a bad character in a name, an unterminated quote, broken ``${``)
becomes a DA001 finding at its exact position; parsing goes on with the next line.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from dockaudit.findings import Finding
from dockaudit.interpolate import VarRef, VarUse, interpolate
from dockaudit.source import SourceFile, Span

if TYPE_CHECKING:
    from dockaudit.project import Project

PARSE_ERROR = "DA001"

#: whitespace that is not a line break (compose's ``isSpace``)
_SPACE = frozenset("\t\v\f\r \x85\xa0")
_NAME_PUNCT = frozenset("_.-[]")
_TEMPLATE_WORDS = re.compile(r"(?i)example|sample|template|dist|tpl|defaults")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                   '"': '"', "\\": "\\"}


@dataclass
class EnvEntry:
    """One variable of an env file.

    ``value`` is what compose would set: quotes removed, escapes processed, ``${VAR}``
    interpolated against earlier keys. ``raw`` is the value as written (without its quotes).
    ``span`` covers the whole entry (from ``export`` or the name to the end of the value);
    ``value_span`` covers the value as written, quotes included (empty, right after the ``=``,
    for ``KEY=``; equal to ``key_span``'s end for ``KEY`` without ``=``).
    """

    key: str
    value: str
    span: Span
    key_span: Span
    value_span: Span
    quote: str | None
    exported: bool
    has_equals: bool
    raw: str = ""
    separator: str = "="
    #: ``$VAR`` references in the value (unquoted and double-quoted values only)
    refs: list[VarUse] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.span.line


@dataclass
class EnvFile:
    """A parsed env file: its entries in file order, and DA001 findings for lines compose refuses."""

    source: SourceFile
    path: str
    entries: list[EnvEntry] = field(default_factory=list)
    diagnostics: list[Finding] = field(default_factory=list)

    @property
    def is_template(self) -> bool:
        """Is this a template others copy (``.env.example``, ``env.sample``, ``example.env``...)?"""
        return bool(_TEMPLATE_WORDS.search(posixpath.basename(self.path)))

    @cached_property
    def keys(self) -> dict[str, EnvEntry]:
        """Entries by name; when a key repeats, the last one wins (as in compose)."""
        return {entry.key: entry for entry in self.entries}

    def get(self, key: str) -> EnvEntry | None:
        return self.keys.get(key)

    def values(self) -> dict[str, str]:
        """Name -> value as compose reads this file; keys without ``=`` (inherited from the shell,
        which dockaudit treats as empty) are left out."""
        return {entry.key: entry.value for entry in self.entries if entry.has_equals}

    def anchor_lines(self, line: int) -> list[int]:
        """The first line of the entry that contains ``line`` (multi-line quoted values)."""
        for entry in self.entries:
            if entry.span.line <= line <= entry.span.end_line:
                return [entry.span.line]
        return []


class _Parser:
    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.text = source.text
        self.env = EnvFile(source=source, path=source.path)
        self.defined: dict[str, str] = {}

    def error(self, offset: int, message: str, end: int | None = None) -> None:
        span = self.source.span_of_offsets(offset, offset + 1 if end is None else end)
        self.env.diagnostics.append(Finding(span, message, rule=PARSE_ERROR))

    def line_end(self, pos: int) -> int:
        end = self.text.find("\n", pos)
        return len(self.text) if end == -1 else end

    def run(self) -> EnvFile:
        text = self.text
        n = len(text)
        pos = 0
        while pos < n:
            c = text[pos]
            if c.isspace():
                pos += 1
                continue
            if c == "#":
                pos = self.line_end(pos)
                continue
            pos = self.statement(pos)
        return self.env

    def statement(self, start: int) -> int:
        text = self.text
        n = len(text)
        pos = start
        exported = False
        if text.startswith("export", pos) and pos + 6 < n and text[pos + 6] in _SPACE:
            exported = True
            pos += 6
            while pos < n and text[pos] in _SPACE:
                pos += 1
        key_start = pos
        sep_at = -1
        while pos < n:
            c = text[pos]
            if c in "=:\n":
                sep_at = pos
                break
            if c in _SPACE or c in _NAME_PUNCT or c.isalnum():
                pos += 1
                continue
            self.error(pos, f"unexpected character {c!r} in variable name; names may contain letters, "
                            "digits and _ . - [ ]")
            return self.line_end(pos)
        key_end = sep_at if sep_at != -1 else n
        key_text = text[key_start:key_end]
        key = key_text.rstrip()
        stripped_end = key_start + len(key)
        if not key and exported and (sep_at == -1 or text[sep_at] == "\n"):
            return key_end  # "export" followed by nothing: compose ignores it
        if any(ch in _SPACE for ch in key):
            space_at = key_start + next(i for i, ch in enumerate(key) if ch in _SPACE)
            self.error(space_at, f"variable name {key!r} contains a space; compose refuses it",
                       end=stripped_end)
            return self.line_end(start)
        if not key:
            self.error(key_start, "missing variable name before the "
                                  f"{'=' if sep_at != -1 and text[sep_at] == '=' else ':'}")
            return self.line_end(start)
        key_span = self.source.span_of_offsets(key_start, stripped_end)
        entry_start = start
        if sep_at == -1 or text[sep_at] == "\n":
            # KEY alone: inherited from the shell environment
            entry = EnvEntry(key=key, value="", span=self.source.span_of_offsets(entry_start, stripped_end),
                             key_span=key_span,
                             value_span=self.source.span_of_offsets(stripped_end, stripped_end),
                             quote=None, exported=exported, has_equals=False, separator="")
            self.env.entries.append(entry)
            return key_end
        separator = text[sep_at]
        pos = sep_at + 1
        while pos < n and text[pos] in _SPACE:
            pos += 1
        value_start = pos
        if pos < n and text[pos] in "\"'":
            return self.quoted(entry_start, key, key_span, exported, separator, value_start)
        end_of_line = self.line_end(pos)
        raw = text[pos:end_of_line]
        comment = raw.find(" #")
        if comment != -1:
            raw = raw[:comment]
        raw = raw.rstrip()
        value_end = value_start + len(raw)
        value, refs = self.expand(raw, list(range(value_start, value_end + 1)))
        entry = EnvEntry(key=key, value=value, span=self.source.span_of_offsets(entry_start, value_end),
                         key_span=key_span, value_span=self.source.span_of_offsets(value_start, value_end),
                         quote=None, exported=exported, has_equals=True, raw=raw, separator=separator,
                         refs=refs)
        self.add(entry)
        return end_of_line

    def quoted(self, entry_start: int, key: str, key_span: Span, exported: bool, separator: str,
               value_start: int) -> int:
        text = self.text
        n = len(text)
        quote = text[value_start]
        chars: list[str] = []
        offsets: list[int] = []
        escaped = False
        i = value_start + 1
        close = -1
        while i < n:
            c = text[i]
            if c != quote:
                if not escaped and c == "\\":
                    escaped = True
                    i += 1
                    continue
                if escaped:
                    escaped = False
                    chars.append("\\")
                    offsets.append(i - 1)
                chars.append(c)
                offsets.append(i)
                i += 1
                continue
            if escaped:
                escaped = False
                chars.append(c)
                offsets.append(i - 1)
                i += 1
                continue
            close = i
            break
        if close == -1:
            line_end = self.line_end(value_start)
            kind = "double" if quote == '"' else "single"
            self.error(value_start, f"unterminated {kind}-quoted value of {key}: no closing {quote} before "
                                    "the end of the file", end=line_end)
            return line_end
        raw = text[value_start + 1:close]
        content = "".join(chars)
        refs: list[VarUse] = []
        if quote == '"':
            content, offsets = _expand_escapes(content, offsets)
            offsets.append(close)
            value, refs = self.expand(content, offsets)
        else:
            value = content
        entry = EnvEntry(key=key, value=value, span=self.source.span_of_offsets(entry_start, close + 1),
                         key_span=key_span, value_span=self.source.span_of_offsets(value_start, close + 1),
                         quote=quote, exported=exported, has_equals=True, raw=raw, separator=separator,
                         refs=refs)
        self.add(entry)
        # like compose, whatever follows the closing quote is read as the next statement
        # (a comment, or another KEY=value on the same line)
        return close + 1

    def expand(self, text: str, offsets: list[int]) -> tuple[str, list[VarUse]]:
        """Interpolate a value against earlier keys; ``offsets[i]`` is the file offset of ``text[i]``."""
        if "$" not in text:
            return text, []
        result = interpolate(text, self.defined.get)
        for offset, message in result.errors:
            self.error(offsets[min(offset, len(offsets) - 1)], message)
        uses: list[VarUse] = []
        for ref in result.refs:
            uses.append(VarUse(
                name=ref.name,
                span=self.source.span_of_offsets(offsets[min(ref.start, len(offsets) - 1)],
                                                 offsets[min(ref.end - 1, len(offsets) - 1)] + 1),
                modifier=ref.modifier, default=ref.default, required=ref.required,
                defined=ref.name in self.defined, nested=ref.nested))
        return result.value, uses

    def add(self, entry: EnvEntry) -> None:
        self.env.entries.append(entry)
        self.defined[entry.key] = entry.value


def _expand_escapes(content: str, offsets: list[int]) -> tuple[str, list[int]]:
    """Compose's escape processing in double-quoted values, keeping each character's offset.

    ``\\$`` becomes ``$$`` so that interpolation leaves a literal ``$``.
    """
    if "\\" not in content:
        return content, list(offsets)
    out: list[str] = []
    where: list[int] = []
    i = 0
    n = len(content)
    while i < n:
        c = content[i]
        if c == "\\" and i + 1 < n:
            nxt = content[i + 1]
            if nxt in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[nxt])
                where.append(offsets[i])
                i += 2
                continue
            if nxt == "$":
                out.extend("$$")
                where.extend((offsets[i], offsets[i]))
                i += 2
                continue
            if nxt == "0":
                j = i + 2
                while j < n and j < i + 5 and content[j].isdigit() and content[j] in "01234567":
                    j += 1
                digits = content[i + 2:j]
                if len(digits) == 3:
                    value = int(digits, 8)
                    if value <= 0xFF:
                        out.append(chr(value))
                        where.append(offsets[i])
                        i = j
                        continue
                elif not digits:
                    out.append("\x00")
                    where.append(offsets[i])
                    i += 2
                    continue
        out.append(c)
        where.append(offsets[i])
        i += 1
    return "".join(out), where


def parse(source: SourceFile) -> EnvFile:
    """Parse an env file; never raises, bad lines become DA001 findings."""
    return _Parser(source).run()


# --- templates -------------------------------------------------------------------------------

_TEMPLATE_SUFFIXES = ("example", "sample", "template", "dist", "tpl", "defaults")


def template_candidates(env_relpath: str) -> list[str]:
    """Paths of templates that may document ``env_relpath``, most conventional first."""
    folder, name = posixpath.split(env_relpath)
    if _TEMPLATE_WORDS.search(name):
        return []
    names: list[str] = [f"{name}.{suffix}" for suffix in _TEMPLATE_SUFFIXES]
    # .env.prod-sample, .env_example, app.env-template
    names += [f"{name}{sep}{suffix}" for sep in ("-", "_") for suffix in _TEMPLATE_SUFFIXES[:4]]
    if name == ".env":
        names += ["env.example", "env.sample", "env.template", "example.env", "sample.env"]
    elif name.startswith(".env."):
        variant = name[len(".env."):]              # .env.production
        names += [f".env.example.{variant}", f".env.{variant}-example", f"{variant}.env.example",
                  f"env.{variant}.example"]
    elif name.endswith(".env"):
        stem = name[:-len(".env")]                 # prod.env
        names += [f"{stem}.example.env", f"{stem}.sample.env", f"{stem}.env.example"]
    seen: set[str] = set()
    out: list[str] = []
    for candidate in names:
        path = posixpath.join(folder, candidate) if folder else candidate
        if path not in seen:
            seen.add(path)
            out.append(path)
    return out


def template_for(project: Project, env_relpath: str) -> list[str]:
    """The existing templates (``.env.example``, ``.env.production.example``...) of an env file."""
    return [path for path in template_candidates(env_relpath) if path in project.tree.files]


__all__ = ["EnvEntry", "EnvFile", "VarRef", "VarUse", "parse", "template_candidates", "template_for"]

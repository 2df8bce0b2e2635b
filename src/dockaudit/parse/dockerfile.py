"""Dockerfiles (and Containerfiles), split into instructions the way BuildKit does it.

The splitter is our own (dockerfile-parse has 0-based lines, no columns, no heredocs, mangles
``${VAR:-default}``, drops an instruction continued at the end of the file and breaks on a BOM;
its ``WordSplitter`` always escapes with a backslash whatever ``# escape=`` says, gives no
offsets, and stops a ``${`` name at the first non-name character, so it is not used either).
It follows BuildKit's ``frontend/dockerfile/parser`` behaviour, checked against its source:

- Parser directives (``# syntax=``, ``# escape=``, ``# check=``) are read only from the comment
  lines at the very top; the first other line (a blank line too) ends them. A repeated directive
  or an ``escape`` other than ``\\`` or a backtick is an error.
- A line whose first non-blank character is ``#`` is a comment, also inside a continuation.
  ``#`` anywhere else is not a comment (see rule DA104).
- A line ending with the escape character (trailing spaces and tabs allowed), not itself
  escaped, continues on the next line; the escape character is removed and the pieces are joined
  without adding anything. Blank and comment lines inside a continuation are skipped. A
  continuation still open at the end of the file ends the instruction there.
- Flags (``--from=``, ``--mount=`` ...) are the leading words that start with ``--``.
- ``RUN``, ``CMD``, ``ENTRYPOINT``, ``SHELL``, ``COPY``, ``ADD`` and ``VOLUME`` take a JSON array
  (exec form); an argument that is not valid JSON is shell form, a JSON array with a non-string
  element is an error.
- ``RUN``, ``COPY`` and ``ADD`` in shell form (also under ``ONBUILD``) read heredocs: every word
  of the line of the form ``<<NAME``, ``<<-NAME`` (leading tabs stripped) or ``<<"NAME"`` /
  ``<<'NAME'`` (quoted: no expansion), in order, each body ending at a line equal to ``NAME``.

Every instruction, flag, stage and heredoc carries a :class:`~dockaudit.source.Span`; columns are
exact also on continuation lines. Problems Docker would refuse (unknown instruction, unterminated
heredoc, bad ``FROM``, an instruction before the first ``FROM`` ...) become ``DA001`` findings in
:attr:`Dockerfile.diagnostics`; parsing goes on with the next instruction.

:func:`expand` implements Docker's variable substitution (``$VAR``, ``${VAR}``, ``${VAR:-x}``,
``${VAR-x}``, ``${VAR:+x}``, ``${VAR+x}``, ``${VAR:?x}``, ``${VAR#p}``, ``${VAR%p}``,
``${VAR/p/r}``) with quotes and escapes, and :meth:`Stage.env_at` the ARG/ENV scope rules
(global ARGs are visible in ``FROM`` only, unless re-declared with ``ARG NAME`` in a stage; a
stage inherits the ENV, USER and WORKDIR of the stage it is built ``FROM``).
"""

from __future__ import annotations

import bisect
import difflib
import json
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from dockaudit.findings import Finding
from dockaudit.source import SourceFile, Span

PARSE_ERROR = "DA001"

#: every instruction BuildKit knows
KNOWN_INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
#: instructions that may take a JSON array (exec form)
JSON_INSTRUCTIONS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
#: instructions whose shell form reads heredocs
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
#: instructions that refuse to run without arguments
NEEDS_ARGUMENTS = frozenset({"ADD", "ARG", "COPY", "ENV", "FROM", "LABEL", "ONBUILD", "SHELL", "USER",
                             "WORKDIR", "EXPOSE", "VOLUME", "STOPSIGNAL", "MAINTAINER", "HEALTHCHECK"})
#: ARGs BuildKit defines by itself in the global scope (usable in FROM without declaring them)
BUILTIN_ARGS = frozenset({
    "BUILDPLATFORM", "BUILDOS", "BUILDOSVERSION", "BUILDARCH", "BUILDVARIANT",
    "TARGETPLATFORM", "TARGETOS", "TARGETOSVERSION", "TARGETARCH", "TARGETVARIANT", "TARGETSTAGE",
})
KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
#: instructions read per file; the rest is not checked (a DA001 says so). No real Dockerfile
#: comes near this, and each instruction costs every rule some work: a 5 MB file of one-line
#: RUNs would otherwise take minutes
MAX_INSTRUCTIONS = 1_000

_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
#: the separator BuildKit splits keyword and arguments on (``reWhitespace``)
_SEP = " \t\v\f\r"
_SEP_RUN = re.compile(r"[\t\v\f\r ]+")
_WORD_CHARS = frozenset("_-.")


# --- the document model ----------------------------------------------------------------------


@dataclass
class Flag:
    """A ``--name=value`` (or bare ``--name``) flag of an instruction; quotes already removed."""

    name: str
    value: str | None
    span: Span


@dataclass
class Heredoc:
    """One heredoc attached to a RUN/COPY/ADD instruction.

    ``body`` is the content as Docker uses it: every line followed by ``\\n``, leading tabs
    removed when ``strip_tabs`` (``<<-``). ``quoted`` means the delimiter was quoted, so Docker
    does not expand variables in the body. ``span`` covers the body and the terminator line;
    ``marker_span`` the ``<<NAME`` word on the instruction line.
    """

    delimiter: str
    body: str
    quoted: bool
    strip_tabs: bool
    span: Span
    marker_span: Span | None = None
    terminated: bool = True
    #: per body line: (offset of the line in ``body``, source offset of that text)
    _line_map: list[tuple[int, int]] = field(default_factory=list, repr=False)

    def source_offset(self, body_offset: int) -> int:
        """The source offset of a character offset into :attr:`body`."""
        if not self._line_map:
            return 0
        index = bisect.bisect_right([start for start, _ in self._line_map], body_offset) - 1
        start, src = self._line_map[max(index, 0)]
        return src + max(body_offset - start, 0)


@dataclass
class KeyValue:
    """One ``key=value`` (or legacy ``key value``, or bare ``NAME`` of ARG) of ENV/LABEL/ARG.

    ``value`` is the raw text (quotes and escapes as written; ``None`` for ``ARG NAME``); use
    :func:`expand` (or :meth:`Stage.env_at`) for what Docker makes of it.
    """

    key: str
    value: str | None
    span: Span
    key_span: Span
    value_span: Span | None
    legacy: bool = False


@dataclass(eq=False)
class Instruction:
    """One instruction; ``span`` runs from the keyword to the end of its last physical line."""

    keyword: str
    span: Span
    keyword_span: Span
    flags: list[Flag]
    value: str
    json_args: list[str] | None
    heredocs: list[Heredoc]
    stage: int
    raw: str
    #: the keyword as written (``run``)
    written_keyword: str = ""
    #: the logical line: physical lines joined as Docker joins them, from the keyword on
    line: str = ""
    #: offset of :attr:`value` inside :attr:`line`
    value_offset: int = 0
    escape: str = "\\"
    source: SourceFile | None = field(default=None, repr=False)
    #: (offset in ``line``, source offset) of each joined piece
    _segments: list[tuple[int, int]] = field(default_factory=list, repr=False)

    # --- flags ---------------------------------------------------------------------------

    def flag(self, name: str) -> str | None:
        """The value of the last ``--name`` flag ("" for a bare ``--name``), or None."""
        values = self.flag_all(name)
        return values[-1] if values else None

    def flag_all(self, name: str) -> list[str]:
        """Values of every ``--name`` flag, in order ("" for a bare flag)."""
        name = name.lstrip("-")
        return [f.value if f.value is not None else "" for f in self.flags if f.name == name]

    def flag_objects(self, name: str) -> list[Flag]:
        name = name.lstrip("-")
        return [f for f in self.flags if f.name == name]

    # --- forms ---------------------------------------------------------------------------

    @property
    def is_exec_form(self) -> bool:
        return self.json_args is not None

    @property
    def first_line(self) -> int:
        return self.span.line

    @cached_property
    def args(self) -> list[str]:
        """The arguments: the JSON array in exec form, else :attr:`value` split on whitespace."""
        if self.json_args is not None:
            return list(self.json_args)
        return [w for w, _, _ in _split_ws(self.value)]

    @cached_property
    def arg_spans(self) -> list[tuple[str, Span]]:
        """Whitespace-separated words of :attr:`value` with their spans (shell form)."""
        return [(w, self.value_span(s, e)) for w, s, e in _split_ws(self.value)]

    @property
    def onbuild_keyword(self) -> str | None:
        """For ``ONBUILD RUN ...``: ``RUN``."""
        if self.keyword != "ONBUILD" or not self.value:
            return None
        return _SEP_RUN.split(self.value, 1)[0].upper()

    # --- positions -----------------------------------------------------------------------

    def source_offset(self, line_offset: int) -> int:
        """Source offset of a character offset into :attr:`line` (exact on continuation lines)."""
        if not self._segments:
            return 0
        index = bisect.bisect_right(self._segments, (line_offset, float("inf"))) - 1
        start, src = self._segments[max(index, 0)]
        return src + max(line_offset - start, 0)

    def span_of(self, start: int, end: int) -> Span:
        """The span of ``line[start:end]``."""
        if self.source is None:
            return self.keyword_span
        first = self.source_offset(start)
        last = self.source_offset(end - 1) + 1 if end > start else first
        return self.source.span_of_offsets(first, last)

    def value_span(self, start: int = 0, end: int | None = None) -> Span:
        """The span of ``value[start:end]``."""
        if end is None:
            end = len(self.value)
        return self.span_of(self.value_offset + start, self.value_offset + end)

    def locate(self, needle: str) -> Span:
        """Span of the first whole-word occurrence of ``needle`` in this instruction.

        Searches the joined line (runs of whitespace in ``needle`` match any whitespace, so a
        needle may straddle a continuation) and then the heredoc bodies. Falls back to
        :attr:`keyword_span`.
        """
        if not needle or not needle.strip():
            return self.keyword_span
        pattern = _needle_pattern(needle)
        match = pattern.search(self.line, self.value_offset if self.value_offset <= len(self.line) else 0)
        if match is None:
            match = pattern.search(self.line)
        if match is not None:
            return self.span_of(match.start(), match.end())
        if self.source is not None:
            for heredoc in self.heredocs:
                match = pattern.search(heredoc.body)
                if match is not None:
                    start = heredoc.source_offset(match.start())
                    end = heredoc.source_offset(match.end() - 1) + 1
                    return self.source.span_of_offsets(start, end)
        return self.keyword_span

    # --- ENV / LABEL / ARG ---------------------------------------------------------------

    @cached_property
    def key_values(self) -> list[KeyValue]:
        """The pairs of an ENV, LABEL or ARG instruction ([] for other instructions)."""
        if self.keyword not in ("ENV", "LABEL", "ARG"):
            return []
        return _key_values(self, [])


def _needle_pattern(needle: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in needle.split()]
    body = r"\s+".join(parts)
    head = r"(?<![\w\-.])" if (needle.strip()[0].isalnum() or needle.strip()[0] in _WORD_CHARS) else ""
    tail = r"(?![\w\-.])" if (needle.strip()[-1].isalnum() or needle.strip()[-1] in _WORD_CHARS) else ""
    return re.compile(head + body + tail)


@dataclass(eq=False)
class Stage:
    """A build stage: its ``FROM`` and the instructions after it.

    ``name`` is as written (Docker compares stage names case-insensitively); ``base`` is the
    image as written and ``base_image`` the same after expanding the global ARG defaults;
    ``parent`` is the earlier stage ``base_image`` names, if any.
    """

    index: int
    name: str | None
    base: str
    base_image: str
    base_span: Span
    platform: str | None
    parent: Stage | None
    from_instruction: Instruction
    instructions: list[Instruction]
    name_span: Span | None = None
    dockerfile: Dockerfile | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Stage({self.index}, name={self.name!r}, base={self.base!r})"

    @property
    def key(self) -> str | None:
        """The lower-cased name Docker registers the stage under."""
        return self.name.lower() if self.name else None

    @property
    def label(self) -> str:
        """How to mention the stage in a message."""
        return f"stage {self.name!r}" if self.name else f"stage {self.index} (FROM {self.base})"

    def ancestors(self) -> list[Stage]:
        """The parent chain, nearest first."""
        chain: list[Stage] = []
        current = self.parent
        while current is not None and current not in chain:
            chain.append(current)
            current = current.parent
        return chain

    @property
    def root(self) -> Stage:
        """The first stage of the parent chain (the one built on an external image or scratch)."""
        chain = self.ancestors()
        return chain[-1] if chain else self

    @property
    def is_scratch(self) -> bool:
        return self.root.base_image.strip().lower() == "scratch"

    @property
    def uses_external_image(self) -> bool:
        """True when the stage itself is built on a registry image (not scratch, not a stage)."""
        return self.parent is None and self.base_image.strip().lower() != "scratch"

    @property
    def external_image(self) -> str | None:
        """The registry image at the root of the parent chain (None for scratch)."""
        root = self.root
        return None if root.base_image.strip().lower() == "scratch" else root.base_image

    def instructions_of(self, *keywords: str) -> list[Instruction]:
        wanted = {k.upper() for k in keywords}
        return [i for i in self.instructions if i.keyword in wanted]

    # --- scope ---------------------------------------------------------------------------

    @cached_property
    def _scope(self) -> _Scope:
        return _replay(self, None)

    def scope(self, build_args: Mapping[str, str] | None = None) -> _Scope:
        """The replayed ARG/ENV/USER/WORKDIR state; ``build_args`` as ``--build-arg`` gives them."""
        if not build_args:
            return self._scope
        return _replay(self, build_args)

    def env_at(self, instruction: Instruction | None = None,
               build_args: Mapping[str, str] | None = None) -> dict[str, str | None]:
        """ARG and ENV values visible when ``instruction`` runs (None: at the end of the stage).

        ENV wins over an ARG of the same name. An ARG declared without a value (and not given
        in ``build_args``) maps to None. For the stage's FROM, the global ARG scope.
        """
        scope = self.scope(build_args)
        if instruction is self.from_instruction:
            return dict(scope.global_scope)
        if instruction is not None and instruction in scope.before:
            return dict(scope.before[instruction])
        return dict(scope.visible)

    @property
    def env(self) -> dict[str, str]:
        """ENV values in effect at the end of the stage (inherited from a parent stage)."""
        return dict(self._scope.env)

    @property
    def env_definitions(self) -> dict[str, Instruction]:
        """For each ENV name in effect, the ENV instruction that set it (maybe in a parent)."""
        return dict(self._scope.env_defined_by)

    @property
    def args(self) -> dict[str, str | None]:
        """ARGs declared in this stage, with their effective default (None when unset)."""
        return dict(self._scope.args)

    @property
    def user(self) -> str | None:
        """The last USER (inherited from a parent stage), or None."""
        return self._scope.user

    @property
    def workdir(self) -> str:
        """The final absolute WORKDIR (inherited from a parent stage; "/" by default)."""
        return self._scope.workdir

    def resolve_base(self, build_args: Mapping[str, str] | None = None) -> str:
        """``base`` expanded with the global ARGs, overridden by ``build_args``."""
        if not build_args or self.dockerfile is None:
            return self.base_image
        return expand(self.base, self.dockerfile.global_scope(build_args), self.dockerfile.escape)


@dataclass
class _Scope:
    global_scope: dict[str, str | None]
    before: dict[Instruction, dict[str, str | None]]
    visible: dict[str, str | None]
    env: dict[str, str]
    env_defined_by: dict[str, Instruction]
    args: dict[str, str | None]
    user: str | None
    workdir: str


@dataclass(eq=False)
class Dockerfile:
    """A parsed Dockerfile."""

    source: SourceFile
    path: str
    directives: dict[str, str]
    escape: str
    instructions: list[Instruction]
    global_args: list[Instruction]
    global_arg_defaults: dict[str, str | None]
    stages: list[Stage]
    diagnostics: list[Finding]

    def stage(self, key: str | int) -> Stage | None:
        """A stage by name (case-insensitive) or index (an int or a string of digits)."""
        if isinstance(key, int) or (isinstance(key, str) and key.isascii() and key.isdigit()):
            index = int(key)
            return self.stages[index] if 0 <= index < len(self.stages) else None
        lowered = key.lower()
        found = None
        for stage in self.stages:
            if stage.key == lowered:
                found = stage  # Docker keeps the last stage of a duplicated name
        return found

    @property
    def final_stage(self) -> Stage | None:
        return self.stages[-1] if self.stages else None

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages if s.name]

    @cached_property
    def _line_index(self) -> tuple[list[int], list[Instruction]]:
        ordered = sorted(self.instructions, key=lambda i: i.span.line)
        return [i.span.line for i in ordered], ordered

    def instruction_at(self, line: int) -> Instruction | None:
        """The instruction whose lines (heredoc bodies included) contain ``line``."""
        starts, ordered = self._line_index
        index = bisect.bisect_right(starts, line) - 1
        if index < 0:
            return None
        inst = ordered[index]
        return inst if inst.span.line <= line <= inst.span.end_line else None

    def anchor_lines(self, line: int) -> list[int]:
        """The first line of the instruction containing ``line`` (for suppression pragmas)."""
        inst = self.instruction_at(line)
        return [inst.span.line] if inst is not None else []

    def global_scope(self, build_args: Mapping[str, str] | None = None) -> dict[str, str | None]:
        """Variables visible in FROM lines: global ARGs (``build_args`` override defaults)."""
        if not build_args:
            return dict(self.global_arg_defaults)
        return _global_values(self.global_args, build_args, self.escape)

    def stages_using(self, stage: Stage) -> list[Stage]:
        """Stages built FROM ``stage`` (directly)."""
        return [s for s in self.stages if s.parent is stage]


# --- variable expansion ----------------------------------------------------------------------


@dataclass(frozen=True)
class VarRef:
    """A ``$NAME`` / ``${NAME...}`` reference found by :func:`variable_references`.

    ``modifier`` is ``""`` for plain references, else ``:-``, ``-``, ``:+``, ``+``, ``:?``, ``?``,
    ``#``, ``##``, ``%``, ``%%``, ``/``; ``depth`` is 0 at top level, 1 inside another reference's
    word.
    """

    name: str
    start: int
    end: int
    modifier: str = ""
    word: str = ""
    depth: int = 0

    @property
    def has_default(self) -> bool:
        return self.modifier in (":-", "-")


class _Expander:
    """Docker's shell-word processing (BuildKit ``shell.Lex``), written for our needs.

    Never raises: syntax errors (``${``, bad modifier, unterminated quote) give the best value.
    """

    def __init__(self, text: str, variables: Mapping[str, str | None], escape: str, dequote: bool,
                 refs: list[VarRef] | None = None) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.vars = variables
        self.escape = escape
        self.dequote = dequote
        self.refs = refs
        self.depth = 0

    def get(self, name: str) -> tuple[str, bool]:
        value = self.vars.get(name) if name else None
        return (value, True) if value is not None else ("", False)

    def run(self, stop: str | None = None, raw_escapes: bool = False) -> str:
        s = self.s
        out: list[str] = []
        while self.i < self.n:
            ch = s[self.i]
            if stop is not None and ch == stop:
                self.i += 1
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            if ch == "'" and self.dequote:
                out.append(self.single_quote())
                continue
            if ch == '"' and self.dequote:
                out.append(self.double_quote())
                continue
            if ch == "'":  # raw mode: single quotes still stop expansion, and are kept
                end = s.find("'", self.i + 1)
                end = self.n if end == -1 else end + 1
                out.append(s[self.i:end])
                self.i = end
                continue
            self.i += 1
            if ch == self.escape:
                if self.i >= self.n:
                    break
                if raw_escapes or not self.dequote:
                    out.append(ch)
                out.append(s[self.i])
                self.i += 1
                continue
            out.append(ch)
        return "".join(out)

    def single_quote(self) -> str:
        end = self.s.find("'", self.i + 1)
        if end == -1:  # unterminated: Docker errors; keep the rest
            text = self.s[self.i + 1:]
            self.i = self.n
            return text
        text = self.s[self.i + 1:end]
        self.i = end + 1
        return text

    def double_quote(self) -> str:
        s = self.s
        self.i += 1
        out: list[str] = []
        while self.i < self.n:
            ch = s[self.i]
            if ch == '"':
                self.i += 1
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.i += 1
            if ch == self.escape and self.i < self.n and s[self.i] in ('"', "$", self.escape):
                ch = s[self.i]
                self.i += 1
            elif ch == self.escape and self.i >= self.n:
                continue
            out.append(ch)
        return "".join(out)

    def name(self) -> str:
        s = self.s
        if self.i >= self.n:
            return ""
        ch = s[self.i]
        if ch.isdigit():
            start = self.i
            while self.i < self.n and s[self.i].isdigit():
                self.i += 1
            return s[start:self.i]
        if ch in "@*#?-$!0":
            self.i += 1
            return ch
        start = self.i
        while self.i < self.n and (s[self.i].isalnum() or s[self.i] == "_"):
            self.i += 1
        return s[start:self.i]

    def _record(self, name: str, start: int, modifier: str = "", word: str = "") -> None:
        if self.refs is not None and name:
            self.refs.append(VarRef(name, start, self.i, modifier, word, self.depth))

    def _skip_to_brace(self) -> None:
        end = self.s.find("}", self.i)
        self.i = self.n if end == -1 else end + 1

    def dollar(self) -> str:
        s = self.s
        start = self.i
        self.i += 1
        if self.i >= self.n or s[self.i] != "{":
            name = self.name()
            if not name:
                return "$"
            self._record(name, start)
            return self.get(name)[0]
        self.i += 1
        if self.i >= self.n:
            return ""
        if s[self.i] in "{}:":
            self._skip_to_brace()
            return ""
        name = self.name()
        if self.i >= self.n:
            self._record(name, start)
            return ""
        ch = s[self.i]
        self.i += 1
        if ch == "}":
            self._record(name, start)
            return self.get(name)[0]
        modifier = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            if self.i >= self.n:
                return ""
            ch = s[self.i]
            self.i += 1
            modifier = ":" + ch
        if ch in "+-?" or (ch in "#%" and not null_is_unset):
            if ch in "#%" and self.i < self.n and s[self.i] == ch:
                modifier += ch
                self.i += 1
            self.depth += 1
            word = self.run(stop="}", raw_escapes=ch in "#%")
            self.depth -= 1
            self._record(name, start, modifier, word)
            value, is_set = self.get(name)
            empty = not is_set or (null_is_unset and value == "")
            if ch == "-":
                return word if empty else value
            if ch == "+":
                return "" if empty else word
            if ch == "?":
                return "" if empty else value
            return _trim_pattern(value, word, suffix=ch == "%", greedy=len(modifier) == 2)
        if ch == "/" and not null_is_unset:
            replace_all = self.i < self.n and s[self.i] == "/"
            if replace_all:
                self.i += 1
            self.depth += 1
            pattern = self.run(stop="/", raw_escapes=True)
            replacement = self.run(stop="}", raw_escapes=True)
            self.depth -= 1
            self._record(name, start, "/", pattern)
            value = self.get(name)[0]
            regex = _glob_regex(pattern, greedy=True)
            if regex is None:
                return value
            return regex.sub(lambda _m: replacement, value, count=0 if replace_all else 1)
        self._skip_to_brace()
        self._record(name, start, modifier)
        return ""


def _glob_regex(pattern: str, greedy: bool, anchored: bool = False) -> re.Pattern[str] | None:
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\" and i < len(pattern):
            out.append(re.escape(pattern[i]))
            i += 1
        else:
            out.append(re.escape(ch))
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return None


def _trim_pattern(value: str, pattern: str, suffix: bool, greedy: bool) -> str:
    if suffix:
        # match the reversed pattern against the reversed value, like BuildKit does
        reversed_pattern = "".join(reversed(pattern))
        regex = _glob_regex(reversed_pattern, greedy, anchored=True)
        if regex is None:
            return value
        match = regex.match(value[::-1])
        return value[::-1][match.end():][::-1] if match else value
    regex = _glob_regex(pattern, greedy, anchored=True)
    if regex is None:
        return value
    match = regex.match(value)
    return value[match.end():] if match else value


def expand(text: str, variables: Mapping[str, str | None], escape: str = "\\", *,
           dequote: bool = True) -> str:
    """Expand ``text`` as Docker expands a word of ENV, ARG, LABEL, FROM, COPY, WORKDIR, USER ...

    ``$VAR``, ``${VAR}``, ``${VAR:-x}``/``${VAR-x}`` (default when unset-or-empty / unset),
    ``${VAR:+x}``/``${VAR+x}`` (alternative when set), ``${VAR:?x}``/``${VAR?x}`` (error in
    Docker; "" here), ``${VAR#p}``, ``${VAR##p}``, ``${VAR%p}``, ``${VAR%%p}``, ``${VAR/p/r}``.
    A variable that is missing or maps to None is unset and expands to "". With ``dequote``
    (Docker's behaviour) quotes are removed and escapes processed: nothing expands inside single
    quotes, and in double quotes the escape character only escapes ``"``, ``$`` and itself.
    ``dequote=False`` keeps quotes and escapes in the result (still no expansion in ``'...'``).
    Never raises.
    """
    if "$" not in text and (not dequote or not any(c in text for c in ("'", '"', escape))):
        return text
    return _Expander(text, variables, escape or "\\", dequote).run()


def variable_references(text: str, escape: str = "\\") -> list[VarRef]:
    """Every ``$NAME``/``${NAME...}`` in ``text`` that Docker would expand (not in single quotes,
    not escaped), with offsets into ``text``."""
    if "$" not in text:
        return []
    refs: list[VarRef] = []
    _Expander(text, {}, escape or "\\", True, refs).run()
    refs.sort(key=lambda r: r.start)
    return refs


# --- words -----------------------------------------------------------------------------------


def _split_ws(text: str) -> list[tuple[str, int, int]]:
    """Split on BuildKit's whitespace set, with offsets (no quote handling, like Docker)."""
    return [(m.group(), m.start(), m.end()) for m in re.finditer(r"[^\t\v\f\r ]+", text)]


def split_words(text: str, escape: str = "\\") -> list[tuple[str, int, int]]:
    """Docker's word splitting for ENV/LABEL/ARG: whitespace outside quotes separates words;
    quotes and escapes stay in the word. Returns ``(word, start, end)``."""
    words: list[tuple[str, int, int]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        quote: str | None = None
        while i < n:
            ch = text[i]
            if quote is None:
                if ch.isspace():
                    break
                if ch in ("'", '"'):
                    quote = ch
                elif ch == escape:
                    i += 1
            elif ch == quote:
                quote = None
            elif ch == escape and quote != "'":
                i += 1
            i += 1
        i = min(i, n)
        words.append((text[start:i], start, i))
    return words


def _key_values(inst: Instruction, diagnostics: list[Finding]) -> list[KeyValue]:
    """Pairs of ENV/LABEL (``parseNameVal``) or ARG (``parseNameOrNameVal``)."""
    value = inst.value
    words = split_words(value, inst.escape)
    if not words:
        return []
    pairs: list[KeyValue] = []

    def pair(key: str, key_start: int, raw: str | None, value_start: int, end: int, legacy: bool) -> KeyValue:
        key_end = key_start + len(key)
        return KeyValue(
            key=key,
            value=raw,
            span=inst.value_span(key_start, end),
            key_span=inst.value_span(key_start, key_end),
            value_span=None if raw is None else inst.value_span(value_start, end),
            legacy=legacy,
        )

    if inst.keyword == "ARG":
        for word, start, end in words:
            if "=" in word:
                key, raw = word.split("=", 1)
                if not key:
                    diagnostics.append(_error(inst.value_span(start, end), "ARG names can't be blank"))
                    continue
                pairs.append(pair(key, start, raw, start + len(key) + 1, end, False))
            else:
                pairs.append(pair(word, start, None, end, end, False))
        return pairs

    first, start0, _ = words[0]
    if "=" not in first:
        parts = _SEP_RUN.split(value, maxsplit=1)
        if len(parts) < 2 or not parts[1]:
            diagnostics.append(_error(inst.keyword_span, f"{inst.keyword} {first} has no value: write "
                                      f"`{inst.keyword} {first}=value`"))
            return []
        rest_start = value.find(parts[1], len(parts[0]))
        pairs.append(pair(first, start0, parts[1], rest_start, len(value), True))
        return pairs
    for word, start, end in words:
        if word.startswith("#"):
            break  # an inline comment: rule DA104 reports it
        if "=" not in word:
            diagnostics.append(_error(
                inst.value_span(start, end),
                f"{inst.keyword} expects name=value pairs; `{word}` has no `=` (Docker refuses the line)"))
            break
        key, raw = word.split("=", 1)
        if not key:
            diagnostics.append(_error(inst.value_span(start, end), f"{inst.keyword} names can't be blank"))
            continue
        pairs.append(pair(key, start, raw, start + len(key) + 1, end, False))
    return pairs


# --- the splitter ----------------------------------------------------------------------------


def _error(span: Span, message: str) -> Finding:
    return Finding(span=span, message=message, rule=PARSE_ERROR)


def _unknown_message(written: str, escape: str) -> str:
    message = f"unknown instruction `{written}`"
    close = difflib.get_close_matches(written.upper(), sorted(KNOWN_INSTRUCTIONS), n=1, cutoff=0.75)
    if close and written.isalpha():
        return f"{message}; did you mean `{close[0]}`?"
    if not written.isupper():
        return (f"{message}: Docker reads each line as a new instruction unless the line above ends "
                f"with `{escape}`; is a `{escape}` missing there?")
    return message


def _is_comment(line: str) -> bool:
    stripped = line.lstrip()
    return bool(stripped) and stripped[0] == "#"


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """(line without a trailing escape, continues?) — BuildKit's ``lineContinuationRegex``."""
    stripped = line.rstrip(" \t")
    if stripped.endswith(escape) and (len(stripped) == 1 or stripped[-2] != escape):
        return stripped[:-1], True
    return line, False


def _builder_flags(text: str, escape: str) -> tuple[list[tuple[str, int, int]], int]:
    """BuildKit's ``extractBuilderFlags``: leading ``--`` words (dequoted) with offsets, and the
    offset where the arguments start."""
    words: list[tuple[str, int, int]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return words, n
        if not (text[i] == "-" and i + 1 < n and text[i + 1] == "-"):
            return words, i
        start = i
        out: list[str] = []
        quote: str | None = None
        while i < n:
            ch = text[i]
            if quote is None:
                if ch.isspace():
                    break
                if ch in ("'", '"'):
                    quote = ch
                    i += 1
                    continue
                if ch == escape:
                    i += 1
                    if i >= n:
                        break
                    ch = text[i]
            else:
                if ch == quote:
                    quote = None
                    i += 1
                    continue
                if ch == escape:
                    i += 1
                    if i >= n:
                        break
                    ch = text[i]
            out.append(ch)
            i += 1
        word = "".join(out)
        if word == "--":
            return words, i
        words.append((word, start, i))


def _heredoc_words(line: str) -> list[tuple[str, int, int]]:
    """Words of the line as BuildKit's heredoc scan sees them (quotes and escapes kept, ``<<``
    joined with the blanks after it)."""
    words: list[tuple[str, int, int]] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        start = i
        quote: str | None = None
        while i < n:
            ch = line[i]
            if quote is None:
                if ch.isspace():
                    break
                if ch in ("'", '"'):
                    quote = ch
                elif ch == "\\":
                    i += 1
                elif ch == "<" and line.startswith("<<", i):
                    i += 2
                    while i < n and line[i] in " \t":
                        i += 1
                    continue
            elif ch == quote:
                quote = None
            elif ch == "\\" and quote == '"':
                i += 1
            i += 1
        i = min(i, n)
        words.append((line[start:i], start, i))
    return words


def _dequote_simple(text: str) -> tuple[str, int]:
    """Remove quotes and backslash escapes; returns the text and how many quote chars went."""
    out: list[str] = []
    removed = 0
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        i += 1
        if quote is None and ch in ("'", '"'):
            quote = ch
            removed += 1
            continue
        if quote is not None and ch == quote:
            quote = None
            removed += 1
            continue
        if ch == "\\" and quote != "'" and i < len(text):
            ch = text[i]
            i += 1
        out.append(ch)
    return "".join(out), removed


def parse_heredoc_marker(word: str) -> tuple[str, bool, bool] | None:
    """``<<EOF``-style word → (delimiter, quoted, strip_tabs), else None (BuildKit's rule)."""
    match = _HEREDOC_WORD.match(word)
    if not match or not match.group(3):
        return None
    rest = match.group(3)
    name, removed = _dequote_simple(rest)
    if not name or any(c.isspace() for c in name):
        return None
    return name, removed > 0, match.group(2) == "-"


class _Parser:
    def __init__(self, source: SourceFile) -> None:
        self.source = source
        text = source.text
        self.text = text
        self.lines = text.split("\n")
        starts = [0]
        for line in self.lines[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        self.starts = starts
        #: physical lines; the empty string after a final newline is not a line
        self.count = len(self.lines) - 1 if text.endswith("\n") else len(self.lines)
        self.escape = "\\"
        self.directives: dict[str, str] = {}
        self.diagnostics: list[Finding] = []

    def line(self, index: int) -> str:
        line = self.lines[index]
        return line[:-1] if line.endswith("\r") else line

    def lead(self, index: int) -> int:
        """Characters to skip at the start of a line (a BOM on the first line)."""
        return 1 if index == 0 and self.lines[0].startswith("\ufeff") else 0

    def run(self) -> Dockerfile:
        instructions: list[Instruction] = []
        index, count = 0, self.count
        in_directives = True
        while index < count:
            skip = self.lead(index)
            line = self.line(index)[skip:]
            stripped = line.lstrip()
            if in_directives:
                if self._directive(index, skip, line):
                    index += 1
                    continue
                in_directives = False
            if not stripped or stripped[0] == "#":
                index += 1
                continue
            inst, index = self._instruction(index)
            if inst is not None:
                if len(instructions) == MAX_INSTRUCTIONS:
                    self.diagnostics.append(_error(
                        inst.keyword_span, f"more than {MAX_INSTRUCTIONS:,} instructions: dockaudit stops "
                        "reading this Dockerfile here; the rest of the file is not checked"))
                    break
                instructions.append(inst)
        return self._assemble(instructions)

    # --- directives ----------------------------------------------------------------------

    def _directive(self, index: int, skip: int, line: str) -> bool:
        stripped = line.lstrip()
        if not stripped.startswith("#"):
            return False
        match = _DIRECTIVE.match(stripped[1:].lstrip())
        if not match or match.group(1).lower() not in KNOWN_DIRECTIVES:
            return False
        name, value = match.group(1).lower(), match.group(2)
        column = skip + len(line) - len(stripped) + 1
        span = self.source.span(index + 1, column)
        if name in self.directives:
            self.diagnostics.append(_error(span, f"only one `{name}` parser directive can be used"))
            return True
        self.directives[name] = value
        if name == "escape":
            if value in ("\\", "`"):
                self.escape = value
            else:
                self.diagnostics.append(_error(
                    span, f"invalid escape character {value!r}: the escape directive takes \\ or a backtick"))
        return True

    # --- one instruction -----------------------------------------------------------------

    def _instruction(self, index: int) -> tuple[Instruction | None, int]:
        escape = self.escape
        count = self.count
        segments: list[tuple[int, int]] = []
        pieces: list[str] = []
        length = 0

        def add(piece: str, src: int) -> None:
            nonlocal length
            if piece:
                segments.append((length, src))
                pieces.append(piece)
                length += len(piece)

        skip = self.lead(index)
        raw = self.line(index)
        first = raw[skip:]
        indent = len(first) - len(first.lstrip())
        piece, more = _trim_continuation(first[indent:], escape)
        add(piece, self.starts[index] + skip + indent)
        last = index
        index += 1
        while more and index < count:
            line = self.line(index)
            last = index
            index += 1
            if _is_comment(line) or not line.strip():
                continue
            piece, more = _trim_continuation(line, escape)
            add(piece, self.starts[index - 1])
        logical = "".join(pieces)
        if not logical.strip():
            return None, index

        kw_start = len(logical) - len(logical.lstrip())
        kw_match = re.match(r"[^\t\v\f\r ]+", logical[kw_start:])
        kw_end = kw_start + (kw_match.end() if kw_match else 0)
        written = logical[kw_start:kw_end]
        keyword = written.upper()

        inst = Instruction(
            keyword=keyword, span=Span(self.source.path, 1), keyword_span=Span(self.source.path, 1),
            flags=[], value="", json_args=None, heredocs=[], stage=-1, raw="",
            written_keyword=written, line=logical, escape=escape, source=self.source,
            _segments=segments,
        )
        inst.keyword_span = inst.span_of(kw_start, kw_end)

        rest_start = kw_end
        while rest_start < len(logical) and logical[rest_start] in _SEP:
            rest_start += 1
        flag_words, args_at = _builder_flags(logical[rest_start:], escape)
        for word, start, end in flag_words:
            body = word[2:] if word.startswith("--") else word
            name, eq, value = body.partition("=")
            span = inst.span_of(rest_start + start, rest_start + end)
            inst.flags.append(Flag(name, value if eq else None, span))
        args_abs = rest_start + args_at
        value = logical[args_abs:]
        stripped_value = value.strip()
        inst.value_offset = args_abs + (len(value) - len(value.lstrip()))
        inst.value = stripped_value

        if keyword not in KNOWN_INSTRUCTIONS:
            self.diagnostics.append(_error(inst.keyword_span, _unknown_message(written, escape)))
        self._forms(inst)

        heredoc_keyword = keyword
        if keyword == "ONBUILD":
            heredoc_keyword = inst.onbuild_keyword or ""
        if (heredoc_keyword in HEREDOC_INSTRUCTIONS and inst.json_args is None and "<<" in logical):
            index, last = self._heredocs(inst, logical, index, last)

        end_line_text = self.line(last)
        end_offset = self.starts[last] + len(end_line_text)
        start_offset = inst.source_offset(kw_start)
        inst.span = self.source.span_of_offsets(start_offset, end_offset)
        inst.raw = self.text[start_offset:end_offset]
        return inst, index

    def _forms(self, inst: Instruction) -> None:
        keyword, value = inst.keyword, inst.value
        if keyword in NEEDS_ARGUMENTS and not value:
            self.diagnostics.append(_error(inst.keyword_span, f"{keyword} requires at least one argument"))
            return
        candidate = value
        if keyword in ("COPY", "ADD") and not value.startswith("[") and len(_split_ws(value)) < 2:
            self.diagnostics.append(_error(inst.value_span(), f"{keyword} requires at least two arguments "
                                           "(sources and a destination)"))
            return
        if keyword == "HEALTHCHECK":
            parts = _SEP_RUN.split(value, maxsplit=1)
            candidate = parts[1] if len(parts) == 2 and parts[0].upper() == "CMD" else ""
        elif keyword not in JSON_INSTRUCTIONS:
            return
        if not candidate.startswith("["):
            if keyword == "SHELL":
                self.diagnostics.append(_error(inst.value_span(), 'SHELL requires a JSON array, e.g. '
                                               'SHELL ["/bin/bash", "-o", "pipefail", "-c"]'))
            return
        try:
            parsed = json.loads(candidate)
        except (ValueError, RecursionError):  # arrays nested thousands deep: not an argv either
            if keyword == "SHELL":
                self.diagnostics.append(_error(inst.value_span(), "SHELL requires a valid JSON array"))
            return
        if not isinstance(parsed, list):
            return
        if not all(isinstance(item, str) for item in parsed):
            self.diagnostics.append(_error(
                inst.value_span(), f"{keyword}: when using JSON array syntax, arrays must be comprised "
                "of strings only"))
            return
        inst.json_args = parsed

    def _heredocs(self, inst: Instruction, logical: str, index: int, last: int) -> tuple[int, int]:
        count = self.count
        for word, start, end in _heredoc_words(logical):
            marker = parse_heredoc_marker(word)
            if marker is None:
                continue
            name, quoted, chomp = marker
            marker_span = inst.span_of(start, end)
            body_lines: list[tuple[int, str]] = []
            terminated = False
            while index < count:
                line = self.line(index)
                candidate = line.lstrip("\t") if chomp else line
                index += 1
                last = index - 1
                if candidate == name:
                    terminated = True
                    break
                body_lines.append((index - 1, line))
            parts: list[str] = []
            line_map: list[tuple[int, int]] = []
            offset = 0
            for number, line in body_lines:
                cut = len(line) - len(line.lstrip("\t")) if chomp else 0
                line_map.append((offset, self.starts[number] + cut))
                parts.append(line[cut:] + "\n")
                offset += len(line) - cut + 1
            if body_lines or terminated:
                first = body_lines[0][0] if body_lines else last
                span = self.source.span(first + 1, 1, last + 1, len(self.line(last)) + 1)
            else:
                span = marker_span
            inst.heredocs.append(Heredoc(
                delimiter=name, body="".join(parts), quoted=quoted, strip_tabs=chomp, span=span,
                marker_span=marker_span, terminated=terminated, _line_map=line_map,
            ))
            if not terminated:
                self.diagnostics.append(_error(
                    marker_span, f"unterminated heredoc: no line `{name}` ends the {inst.keyword} "
                    f"heredoc started here (Docker stops at the end of the file)"))
                break
        return index, last

    # --- stages --------------------------------------------------------------------------

    def _assemble(self, instructions: list[Instruction]) -> Dockerfile:
        path = self.source.path
        global_args: list[Instruction] = []
        stages: list[Stage] = []
        by_name: dict[str, Stage] = {}
        before_from: list[Finding] = []
        document = Dockerfile(
            source=self.source, path=path, directives=self.directives, escape=self.escape,
            instructions=instructions, global_args=global_args, global_arg_defaults={},
            stages=stages, diagnostics=self.diagnostics,
        )
        for inst in instructions:
            if inst.keyword in ("ENV", "LABEL", "ARG"):
                inst.__dict__["key_values"] = _key_values(inst, self.diagnostics)
            if inst.keyword == "FROM":
                if not stages:
                    document.global_arg_defaults = _global_values(global_args, None, self.escape)
                stage = self._stage(inst, len(stages), document, by_name)
                stages.append(stage)
                if stage.key:
                    by_name[stage.key] = stage
                inst.stage = stage.index
                continue
            if not stages:
                inst.stage = -1
                if inst.keyword == "ARG":
                    global_args.append(inst)
                elif inst.keyword in KNOWN_INSTRUCTIONS:
                    before_from.append(_error(
                        inst.keyword_span, f"{inst.keyword} before the first FROM: only ARG may come "
                        "before FROM (Docker: no build stage in current context)"))
                continue
            inst.stage = stages[-1].index
            stages[-1].instructions.append(inst)
        if stages:
            self.diagnostics.extend(before_from)
        else:
            document.global_arg_defaults = _global_values(global_args, None, self.escape)
            if not any(i.keyword not in KNOWN_INSTRUCTIONS for i in instructions):
                line = instructions[-1].span.end_line if instructions else 1
                self.diagnostics.append(_error(
                    Span(path, line, 1, line, 1),
                    "no FROM instruction: a Dockerfile must start a build stage with FROM"
                    if instructions else "file with no instructions"))
        self.diagnostics.sort(key=lambda f: (f.span.line, f.span.column))
        return document

    def _stage(self, inst: Instruction, index: int, document: Dockerfile, by_name: dict[str, Stage]) -> Stage:
        words = _split_ws(inst.value)
        name: str | None = None
        name_span: Span | None = None
        if words:
            base, b_start, b_end = words[0]
            base_span = inst.value_span(b_start, b_end)
        else:
            base, base_span = "", inst.keyword_span
        if len(words) == 3 and words[1][0].lower() == "as":
            name = words[2][0]
            name_span = inst.value_span(words[2][1], words[2][2])
            if not _STAGE_NAME.match(name.lower()):
                self.diagnostics.append(_error(
                    name_span, f"invalid stage name {name!r}: it must start with a letter and contain "
                    "only letters, digits, `-`, `_` and `.`"))
        elif len(words) not in (0, 1):
            self.diagnostics.append(_error(
                inst.value_span(), "FROM takes an image and optionally `AS name` (FROM image [AS name])"))
        # a blank result is rule DA103's to report: a --build-arg may still set it
        base_image = expand(base, document.global_arg_defaults, self.escape) if "$" in base else base
        return Stage(
            index=index, name=name, base=base, base_image=base_image, base_span=base_span,
            platform=inst.flag("platform"), parent=by_name.get(base_image),
            from_instruction=inst, instructions=[], name_span=name_span, dockerfile=document,
        )


def _global_values(global_args: list[Instruction], build_args: Mapping[str, str] | None,
                   escape: str) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for inst in global_args:
        scope = dict(values)
        for kv in inst.key_values:
            if build_args is not None and kv.key in build_args:
                values[kv.key] = build_args[kv.key]
            elif kv.value is not None:
                values[kv.key] = expand(kv.value, scope, escape)
            else:
                values.setdefault(kv.key, None)
    return values


def _replay(stage: Stage, build_args: Mapping[str, str] | None) -> _Scope:
    document = stage.dockerfile
    escape = document.escape if document is not None else "\\"
    global_scope = (document.global_scope(build_args) if document is not None else {})
    parent = stage.parent
    if parent is not None and parent is not stage and stage not in parent.ancestors():
        inherited = parent.scope(build_args)
        env = dict(inherited.env)
        defined_by = dict(inherited.env_defined_by)
        user, workdir = inherited.user, inherited.workdir
    else:
        env, defined_by, user, workdir = {}, {}, None, "/"
    args: dict[str, str | None] = {}
    visible: dict[str, str | None] = {**args, **env}
    before: dict[Instruction, dict[str, str | None]] = {}
    for inst in stage.instructions:
        before[inst] = visible
        keyword = inst.keyword
        if keyword == "ARG":
            for kv in inst.key_values:
                if build_args is not None and kv.key in build_args:
                    args[kv.key] = build_args[kv.key]
                elif kv.value is not None:
                    args[kv.key] = expand(kv.value, visible, escape)
                else:
                    args[kv.key] = global_scope.get(kv.key)
            visible = {**args, **env}
        elif keyword == "ENV":
            for kv in inst.key_values:
                env[kv.key] = expand(kv.value or "", visible, escape)
                defined_by[kv.key] = inst
            visible = {**args, **env}
        elif keyword == "USER" and inst.value:
            user = expand(inst.value, visible, escape)
        elif keyword == "WORKDIR" and inst.value:
            path = expand(inst.value, visible, escape)
            workdir = posixpath.normpath(posixpath.join(workdir, path)) if path else workdir
            if workdir.startswith("//"):
                workdir = "/" + workdir.lstrip("/")
    return _Scope(global_scope=global_scope, before=before, visible=visible, env=env,
                  env_defined_by=defined_by, args=args, user=user, workdir=workdir)


def parse(source: SourceFile) -> Dockerfile:
    """Parse a Dockerfile; never raises (problems become DA001 diagnostics)."""
    return _Parser(source).run()


def iter_run_instructions(document: Dockerfile) -> Iterator[Instruction]:
    """Every RUN instruction of every stage, in file order."""
    for inst in document.instructions:
        if inst.keyword == "RUN" and inst.stage >= 0:
            yield inst

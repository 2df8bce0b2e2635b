"""Compose files: parsing with positions, and assembling them into projects as compose does.

Parsing
-------
:func:`parse` reads a file with ruamel.yaml's event parser (an iterative state machine) and
composes the nodes itself, so that it controls what YAML would otherwise do silently:

- every key, item and scalar gets a :class:`~dockaudit.source.Span`;
- a repeated key is a DA201 finding at the second key (compose v2 refuses such files); the first
  value is kept so the rest of the file can still be checked;
- aliases are shared, never copied; a document whose aliases would expand to more than
  :data:`MAX_EXPANDED_NODES` nodes (billion laughs) is refused with DA001, as is nesting deeper
  than :data:`MAX_DEPTH` levels;
- merge keys (``<<: *base``) follow YAML 1.1 (explicit keys win, then the merged mappings in
  order), as compose accepts them;
- ``!reset`` and ``!override`` tags are kept on the nodes for merging.

Assembling
----------
:func:`assemble` groups the discovered compose files of each folder into projects, and loads each
project the way ``docker compose`` does: interpolate each file against the ``.env`` of the project
directory (the shell environment is treated as empty, so that results do not depend on the
machine), apply ``include:``, then ``extends:``, then merge the files in order with compose's merge
rules (mappings merge, most sequences append with de-duplication by target, ``command`` and
``entrypoint`` replace, ``!reset`` removes, ``!override`` replaces).

Which files form a project (per folder):

- the main file (``compose.yaml``, ``compose.yml``, ``docker-compose.yml``,
  ``docker-compose.yaml``; the first one present wins, as in compose) plus an override
  (``compose.override.yml``... ``docker-compose.override.yaml``), in that order; if the folder's
  ``.env`` sets ``COMPOSE_FILE``, that list replaces this default;
- every other compose-named file (``docker-compose.gpu.yml``, ``compose.prod.yaml``) is a project
  of its own, **unless** it looks like an overlay meant for ``-f main -f variant``: it redefines a
  service of the main file without giving it an ``image:`` or ``build:`` (standalone, compose would
  refuse such a service). Such a variant is loaded merged over the main file instead. This is a
  heuristic; a variant that defines complete services is always treated as standalone.
- a compose file that another one pulls in with ``include:`` or ``extends: file:`` is read
  through that file only, not as a project of its own.

Positions of interpolated variables: the ``$`` of each reference is located in the source by
aligning the decoded scalar with its text. This is exact for plain and single-line quoted
scalars and for block scalars; inside double-quoted scalars with escape sequences or folded
lines it may be off by the width of an escape.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from dockaudit.findings import Finding, Related
from dockaudit.interpolate import VarUse, interpolate
from dockaudit.source import SourceFile, Span

if TYPE_CHECKING:
    from dockaudit.project import Project

PARSE_ERROR = "DA001"
DUPLICATE_KEY = "DA201"
OUTSIDE_ROOT = "DA204"
INVALID_INTERPOLATION = "DA205"
BROKEN_REFERENCE = "DA206"

#: nodes a document may expand to through aliases before it is refused (billion laughs)
MAX_EXPANDED_NODES = 250_000
#: nesting depth of mappings and sequences before a document is refused
MAX_DEPTH = 200
#: parser events (about two per scalar) before a file is refused as too large to be a compose file
MAX_EVENTS = 200_000

#: compose's own order of preference (compose-go ``cli.DefaultFileNames``)
MAIN_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = ("compose.override.yml", "compose.override.yaml", "docker-compose.override.yml",
                  "docker-compose.override.yaml")

_REMOTE = re.compile(r"(?i)^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/|gitlab\.com/|bitbucket\.org/)")
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OTHER = re.compile(r"^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_SPECIAL_FLOATS = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".Inf": float("inf"),
                   ".INF": float("inf"), "-.Inf": float("-inf"), "-.INF": float("-inf"), ".nan": float("nan"),
                   ".NaN": float("nan"), ".NAN": float("nan")}
_STR_TAG = "tag:yaml.org,2002:str"


# --- nodes -----------------------------------------------------------------------------------


class Node:
    """A YAML value with its place in a file.

    ``kind`` is ``"map"`` (``value``: dict of key -> Node, ``keys``: key -> key Span),
    ``"seq"`` (``value``: list of Node) or ``"scalar"`` (``value``: str, int, float, bool or None).
    ``start``/``end`` are character offsets of the value in its file; ``base_dir`` is the folder
    relative paths in it resolve against (set when the file is loaded into a project).
    """

    __slots__ = ("base_dir", "end", "keys", "kind", "span", "start", "style", "tag", "value")

    def __init__(self, kind: str, value: Any, span: Span, start: int = 0, end: int = 0,
                 tag: str | None = None, style: str | None = None, keys: dict[str, Span] | None = None,
                 base_dir: str = ".") -> None:
        self.kind = kind
        self.value = value
        self.span = span
        self.start = start
        self.end = end
        self.tag = tag
        self.style = style
        self.keys = keys
        self.base_dir = base_dir

    def __reduce__(self) -> tuple:
        return Node, (self.kind, self.value, self.span, self.start, self.end, self.tag, self.style, self.keys,
                      self.base_dir)

    def copy(self, **changes: Any) -> Node:
        node = Node(self.kind, self.value, self.span, self.start, self.end, self.tag, self.style, self.keys,
                    self.base_dir)
        for name, value in changes.items():
            setattr(node, name, value)
        return node

    @property
    def file(self) -> str:
        return self.span.path

    def get(self, key: str) -> Node | None:
        return self.value.get(key) if self.kind == "map" else None

    def __repr__(self) -> str:
        return f"Node({self.kind}, {self.span})"


def plain(node: Node | None) -> Any:
    """The node as plain Python data (dicts, lists, scalars)."""
    if node is None:
        return None
    if node.kind == "map":
        return {key: plain(child) for key, child in node.value.items()}
    if node.kind == "seq":
        return [plain(child) for child in node.value]
    return node.value


def _walk(node: Node | None, path: tuple) -> tuple[Node | None, Span | None, int]:
    """Follow ``path`` (keys and indexes) as far as it exists: (node, its key span, steps taken)."""
    key_span: Span | None = None
    steps = 0
    for part in path:
        if node is None:
            break
        if node.kind == "map" and isinstance(part, str) and part in node.value:
            key_span = node.keys.get(part, node.value[part].span)
            node = node.value[part]
        elif node.kind == "seq" and isinstance(part, int) and -len(node.value) <= part < len(node.value):
            node = node.value[part]
            key_span = node.span
        else:
            break
        steps += 1
    return node, key_span, steps


# --- parsing ---------------------------------------------------------------------------------


@dataclass
class ComposeFile:
    """One compose file as written (before interpolation and merging)."""

    source: SourceFile
    path: str
    documents: list[Node] = field(default_factory=list)
    diagnostics: list[Finding] = field(default_factory=list)
    _anchors: dict[int, list[int]] | None = field(default=None, repr=False)

    @property
    def root(self) -> Node | None:
        """The first document, when it is a mapping (compose requires one)."""
        for document in self.documents:
            if document.kind == "map":
                return document
        return None

    @cached_property
    def data(self) -> dict:
        """The first document as plain data (before interpolation and merging)."""
        root = self.root
        return plain(root) if root is not None else {}

    @property
    def services(self) -> dict[str, Node]:
        root = self.root
        services = root.get("services") if root is not None else None
        if services is None or services.kind != "map":
            return {}
        return services.value

    def node_at(self, *path: str | int) -> Node | None:
        node, _, steps = _walk(self.root, path)
        return node if steps == len(path) else None

    def span_of(self, *path: str | int) -> Span:
        """The span of the key at ``path`` (``"services", "app", "build", "target"``), or of its
        nearest existing ancestor key, or the start of the file."""
        _, key_span, _ = _walk(self.root, path)
        return key_span or Span(self.path, 1, 1, 1, 1)

    def value_span_of(self, *path: str | int) -> Span:
        """The span of the value at ``path`` (or of the nearest existing ancestor's value)."""
        node, _, steps = _walk(self.root, path)
        if node is None or steps == 0:
            return Span(self.path, 1, 1, 1, 1)
        return node.span

    def anchor_lines(self, line: int) -> list[int]:
        """Lines of the keys that enclose ``line``, innermost first (for suppression comments)."""
        if self._anchors is None:
            self._anchors = {}
            for document in self.documents:
                self._index_anchors(document, ())
        return list(self._anchors.get(line, ()))

    def _index_anchors(self, node: Node, chain: tuple[int, ...]) -> None:
        # Parents are indexed before their children, which then overwrite their own lines.
        # Only nodes physically inside their parent are followed (not aliases or merged keys).
        stack = [(node, chain)]
        while stack:
            current, lines = stack.pop()
            first, last = current.span.line, current.span.end_line
            if current.kind == "map":
                for key, child in current.value.items():
                    key_span = current.keys.get(key)
                    if key_span is None or not first <= key_span.line <= last:
                        continue
                    here = (key_span.line, *lines)
                    inside = child.span.line >= key_span.line
                    end = max(key_span.end_line, child.span.end_line if inside else 0)
                    for number in range(key_span.line, end + 1):
                        self._anchors[number] = list(here)
                    if inside and child.kind != "scalar":
                        stack.append((child, here))
            elif current.kind == "seq":
                for child in current.value:
                    if child.kind != "scalar" and first <= child.span.line <= last:
                        stack.append((child, lines))


class _Frame:
    __slots__ = ("anchor", "end", "end_index", "entries", "event", "first", "flow", "kind", "merges",
                 "pending", "tag")

    def __init__(self, kind: str, event: Any) -> None:
        self.kind = kind
        self.event = event
        self.anchor = event.anchor
        self.tag = event.tag
        self.flow = bool(event.flow_style)
        self.entries: list = []          # map: (key, key_span, node); seq: nodes
        self.pending: tuple[str, Span, Node] | None = None   # a key waiting for its value
        self.merges: list[Node] = []
        self.end: tuple[int, int] | None = None   # (line, column) after the last child, as written
        self.end_index = 0
        self.first: Span | None = None            # the first key (merge keys included)


class _Refused(Exception):
    """The document is refused (alias bomb, nesting); the finding is already recorded."""


class _Composer:
    """Build :class:`Node` trees from parser events, without recursion."""

    def __init__(self, source: SourceFile, compose_file: ComposeFile) -> None:
        self.source = source
        self.path = source.path
        self.file = compose_file

    def error(self, line: int, column: int, message: str, rule: str = PARSE_ERROR) -> None:
        line = max(1, min(line, self.source.line_count))
        width = len(self.source.line_text(line))
        column = max(1, min(column, width + 1))
        span = Span(self.path, line, column, line, min(column + 1, width + 1))
        self.file.diagnostics.append(Finding(span, message, rule=rule))

    def span(self, start: Any, end: Any) -> Span:
        line, column = start.line + 1, start.column + 1
        end_line, end_column = end.line + 1, end.column + 1
        if end.column == 0 and end_line > line:
            end_line -= 1
            end_column = len(self.source.line_text(end_line)) + 1
        return Span(self.path, line, column, end_line, end_column)

    def scalar(self, event: Any) -> Node:
        value = event.value
        tag = event.tag
        style = event.style
        resolved: Any = value
        if tag in (None, "!") and style is None:
            resolved = _resolve_plain(value)
        elif tag and tag.startswith("tag:yaml.org,2002:") and tag != _STR_TAG:
            resolved = _resolve_tagged(value, tag[len("tag:yaml.org,2002:"):])
        return Node("scalar", resolved, self.span(event.start_mark, event.end_mark),
                    event.start_mark.index, event.end_mark.index, tag=tag if tag not in (None, "!") else None,
                    style=style)

    def run(self, events: Iterator[Any]) -> list[Node]:
        from ruamel.yaml import events as ev

        documents: list[Node] = []
        stack: list[_Frame] = []
        anchors: dict[str, Node] = {}
        root: Node | None = None

        def written_end(frame: _Frame, node: Node, event: Any) -> None:
            # where the child ends in the text (an alias ends at the alias, not at its anchor)
            if isinstance(event, ev.AliasEvent):
                mark = event.end_mark
                frame.end, frame.end_index = (mark.line + 1, mark.column + 1), mark.index
            else:
                frame.end, frame.end_index = (node.span.end_line, node.span.end_column), node.end

        def attach(node: Node, event: Any, anchor: str | None) -> None:
            nonlocal root
            if anchor:
                anchors[anchor] = node
            if not stack:
                root = node
                return
            frame = stack[-1]
            if frame.kind == "seq":
                frame.entries.append(node)
                written_end(frame, node, event)
                return
            if frame.pending is None:
                if node.kind != "scalar":
                    self.error(node.span.line, node.span.column,
                               "complex mapping keys are not allowed in compose files")
                    key = "<complex key>"
                elif isinstance(event, ev.ScalarEvent):
                    key = event.value
                else:
                    key = _str(node.value)
                frame.pending = (key, node.span, node)
                if frame.first is None:
                    frame.first = node.span
                written_end(frame, node, event)
                return
            key, key_span, _ = frame.pending
            frame.pending = None
            if (node.kind == "scalar" and node.value is None and node.tag is None and node.style is None
                    and node.start == node.end):
                # an empty value: place it right after the key's colon, not on the next line
                column = min(key_span.end_column + 1, len(self.source.line_text(key_span.end_line)) + 1)
                offset = self.source.offset(key_span.end_line, column)
                node = node.copy(span=Span(self.path, key_span.end_line, column, key_span.end_line, column),
                                 start=offset, end=offset)
            written_end(frame, node, event)
            if key == "<<" and node.kind in ("map", "seq"):
                # a YAML merge key: the mapping (or list of mappings) supplies defaults
                if node.kind == "map":
                    frame.merges.append(node)
                else:
                    frame.merges.extend(n for n in node.value if n.kind == "map")
                return
            frame.entries.append((key, key_span, node))

        try:
            for count, event in enumerate(events):
                if count > MAX_EVENTS:
                    mark = event.start_mark
                    self.error(mark.line + 1, mark.column + 1,
                               f"more than {MAX_EVENTS:,} YAML nodes; this is too large to be a compose file "
                               "and dockaudit stops reading it here")
                    raise _Refused
                if isinstance(event, ev.ScalarEvent):
                    attach(self.scalar(event), event, event.anchor)
                elif isinstance(event, ev.MappingStartEvent | ev.SequenceStartEvent):
                    if len(stack) >= MAX_DEPTH:
                        mark = event.start_mark
                        self.error(mark.line + 1, mark.column + 1,
                                   f"nested more than {MAX_DEPTH} levels deep; dockaudit does not read this "
                                   "document (compose files never need such depth)")
                        raise _Refused
                    stack.append(_Frame("map" if isinstance(event, ev.MappingStartEvent) else "seq", event))
                elif isinstance(event, ev.MappingEndEvent | ev.SequenceEndEvent):
                    frame = stack.pop()
                    node = self.finish(frame, event)
                    attach(node, event, frame.anchor)
                elif isinstance(event, ev.AliasEvent):
                    target = anchors.get(event.anchor)
                    if target is None:
                        mark = event.start_mark
                        self.error(mark.line + 1, mark.column + 1,
                                   f"alias *{event.anchor} refers to an anchor that is not defined before it")
                        target = Node("scalar", None, self.span(event.start_mark, event.end_mark),
                                      event.start_mark.index, event.end_mark.index)
                    attach(target, event, None)
                elif isinstance(event, ev.DocumentStartEvent):
                    anchors = {}
                    root = None
                elif isinstance(event, ev.DocumentEndEvent) and root is not None:
                    documents.append(root)
        except _Refused:
            return []
        for document in documents:
            size = _expanded_size(document, MAX_EXPANDED_NODES)
            if size > MAX_EXPANDED_NODES:
                self.error(document.span.line, document.span.column,
                           f"too many aliases: this document expands to more than {MAX_EXPANDED_NODES:,} "
                           "nodes through YAML aliases (an alias bomb?); dockaudit does not read it")
                return []
        return documents

    def finish(self, frame: _Frame, end_event: Any) -> Node:
        start = frame.event.start_mark
        tag = frame.tag if frame.tag not in (None, "!") else None
        if frame.kind == "seq":
            items = frame.entries
            end_mark = end_event.end_mark
            span = self.span(start, end_mark)
            end_index = end_mark.index
            if not frame.flow and frame.end is not None:
                span = Span(self.path, span.line, span.column, *frame.end)
                end_index = frame.end_index
            return Node("seq", items, span, start.index, end_index, tag=tag)
        values: dict[str, Node] = {}
        keys: dict[str, Span] = {}
        for key, key_span, node in frame.entries:
            if key in values:
                first = keys[key]
                self.file.diagnostics.append(Finding(
                    key_span,
                    f"duplicate key {key!r}: it is already defined on line {first.line}; compose refuses "
                    "files with repeated keys (dockaudit keeps the first value)",
                    related=(Related(first, f"first {key!r}"),),
                    rule=DUPLICATE_KEY))
                continue
            values[key] = node
            keys[key] = key_span
        for source in frame.merges:
            for key, node in source.value.items():
                if key not in values:
                    values[key] = node
                    keys[key] = source.keys.get(key, node.span)
        end_mark = end_event.end_mark
        span = self.span(start, end_mark)
        end_index = end_mark.index
        if not frame.flow and frame.end is not None:
            first_key = frame.first or span
            span = Span(self.path, first_key.line, first_key.column, *frame.end)
            end_index = frame.end_index
        return Node("map", values, span, start.index, end_index, tag=tag, keys=keys)


def _expanded_size(root: Node, limit: int) -> int:
    """How many nodes the tree has once aliases are expanded (memoised on the shared nodes)."""
    sizes: dict[int, int] = {}
    order: list[Node] = []
    stack = [root]
    seen: set[int] = set()
    while stack:  # post-order without recursion
        node = stack.pop()
        if id(node) in seen:
            continue
        if node.kind == "scalar":
            sizes[id(node)] = 1
            seen.add(id(node))
            continue
        seen.add(id(node))
        order.append(node)
        children = node.value.values() if node.kind == "map" else node.value
        stack.extend(c for c in children if id(c) not in seen)
    for node in reversed(order):
        children = node.value.values() if node.kind == "map" else node.value
        total = 1
        for child in children:
            total += sizes.get(id(child), 1)
            if total > limit:
                total = limit + 1
                break
        sizes[id(node)] = total
    return sizes.get(id(root), 1)


def _resolve_plain(value: str) -> Any:
    """YAML 1.2 core schema resolution of a plain scalar."""
    if value in _NULLS:
        return None
    first = value[0]
    if first in "tTfF":
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        return value
    if first.isdigit() or first in "+-.":
        if _INT.match(value):
            return int(value)
        if _INT_OTHER.match(value):
            return int(value, 0)
        if _FLOAT.match(value) and any(c.isdigit() for c in value):
            return float(value)
        if value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
    return value


def _resolve_tagged(value: str, kind: str) -> Any:
    try:
        if kind == "int":
            return int(value, 0)
        if kind == "float":
            return float(value)
        if kind == "bool":
            return value.lower() in ("true", "yes", "on")
        if kind == "null":
            return None
    except ValueError:
        return value
    return value


def _yaml_error_message(exc: Exception) -> str:
    problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {problem}"
    if context and context not in problem:
        message += f" ({context})"
    if "\\t" in message or "'\t'" in message:
        message += "; YAML does not allow tabs for indentation, use spaces"
    return message


def _flow_depth_overflow(text: str, limit: int) -> int:
    """Offset where ``[``/``{`` nesting first exceeds ``limit`` (-1 if never).

    ruamel's scanner is quadratic in flow nesting, so deeply nested flow collections are refused
    before parsing. Quoted strings and comments are skipped; the scan is approximate elsewhere,
    which is harmless at a limit no compose file comes near.
    """
    if text.count("[") + text.count("{") <= limit:
        return -1
    depth = 0
    i = 0
    n = len(text)
    previous = "\n"
    while i < n:
        c = text[i]
        if c in "[{":
            depth += 1
            if depth > limit:
                return i
        elif c in "]}":
            depth = max(0, depth - 1)
        elif c == "#" and previous in " \t\n":
            end = text.find("\n", i)
            i = n if end == -1 else end
            previous = "\n"
            continue
        elif c in "\"'" and previous in " \t\n[{,:-":
            j = i + 1
            while j < n:
                if c == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text[j] == c:
                    if c == "'" and text[j + 1:j + 2] == "'":
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            previous = c
            continue
        previous = c
        i += 1
    return -1


#: characters that end a comment (``\0`` is the reader's end of text)
_COMMENT_END = "\n\0\r\x85\u2028\u2029"
#: a comment next on the line (in block context only spaces separate tokens, in flow also tabs)
_BLOCK_COMMENT_AHEAD = re.compile(r" *#")
_FLOW_COMMENT_AHEAD = re.compile(r"[ \t]*#")


@functools.cache
def _scanner_class() -> type:
    """ruamel's pure-Python scanner, made to give the round-trip scanner's events, faster.

    The round-trip scanner turns every comment and run of empty lines into a token, gathers
    them onto their neighbours, and redoes its simple-key bookkeeping on every look at the token
    queue (the parser looks about four times per token). The composer reads no comments, so this
    scanner skips them, and it remembers that the queue is ready until a token is taken. Where
    comments changed what the round-trip scanner gives, it does the same:

    - after a comment or a run of empty lines it checks the pending simple keys there, so an
      unfinished key is reported at the same place;
    - after empty lines it also skips tabs, as the round-trip scanner does;
    - a ``:`` followed by a comment on its line carries a comment, so that the parser places an
      empty value at the colon (without one it places it at the next key);
    - it keeps at least two tokens queued, so a syntax error ahead is met at the same time;
    - tags keep their ``%`` escapes for the parser's tag object to decode once.

    The one intended difference: a folded block scalar (``>``) no longer carries the round-trip
    scanner's ``\\a`` fold markers in its value. Invalid YAML with comments around the error may
    (rarely) be reported one token earlier, with the parser's message instead of the scanner's.
    """
    from ruamel.yaml.scanner import RoundTripScanner, Scanner
    from ruamel.yaml.tokens import CommentToken

    class _ComposeScanner(Scanner):
        _ready = False
        scan_uri_escapes = RoundTripScanner.scan_uri_escapes

        @functools.cached_property
        def reader(self) -> Any:  # an attribute once known (the base class looks it up each time)
            return self.loader.reader

        def _fill(self) -> None:
            while self.need_more_tokens():
                self.fetch_more_tokens()
            if not self.done and len(self.tokens) < 2:
                self.fetch_more_tokens()  # the round-trip scanner's look-ahead; not ready yet
            else:
                self._ready = True

        def check_token(self, *choices: Any) -> bool:
            if not self._ready:
                self._fill()
            if self.tokens:
                if not choices:
                    return True
                first = self.tokens[0]
                for choice in choices:
                    if isinstance(first, choice):
                        return True
            return False

        def peek_token(self) -> Any:
            if not self._ready:
                self._fill()
            return self.tokens[0] if self.tokens else None

        def get_token(self) -> Any:
            if not self._ready:
                self._fill()
            if self.tokens:
                self.tokens_taken += 1
                self._ready = False
                return self.tokens.pop(0)
            return None

        def scan_to_next_token(self) -> Any:
            reader = self.reader
            peek, forward = reader.peek, reader.forward
            if reader.index == 0 and peek() == "\ufeff":
                forward()
            blank = " \t" if self.flow_level else " "
            while True:
                while peek() in blank:
                    forward()
                if peek() == "#":
                    # a comment token ends after its line break and the empty lines right after
                    while peek() not in _COMMENT_END:
                        forward()
                    if peek() != "\0":
                        forward()
                    while self.scan_line_break():
                        pass
                    if not self.flow_level:
                        self.allow_simple_key = True
                    self.stale_possible_simple_keys()
                    continue
                if not self.scan_line_break():
                    return None
                if not self.flow_level:
                    self.allow_simple_key = True
                if peek() == "\n":
                    # a run of empty lines is a token too; it takes line breaks, spaces and tabs
                    while peek() in " \t" or self.scan_line_break():
                        if peek() in " \t":
                            forward()
                    self.stale_possible_simple_keys()

        def fetch_value(self) -> None:
            Scanner.fetch_value(self)
            reader = self.reader
            comment = _FLOW_COMMENT_AHEAD if self.flow_level else _BLOCK_COMMENT_AHEAD
            if comment.match(reader.buffer, reader.pointer):
                mark = reader.get_mark()
                self.tokens[-1].add_post_comment(CommentToken("#", mark, mark))

    return _ComposeScanner


@functools.cache
def _parser_class() -> type:
    """ruamel's round-trip parser, with its scanner as an attribute once known."""
    from ruamel.yaml.parser import RoundTripParser

    class _ComposeParser(RoundTripParser):
        @functools.cached_property
        def scanner(self) -> Any:
            return self.loader.scanner

    return _ComposeParser


def _event_parser(stock_scanner: bool = False) -> Any:
    """A ruamel ``YAML`` object whose ``parse`` gives the events of a text (pure Python, YAML 1.2)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt", pure=True)
    if not stock_scanner:
        yaml.Scanner = _scanner_class()
        yaml.Parser = _parser_class()
    return yaml


@functools.cache
def _libyaml_parser() -> Any:
    """ruamel.yaml.clib's libyaml event parser (``CParser``), or None where it is not installed."""
    try:
        from _ruamel_yaml import CParser
    except ImportError:
        return None
    return CParser


def _libyaml_events(parser_class: Any, source: SourceFile) -> Iterator[Any]:
    """The events of a text from libyaml, as the pure parser gives them: a plain scalar's style is
    None, and a mark at the end of a text without a final line break stays on the last line
    (libyaml counts one more line there)."""
    from ruamel.yaml.events import ScalarEvent, StreamEndEvent

    text = source.text
    size = len(text)
    unterminated = bool(text) and not text.endswith("\n")
    get_event = parser_class(text).get_event
    while True:
        event = get_event()
        if type(event) is ScalarEvent and event.style == "":
            event.style = None
        if unterminated and event.end_mark.index >= size:
            line, column = source.position(size)
            for mark in (event.start_mark, event.end_mark):
                if mark.index >= size:
                    mark.line, mark.column = line - 1, column - 1
        yield event
        if type(event) is StreamEndEvent:
            return


def parse(source: SourceFile) -> ComposeFile:
    """Parse one compose file; never raises (syntax problems become DA001 findings).

    The events come from libyaml (ruamel.yaml.clib) when it is installed, about twenty times
    faster than ruamel's pure-Python parser. The pure parser reads the text instead when libyaml
    refuses it, when composing found anything wrong in it besides duplicate keys (an unknown
    alias, a top level that is not a mapping...), and when it holds a tab (libyaml accepts some
    tabs ruamel refuses): every problem is then reported as without libyaml. On the rest both
    parsers give the same nodes (``tests/test_parse_compose.py`` compares them on generated YAML,
    the catalog examples and the fixtures; 1,383 YAML files of 75 public projects also compared
    equal).
    """
    overflow = _flow_depth_overflow(source.text, MAX_DEPTH)
    if overflow == -1 and "\t" not in source.text:
        parser_class = _libyaml_parser()
        if parser_class is not None:
            compose_file = ComposeFile(source=source, path=source.path)
            composer = _Composer(source, compose_file)
            try:
                compose_file.documents = composer.run(_libyaml_events(parser_class, source))
            except Exception:  # a syntax error (or libyaml's own limits): the pure parser reports it
                pass
            else:
                _check_top_level(composer, compose_file)
                # a duplicate key is found from the events, the same from both parsers; anything
                # else wrong is reported by the pure parser
                if all(f.rule == DUPLICATE_KEY for f in compose_file.diagnostics):
                    return compose_file
    return parse_pure(source)


def parse_pure(source: SourceFile, stock_scanner: bool = False) -> ComposeFile:
    """:func:`parse` with ruamel's pure-Python parser (``stock_scanner``: without our faster
    scanner, for the odd text it cannot place comments in)."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    compose_file = ComposeFile(source=source, path=source.path)
    composer = _Composer(source, compose_file)
    overflow = _flow_depth_overflow(source.text, MAX_DEPTH)
    if overflow != -1:
        line, column = source.position(overflow)
        composer.error(line, column, f"nested more than {MAX_DEPTH} levels deep; dockaudit does not read "
                                     "this document (compose files never need such depth)")
        return compose_file
    yaml = _event_parser(stock_scanner)
    try:
        compose_file.documents = composer.run(yaml.parse(source.text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at_end = mark is exc.context_mark or mark.index >= len(source.text.rstrip())
        if exc.context_mark is not None and at_end:
            # "found the end of the file": the construct left open is the useful place
            mark = exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        composer.error(line, column, _yaml_error_message(exc))
        compose_file.documents = []
    except YAMLError as exc:
        composer.error(1, 1, _yaml_error_message(exc))
        compose_file.documents = []
    except RecursionError:
        composer.error(1, 1, "file is nested too deeply to read")
        compose_file.documents = []
    except Exception as exc:  # our scanner's comment placement failed on odd input: ruamel's own
        if not stock_scanner:
            return parse_pure(source, stock_scanner=True)
        composer.error(1, 1, f"YAML syntax error: ruamel.yaml cannot read this file ({type(exc).__name__})")
        compose_file.documents = []
    _check_top_level(composer, compose_file)
    return compose_file


def _check_top_level(composer: _Composer, compose_file: ComposeFile) -> None:
    for document in compose_file.documents:
        if document.kind != "map" and not (document.kind == "scalar" and document.value is None):
            composer.error(document.span.line, document.span.column,
                           "the top level of a compose file must be a mapping (services:, volumes:, ...)")


# --- the assembled model ---------------------------------------------------------------------


@dataclass
class Build:
    """``build:`` of a service. Paths are root-relative; None when remote or outside the root."""

    context: str | None
    context_raw: str
    dockerfile: str | None
    dockerfile_raw: str | None
    dockerfile_inline: str | None
    target: str | None
    args: dict[str, str | None]
    span: Span
    file: str
    remote: bool = False
    #: the context is a local path outside the scanned root
    outside: bool = False
    node: Node | None = field(default=None, repr=False)


@dataclass
class EnvFileRef:
    """One ``env_file:`` entry of a service."""

    path: str | None
    raw: str
    required: bool
    span: Span
    outside: bool = False


@dataclass
class VolumeMount:
    """One ``volumes:`` entry of a service (short or long syntax)."""

    type: str
    source: str | None
    host_path: str | None
    target: str
    read_only: bool
    span: Span
    raw: str | None = None


@dataclass
class PortMapping:
    """One ``ports:`` entry; numbers are kept as written (``"8000-8010"``)."""

    host_ip: str | None
    published: str | None
    target: str | None
    protocol: str
    span: Span


@dataclass
class PathEscape:
    """A path in a compose file that leaves the scanned root (dockaudit does not read it)."""

    kind: str      # "build context", "env_file", "include", "extends", "bind mount"
    raw: str
    span: Span
    service: str | None = None


@dataclass
class Service:
    """One service of an assembled project (after include, extends, merging, interpolation)."""

    name: str
    span: Span
    file: str
    node: Node = field(repr=False)
    image: str | None = None
    build: Build | None = None
    command: list[str] | str | None = None
    entrypoint: list[str] | str | None = None
    environment: dict[str, str | None] = field(default_factory=dict)
    env_files: list[EnvFileRef] = field(default_factory=list)
    volumes: list[VolumeMount] = field(default_factory=list)
    ports: list[PortMapping] = field(default_factory=list)
    expose: list[str] = field(default_factory=list)
    healthcheck: dict | None = None
    deploy: dict | None = None
    gpus: Any = None
    runtime: str | None = None
    network_mode: str | None = None
    networks: dict[str, dict] = field(default_factory=dict)
    extra_hosts: list[str] = field(default_factory=list)
    depends_on: dict[str, dict] = field(default_factory=dict)
    user: str | None = None
    working_dir: str | None = None
    profiles: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)

    def node_at(self, *path: str | int) -> Node | None:
        node, _, steps = _walk(self.node, path)
        return node if steps == len(path) else None

    def span_of(self, *path: str | int) -> Span:
        """The key span at ``path`` inside this service, in the file its winning value came from;
        the nearest existing ancestor's key, or the service key, when it does not exist."""
        _, key_span, _ = _walk(self.node, path)
        return key_span or self.span

    def value_span_of(self, *path: str | int) -> Span:
        node, _, steps = _walk(self.node, path)
        if node is None or steps == 0:
            return self.span
        return node.span


@dataclass
class ComposeProject:
    """Compose files loaded together (main + override, or one variant), merged and interpolated."""

    name: str | None
    directory: str
    files: list[str]
    services: dict[str, Service] = field(default_factory=dict)
    variables: list[VarUse] = field(default_factory=list)
    dotenv: str | None = None
    data: dict = field(default_factory=dict)
    diagnostics: list[Finding] = field(default_factory=list)
    #: files read through ``include:`` and ``extends: file:``
    included: list[str] = field(default_factory=list)
    project_escapes: list[PathEscape] = field(default_factory=list)
    node: Node | None = field(default=None, repr=False)

    def span_of(self, *path: str | int) -> Span:
        _, key_span, _ = _walk(self.node, path)
        return key_span or Span(self.files[0] if self.files else self.directory, 1, 1, 1, 1)

    def value_span_of(self, *path: str | int) -> Span:
        node, _, steps = _walk(self.node, path)
        if node is None or steps == 0:
            return self.span_of(*path)
        return node.span


# --- merging ---------------------------------------------------------------------------------

_KV = "kv"
_SEQ = "seq"
_REPLACE = "replace"

#: merge behaviour by path below ``services.<name>`` (compose-go override/merge.go, uncity.go)
_SERVICE_SPECIALS: dict[str, str] = {
    "build": "build",
    "command": _REPLACE, "entrypoint": _REPLACE, "healthcheck.test": _REPLACE,
    "environment": _KV, "labels": _KV, "annotations": _KV, "sysctls": _KV, "build.args": _KV,
    "build.labels": _KV, "build.additional_contexts": _KV, "deploy.labels": _KV,
    "depends_on": "depends_on", "networks": "names", "models": "names",
    "logging": "logging", "extra_hosts": "extra_hosts",
    "env_file": _SEQ, "label_file": _SEQ, "dns": _SEQ, "dns_opt": _SEQ, "dns_search": _SEQ, "tmpfs": _SEQ,
    "ports": _SEQ, "volumes": _SEQ, "expose": _SEQ, "cap_add": _SEQ, "cap_drop": _SEQ, "profiles": _SEQ,
    "links": _SEQ, "secrets": _SEQ, "configs": _SEQ, "devices": _SEQ, "build.tags": _SEQ,
    "build.platforms": _SEQ, "build.cache_from": _SEQ, "build.cache_to": _SEQ,
}


def _special(path: tuple[str, ...]) -> str | None:
    if len(path) >= 3 and path[0] == "services":
        sub = ".".join(path[2:])
        found = _SERVICE_SPECIALS.get(sub)
        if found:
            return found
        if len(path) == 4 and path[2] == "ulimits":
            return _REPLACE
        if len(path) == 5 and path[2] == "networks" and path[4] in ("aliases", "link_local_ips"):
            return _SEQ
    if len(path) == 3 and path[0] in ("networks", "volumes") and path[2] == "labels":
        return _KV
    return None


def _str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _scalar_like(node: Node, value: Any) -> Node:
    return Node("scalar", value, node.span, node.start, node.end, base_dir=node.base_dir)


def _to_kv(node: Node) -> Node:
    """``["K=V", "K"]`` or a mapping -> a mapping node (values of list items are scalar nodes)."""
    if node.kind == "map":
        return node
    values: dict[str, Node] = {}
    keys: dict[str, Span] = {}
    items = node.value if node.kind == "seq" else [node]
    for item in items:
        if item.kind != "scalar" or item.value is None:
            continue
        text = _str(item.value)
        key, sep, value = text.partition("=")
        values[key] = _scalar_like(item, value if sep else None)
        keys[key] = item.span
    return node.copy(kind="map", value=values, keys=keys)


def _to_names(node: Node, default: dict | None) -> Node:
    """``[a, b]`` -> ``{a: default, b: default}`` (depends_on, networks)."""
    if node.kind == "map":
        return node
    values: dict[str, Node] = {}
    keys: dict[str, Span] = {}
    for item in node.value if node.kind == "seq" else []:
        if item.kind != "scalar" or item.value is None:
            continue
        name = _str(item.value)
        if default is None:
            values[name] = Node("scalar", None, item.span, item.start, item.end, base_dir=item.base_dir)
        else:
            values[name] = Node("map", {k: Node("scalar", v, item.span, item.start, item.end)
                                        for k, v in default.items()},
                                item.span, item.start, item.end, keys={k: item.span for k in default},
                                base_dir=item.base_dir)
        keys[name] = item.span
    return node.copy(kind="map", value=values, keys=keys)


def _to_seq(node: Node) -> Node:
    if node.kind == "seq":
        return node
    if node.kind == "map":
        items = []
        for key, child in node.value.items():
            text = key if child.value is None else f"{key}={_str(child.value)}"
            items.append(Node("scalar", text, node.keys.get(key, child.span), child.start, child.end,
                              base_dir=child.base_dir))
        return node.copy(kind="seq", value=items, keys=None)
    return node.copy(kind="seq", value=[node], keys=None, tag=None)


def _unique_key(sub: str, item: Node) -> str:
    """The identity of a sequence item for de-duplication (compose's ``EnforceUnicity``)."""
    value = item.value
    if sub == "volumes":
        if item.kind == "map":
            return _str(plain(item.get("target")))
        return _short_volume(_str(value))[1]
    if sub == "ports":
        if item.kind == "map":
            data = plain(item)
            return (f"{_str(data.get('host_ip') or '0.0.0.0')}:{_str(data.get('published'))}:"
                    f"{_str(data.get('target'))}/{_str(data.get('protocol') or 'tcp')}")
        return _str(value)
    if sub == "env_file":
        if item.kind == "map":
            return _str(plain(item.get("path")))
        return _str(value)
    if sub in ("secrets", "configs"):
        prefix = "/run/secrets" if sub == "secrets" else ""
        if item.kind == "map":
            target = plain(item.get("target"))
            return _str(target) if target else f"{prefix}/{_str(plain(item.get('source')))}"
        return f"{prefix}/{_str(value)}"
    if sub == "devices":
        if item.kind == "map":
            return _str(plain(item.get("target")))
        parts = _str(value).split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    if item.kind != "scalar":
        return repr(plain(item))
    return _str(value).partition("=")[0]


def _clean(node: Node) -> Node:
    """``node`` without its ``!reset`` descendants (compose drops them while loading)."""
    if node.kind == "map":
        if not any(child.tag == "!reset" or child.kind != "scalar" for child in node.value.values()):
            return node
        values = {k: _clean(c) for k, c in node.value.items() if c.tag != "!reset"}
        return node.copy(value=values, keys={k: node.keys[k] for k in values if k in node.keys})
    if node.kind == "seq":
        if not any(child.tag == "!reset" or child.kind != "scalar" for child in node.value):
            return node
        return node.copy(value=[_clean(c) for c in node.value if c.tag != "!reset"])
    return node


class _Merger:
    def __init__(self, report: Callable[[Span, str], None]) -> None:
        self.report = report

    def merge(self, base: Node | None, over: Node, path: tuple[str, ...]) -> Node:
        """``over`` merged onto ``base`` with compose's rules; inputs are never modified."""
        if base is None:
            return _clean(over)
        if over.tag == "!override":
            return _clean(over)
        special = _special(path)
        if special == _REPLACE:
            return _clean(over)
        if over.kind == "scalar" and over.value is None and over.tag is None:
            return base  # compose ignores a null override
        if special == "build":
            base = base if base.kind == "map" else _scalar_to_map(base, "context")
            over = over if over.kind == "map" else _scalar_to_map(over, "context")
            return self.merge_maps(base, over, path)
        if special == _KV:
            return self.merge_kv(_to_kv(base), _to_kv(over))
        if special == "depends_on":
            default = {"condition": "service_started", "required": True}
            return self.merge_maps(_to_names(base, default), _to_names(over, default), path)
        if special == "names":
            return self.merge_maps(_to_names(base, None), _to_names(over, None), path)
        if special == "logging" and base.kind == "map" and over.kind == "map":
            driver_base, driver_over = plain(base.get("driver")), plain(over.get("driver"))
            if driver_base is not None and driver_over is not None and driver_base != driver_over:
                return _clean(over)
            return self.merge_maps(base, over, path)
        if special == "extra_hosts":
            items = list(_to_seq(base).value)
            seen = {_str(i.value) for i in items if i.kind == "scalar"}
            items += [i for i in _clean(_to_seq(over)).value
                      if not (i.kind == "scalar" and _str(i.value) in seen)]
            return base.copy(kind="seq", value=items, keys=None)
        if special == _SEQ:
            return self.merge_unique(_to_seq(base), _clean(_to_seq(over)), path[-1] if len(path) != 5 else "")
        if base.kind == "map" and over.kind == "map":
            return self.merge_maps(base, over, path)
        if base.kind == "seq" and over.kind == "seq":
            return base.copy(value=[*base.value, *_clean(over).value])
        if base.kind in ("map", "seq") and over.kind != base.kind:
            where = ".".join(path) or "the top level"
            self.report(over.span, f"cannot merge {where}: a {_kind_name(over)} cannot override a "
                                   f"{_kind_name(base)} (compose refuses this override)")
        return _clean(over)

    def merge_kv(self, base: Node, over: Node) -> Node:
        """``KEY=value`` collections: the override's value wins key by key (null included)."""
        values = dict(base.value)
        keys = dict(base.keys or {})
        for key, child in over.value.items():
            if child.tag == "!reset":
                values.pop(key, None)
                keys.pop(key, None)
                continue
            values[key] = child
            keys[key] = over.keys.get(key, child.span) if over.keys else child.span
        return base.copy(kind="map", value=values, keys=keys, tag=None)

    def merge_maps(self, base: Node, over: Node, path: tuple[str, ...]) -> Node:
        values = dict(base.value)
        keys = dict(base.keys or {})
        for key, child in over.value.items():
            if child.tag == "!reset":
                values.pop(key, None)
                keys.pop(key, None)
                continue
            if child.tag == "!override" or key not in values:
                values[key] = _clean(child)
                keys[key] = over.keys.get(key, child.span) if over.keys else child.span
                continue
            values[key] = self.merge(values[key], child, (*path, key))
            if values[key].span == child.span:
                # the override's value replaced the base value: point at the override's key
                keys[key] = over.keys.get(key, child.span) if over.keys else child.span
        return base.copy(kind="map", value=values, keys=keys, tag=None)

    def merge_unique(self, base: Node, over: Node, sub: str) -> Node:
        items: list[Node] = []
        index: dict[str, int] = {}
        for item in [*base.value, *over.value]:
            key = _unique_key(sub, item)
            if key in index:
                items[index[key]] = item
            else:
                index[key] = len(items)
                items.append(item)
        return base.copy(value=items, tag=None)


def _kind_name(node: Node) -> str:
    return {"map": "mapping", "seq": "list"}.get(node.kind, "single value")


def _scalar_to_map(node: Node, key: str) -> Node:
    return Node("map", {key: node}, node.span, node.start, node.end, keys={key: node.span},
                base_dir=node.base_dir)


# --- short syntaxes --------------------------------------------------------------------------


def _is_windows_abs(path: str) -> bool:
    return len(path) >= 2 and path[1] == ":" and path[0].isalpha() and (len(path) == 2 or path[2] in "\\/")


def _split_volume(spec: str) -> list[str]:
    parts: list[str] = []
    current = ""
    i = 0
    while i < len(spec):
        c = spec[i]
        if c == ":" and not (len(current) == 1 and current.isalpha() and spec[i + 1:i + 2] in ("\\", "/")):
            parts.append(current)
            current = ""
        else:
            current += c
        i += 1
    parts.append(current)
    return parts


def _short_volume(spec: str) -> tuple[str | None, str, str]:
    """``SOURCE:TARGET[:MODE]`` -> (source, target, mode)."""
    parts = _split_volume(spec)
    if len(parts) == 1:
        return None, parts[0], ""
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return parts[0], parts[1], ":".join(parts[2:])


def _is_file_path(source: str) -> bool:
    return bool(source) and (source[0] in "./~" or source.startswith("\\\\") or _is_windows_abs(source))


def is_remote(context: str) -> bool:
    """Is a build context a URL or git reference rather than a local folder?"""
    return bool(_REMOTE.match(context))


def _parse_port(text: str) -> tuple[str | None, str | None, str | None, str]:
    body, _, protocol = text.partition("/")
    host_ip: str | None = None
    if body.startswith("["):
        close = body.find("]")
        if close != -1:
            host_ip = body[1:close]
            body = body[close + 1:].lstrip(":")
            parts = body.split(":")
            if len(parts) == 1:
                return host_ip, None, parts[0] or None, protocol or "tcp"
            return host_ip, parts[0] or None, parts[-1] or None, protocol or "tcp"
    parts = body.rsplit(":", 2)
    if len(parts) == 1:
        return None, None, parts[0] or None, protocol or "tcp"
    if len(parts) == 2:
        return None, parts[0] or None, parts[1] or None, protocol or "tcp"
    return parts[0] or None, parts[1] or None, parts[2] or None, protocol or "tcp"


# --- scalar positions ------------------------------------------------------------------------


def _offset_map(text: str, node: Node, value: str) -> list[int] | None:
    """File offset of each character of a scalar's decoded ``value`` (best effort)."""
    start, end = node.start, min(node.end, len(text))
    if end - start > 200_000 or start >= end:
        return None
    style = node.style
    j = start
    if style in ("'", '"'):
        j = start + 1
    elif style in ("|", ">"):
        newline = text.find("\n", start, end)
        if newline == -1:
            return None
        j = newline + 1
    elif node.tag:  # a tag precedes the value
        space = text.find(" ", start, end)
        j = space + 1 if space != -1 else start
    out: list[int] = []
    for c in value:
        if style == '"' and j < end and text[j] == "\\":
            nxt = text[j + 1] if j + 1 < end else ""
            if nxt == "\n":  # escaped line break: produces nothing
                j += 2
                while j < end and text[j] in " \t":
                    j += 1
            else:
                width = {"x": 4, "u": 6, "U": 10}.get(nxt, 2)
                out.append(j)
                j += width
                continue
        k = j
        while k < end and text[k] != c and not (c == " " and text[k] == "\n"):
            k += 1
        if k < end:
            out.append(k)
            j = k + 1
        else:
            out.append(min(j, end - 1))
    return out


# --- assembling ------------------------------------------------------------------------------


class _Loader:
    """Loads one compose project: interpolation, include, extends, merging."""

    def __init__(self, project: Project, cp: ComposeProject) -> None:
        self.project = project
        self.cp = cp
        self.merger = _Merger(self.report_merge)
        self._uses: set[tuple[str, Span]] = set()
        self._diags: set[tuple[str, Span, str]] = set()

    # reporting

    def diagnostic(self, rule: str, span: Span, message: str) -> None:
        key = (rule, span, message)
        if key not in self._diags:
            self._diags.add(key)
            self.cp.diagnostics.append(Finding(span, message, rule=rule))

    def report_merge(self, span: Span, message: str) -> None:
        self.diagnostic(BROKEN_REFERENCE, span, message)

    def escape(self, kind: str, raw: str, span: Span, service: str | None = None) -> None:
        if not any(e.span == span and e.kind == kind for e in self.cp.project_escapes):
            self.cp.project_escapes.append(PathEscape(kind, raw, span, service))

    # files

    def compose_file(self, relpath: str) -> ComposeFile | None:
        return self.project.document(relpath, "compose")

    def env_lookup(self, relpaths: list[str], parent: Callable[[str], str | None] | None = None
                   ) -> Callable[[str], str | None]:
        values: dict[str, str] = {}
        for relpath in relpaths:
            env = self.project.env_file(relpath)
            if env is not None:
                values.update(env.values())

        def lookup(name: str) -> str | None:
            if name in values:
                return values[name]
            return parent(name) if parent is not None else None

        return lookup

    # interpolation

    def interpolate(self, node: Node, lookup: Callable[[str], str | None], base_dir: str) -> Node:
        """A copy of ``node`` with string values interpolated and ``base_dir`` stamped."""
        if node.kind == "map":
            return node.copy(value={k: self.interpolate(c, lookup, base_dir) for k, c in node.value.items()},
                             base_dir=base_dir)
        if node.kind == "seq":
            return node.copy(value=[self.interpolate(c, lookup, base_dir) for c in node.value],
                             base_dir=base_dir)
        value = node.value
        if not isinstance(value, str) or "$" not in value:
            return node.copy(base_dir=base_dir)
        result = interpolate(value, lookup)
        if result.refs or result.errors:
            self.record(node, value, result, lookup)
        return node.copy(value=result.value, base_dir=base_dir)

    def record(self, node: Node, value: str, result: Any, lookup: Callable[[str], str | None]) -> None:
        document = self.compose_file(node.file)
        source = document.source if document is not None else None
        offsets = _offset_map(source.text, node, value) if source is not None else None

        def span_for(start: int, end: int) -> Span:
            if offsets is None or not offsets or source is None:
                return node.span
            first = offsets[min(start, len(offsets) - 1)]
            last = offsets[min(max(end - 1, start), len(offsets) - 1)]
            return source.span_of_offsets(first, last + 1)

        for ref in result.refs:
            span = span_for(ref.start, ref.end)
            if (ref.name, span) in self._uses:
                continue
            self._uses.add((ref.name, span))
            self.cp.variables.append(VarUse(ref.name, span, ref.modifier, ref.default, ref.required,
                                            lookup(ref.name) is not None, ref.nested))
        for offset, message in result.errors:
            self.diagnostic(INVALID_INTERPOLATION, span_for(offset, offset + 2), message)

    # loading

    def load(self, files: list[str], project_dir: str, lookup: Callable[[str], str | None],
             chain: tuple[str, ...] = ()) -> Node | None:
        merged: Node | None = None
        for relpath in files:
            document = self.compose_file(relpath)
            if document is None:
                continue
            for root in document.documents:
                if root.kind != "map":
                    continue
                layer = self.interpolate(root, lookup, project_dir)
                layer = self.apply_include(layer, relpath, project_dir, lookup, (*chain, relpath))
                layer = self.apply_extends(layer, relpath, lookup, {(relpath, "")})
                merged = self.merger.merge(merged, layer, ())
        return merged

    def apply_include(self, layer: Node, relpath: str, working_dir: str,
                      lookup: Callable[[str], str | None], chain: tuple[str, ...]) -> Node:
        include = layer.get("include")
        if include is None:
            return layer
        values = dict(layer.value)
        keys = dict(layer.keys or {})
        values.pop("include", None)
        keys.pop("include", None)
        items = include.value if include.kind == "seq" else [include]
        for item in items:
            if item.kind == "scalar":
                paths_node, env_node, dir_node = item, None, None
            elif item.kind == "map":
                paths_node, env_node = item.get("path"), item.get("env_file")
                dir_node = item.get("project_directory")
            else:
                continue
            if paths_node is None:
                continue
            path_items = paths_node.value if paths_node.kind == "seq" else [paths_node]
            resolved: list[str] = []
            for path_item in path_items:
                raw = _str(path_item.value)
                if not raw or is_remote(raw) or raw.startswith("oci://"):
                    continue
                target = self.project.resolve(working_dir, raw)
                if target is None:
                    self.escape("include", raw, path_item.span)
                    continue
                if target in chain:
                    self.diagnostic(BROKEN_REFERENCE, path_item.span,
                                    f"include cycle: {target} is already being loaded ({' -> '.join(chain)})")
                    continue
                if target not in self.project.tree.files:
                    self.diagnostic(BROKEN_REFERENCE, path_item.span,
                                    f"included file {raw!r} does not exist (looked for {target}); compose "
                                    "refuses to start")
                    continue
                resolved.append(target)
            if not resolved:
                continue
            include_dir = posixpath.dirname(resolved[0]) or "."
            if dir_node is not None and isinstance(dir_node.value, str):
                candidate = self.project.resolve(working_dir, dir_node.value)
                if candidate is None:
                    self.escape("include", dir_node.value, dir_node.span)
                else:
                    include_dir = candidate
            env_paths: list[str] = []
            if env_node is not None:
                for env_item in env_node.value if env_node.kind == "seq" else [env_node]:
                    raw = _str(env_item.value)
                    target = self.project.resolve(working_dir, raw)
                    if target is None:
                        if not raw.startswith("/"):
                            self.escape("env_file", raw, env_item.span)
                        continue
                    env_paths.append(target)
            else:
                dotenv = posixpath.join(include_dir, ".env") if include_dir != "." else ".env"
                if dotenv in self.project.tree.files:
                    env_paths.append(dotenv)
            included_lookup = self.env_lookup(env_paths, lookup)
            for target in resolved:
                if target not in self.cp.included:
                    self.cp.included.append(target)
            imported = self.load(resolved, include_dir, included_lookup, chain)
            if imported is None:
                continue
            for section in ("services", "volumes", "networks", "secrets", "configs", "models"):
                source = imported.get(section)
                if source is None or source.kind != "map":
                    continue
                existing = values.get(section)
                if existing is None or existing.kind != "map":
                    values[section] = source
                    keys[section] = imported.keys.get(section, source.span)
                    continue
                merged_values = dict(existing.value)
                merged_keys = dict(existing.keys or {})
                for name, resource in source.value.items():
                    if name in merged_values:
                        merged_values[name] = self.merger.merge(resource, merged_values[name],
                                                                (section, name))
                    else:
                        merged_values[name] = resource
                        merged_keys[name] = source.keys.get(name, resource.span)
                values[section] = existing.copy(value=merged_values, keys=merged_keys)
        return layer.copy(value=values, keys=keys)

    def apply_extends(self, layer: Node, relpath: str, lookup: Callable[[str], str | None],
                      seen: set[tuple[str, str]]) -> Node:
        services = layer.get("services")
        if services is None or services.kind != "map":
            return layer
        if not any(s.kind == "map" and "extends" in s.value for s in services.value.values()):
            return layer
        resolved: dict[str, Node] = {}
        for name in services.value:
            self.extend_service(name, services.value, resolved, relpath, lookup, {(relpath, name)})
        new_services = services.copy(value={name: resolved.get(name, node)
                                            for name, node in services.value.items()})
        values = dict(layer.value)
        values["services"] = new_services
        return layer.copy(value=values)

    def extend_service(self, name: str, services: dict[str, Node], resolved: dict[str, Node], relpath: str,
                       lookup: Callable[[str], str | None], chain: set[tuple[str, str]]) -> Node | None:
        if name in resolved:
            return resolved[name]
        service = services.get(name)
        if service is None or service.kind != "map":
            return service
        extends = service.get("extends")
        if extends is None:
            resolved[name] = service
            return service
        if extends.kind == "map":
            ref_node, file_node = extends.get("service"), extends.get("file")
        else:
            ref_node, file_node = extends, None
        ref = _str(ref_node.value) if ref_node is not None and ref_node.kind == "scalar" else ""
        base: Node | None = None
        if not ref:
            self.diagnostic(BROKEN_REFERENCE, extends.span, f"extends of service {name!r} names no service")
        elif file_node is not None and file_node.kind == "scalar" and file_node.value:
            raw = _str(file_node.value)
            target = self.project.resolve(file_node.base_dir, raw)
            if target is None:
                self.escape("extends", raw, file_node.span, name)
            elif (target, ref) in chain:
                self.diagnostic(BROKEN_REFERENCE, extends.span, f"extends cycle through {target}:{ref}")
            elif target not in self.project.tree.files:
                self.diagnostic(BROKEN_REFERENCE, file_node.span,
                                f"service {name!r} extends a file that does not exist: {raw!r} (looked for "
                                f"{target}); compose refuses to start")
            else:
                base = self.extends_from_file(target, ref, name, file_node, lookup, chain)
        elif (relpath, ref) in chain or ref == name:
            self.diagnostic(BROKEN_REFERENCE, extends.span,
                            f"service {name!r} extends itself through {ref!r}")
        elif ref not in services:
            self.diagnostic(BROKEN_REFERENCE, ref_node.span if ref_node is not None else extends.span,
                            f"service {name!r} extends {ref!r}, which is not defined in this file; compose "
                            "refuses to start")
        else:
            base = self.extend_service(ref, services, resolved, relpath, lookup, {*chain, (relpath, ref)})
        if base is None or base.kind != "map":
            merged = service
        else:
            merged = self.merger.merge(base, service, ("services", name))
        values = dict(merged.value)
        keys = dict(merged.keys or {})
        values.pop("extends", None)
        keys.pop("extends", None)
        merged = merged.copy(value=values, keys=keys)
        if base is not None:
            # the service is declared where it is written, not where its base is
            merged.span = service.span
        resolved[name] = merged
        return merged

    def extends_from_file(self, target: str, ref: str, name: str, file_node: Node,
                          lookup: Callable[[str], str | None], chain: set[tuple[str, str]]) -> Node | None:
        document = self.compose_file(target)
        root = document.root if document is not None else None
        if root is None:
            return None
        if target not in self.cp.included:
            self.cp.included.append(target)
        base_dir = posixpath.dirname(target) or "."
        layer = self.interpolate(root, lookup, base_dir)
        services = layer.get("services")
        if services is None or services.kind != "map" or ref not in services.value:
            self.diagnostic(BROKEN_REFERENCE, file_node.span,
                            f"service {name!r} extends {ref!r} from {target}, which defines no such service")
            return None
        resolved: dict[str, Node] = {}
        return self.extend_service(ref, services.value, resolved, target, lookup, {*chain, (target, ref)})


def _node_str(node: Node | None) -> str | None:
    if node is None or node.kind != "scalar" or node.value is None:
        return None
    return _str(node.value)


def _str_list(node: Node | None) -> list[str]:
    if node is None:
        return []
    if node.kind == "seq":
        return [_str(i.value) for i in node.value if i.kind == "scalar" and i.value is not None]
    if node.kind == "scalar" and node.value is not None:
        return [_str(node.value)]
    return []


def _command(node: Node | None) -> list[str] | str | None:
    if node is None or node.value is None:
        return None
    if node.kind == "seq":
        return [_str(i.value) for i in node.value if i.kind == "scalar"]
    if node.kind == "scalar":
        return _str(node.value)
    return None


def _kv_dict(node: Node | None) -> dict[str, str | None]:
    if node is None:
        return {}
    out: dict[str, str | None] = {}
    if node.kind == "map":
        for key, child in node.value.items():
            out[key] = None if child.value is None or child.kind != "scalar" else _str(child.value)
    elif node.kind == "seq":
        for item in node.value:
            if item.kind == "scalar" and item.value is not None:
                key, sep, value = _str(item.value).partition("=")
                out[key] = value if sep else None
    return out


def _names(node: Node | None, default: dict | None) -> dict[str, dict]:
    if node is None:
        return {}
    if node.kind == "seq":
        return {_str(i.value): dict(default or {}) for i in node.value
                if i.kind == "scalar" and i.value is not None}
    if node.kind == "map":
        return {k: (plain(c) if c.kind == "map" else dict(default or {})) for k, c in node.value.items()}
    return {}


class _ServiceBuilder:
    def __init__(self, project: Project, cp: ComposeProject, loader: _Loader) -> None:
        self.project = project
        self.cp = cp
        self.loader = loader

    def build(self, name: str, node: Node, key_span: Span) -> Service:
        get = node.get
        service = Service(name=name, span=key_span, file=key_span.path, node=node, data=plain(node))
        service.image = _node_str(get("image"))
        service.build = self.build_section(name, node, get("build"))
        service.command = _command(get("command"))
        service.entrypoint = _command(get("entrypoint"))
        service.environment = _kv_dict(get("environment"))
        service.env_files = self.env_files(name, get("env_file"))
        service.volumes = self.volumes(name, get("volumes"))
        service.ports = self.ports(get("ports"))
        service.expose = _str_list(get("expose"))
        health = plain(get("healthcheck"))
        service.healthcheck = health if isinstance(health, dict) else None
        deploy = plain(get("deploy"))
        service.deploy = deploy if isinstance(deploy, dict) else None
        service.gpus = plain(get("gpus"))
        service.runtime = _node_str(get("runtime"))
        service.network_mode = _node_str(get("network_mode"))
        service.networks = _names(get("networks"), None)
        extra = get("extra_hosts")
        if extra is not None and extra.kind == "map":
            service.extra_hosts = [f"{k}={_str(v.value)}" for k, v in extra.value.items()
                                   if v.kind == "scalar"]
        else:
            service.extra_hosts = _str_list(extra)
        service.depends_on = _names(get("depends_on"), {"condition": "service_started", "required": True})
        service.user = _node_str(get("user"))
        service.working_dir = _node_str(get("working_dir"))
        service.profiles = _str_list(get("profiles"))
        return service

    def build_section(self, name: str, service: Node, node: Node | None) -> Build | None:
        if node is None or node.value is None:
            return None
        key_span = service.keys.get("build", node.span) if service.keys else node.span
        if node.kind == "scalar":
            context_node: Node | None = node
            mapping = None
        elif node.kind == "map":
            context_node = node.get("context")
            mapping = node
        else:
            return None
        context_raw = _node_str(context_node) or "."
        base_dir = context_node.base_dir if context_node is not None else node.base_dir
        remote = is_remote(context_raw)
        context = None if remote else self.project.resolve(base_dir, context_raw)
        outside = not remote and context is None
        if outside:
            self.loader.escape("build context", context_raw,
                               context_node.span if context_node is not None else key_span, name)
        dockerfile_raw = _node_str(mapping.get("dockerfile")) if mapping is not None else None
        inline = _node_str(mapping.get("dockerfile_inline")) if mapping is not None else None
        target = _node_str(mapping.get("target")) if mapping is not None else None
        args = _kv_dict(mapping.get("args")) if mapping is not None else {}
        dockerfile: str | None = None
        if inline is None and context is not None:
            dockerfile = self.project.resolve(context, dockerfile_raw or "Dockerfile")
            if dockerfile is None and dockerfile_raw:
                dockerfile_node = mapping.get("dockerfile") if mapping is not None else None
                if not dockerfile_raw.startswith("/"):
                    where = dockerfile_node.span if dockerfile_node is not None else key_span
                    self.loader.escape("dockerfile", dockerfile_raw, where, name)
        return Build(context=context, context_raw=context_raw, dockerfile=dockerfile,
                     dockerfile_raw=dockerfile_raw, dockerfile_inline=inline, target=target, args=args,
                     span=key_span, file=key_span.path, remote=remote, outside=outside, node=node)

    def env_files(self, name: str, node: Node | None) -> list[EnvFileRef]:
        if node is None or node.value is None:
            return []
        items = node.value if node.kind == "seq" else [node]
        out: list[EnvFileRef] = []
        for item in items:
            required = True
            path_node = item
            if item.kind == "map":
                path_node = item.get("path")
                required_node = item.get("required")
                if required_node is not None and required_node.value is not None:
                    required = required_node.value not in (False, "false", "False")
            raw = _node_str(path_node)
            if not raw or path_node is None:
                continue
            path = self.project.resolve(path_node.base_dir, raw)
            outside = path is None
            if outside and not raw.startswith(("/", "~")) and not _is_windows_abs(raw):
                self.loader.escape("env_file", raw, path_node.span, name)
            out.append(EnvFileRef(path=path, raw=raw, required=required, span=path_node.span,
                                  outside=outside))
        return out

    def volumes(self, name: str, node: Node | None) -> list[VolumeMount]:
        if node is None or node.kind != "seq":
            return []
        out: list[VolumeMount] = []
        for item in node.value:
            if item.kind == "scalar" and item.value is not None:
                raw = _str(item.value)
                source, target, mode = _short_volume(raw)
                kind = "bind" if source and _is_file_path(source) else "volume"
                read_only = "ro" in mode.split(",")
            elif item.kind == "map":
                data = plain(item)
                raw = None
                source = _str(data.get("source")) if data.get("source") is not None else None
                target = _str(data.get("target"))
                kind = _str(data.get("type") or ("bind" if source and _is_file_path(source) else "volume"))
                read_only = data.get("read_only") in (True, "true")
            else:
                continue
            host_path = None
            if kind == "bind" and source:
                host_path = self.project.resolve(item.base_dir, source)
                relative = not source.startswith(("/", "~", "\\")) and not _is_windows_abs(source)
                if host_path is None and relative:
                    self.loader.escape("bind mount", source, item.span, name)
            out.append(VolumeMount(type=kind, source=source or None, host_path=host_path, target=target,
                                   read_only=read_only, span=item.span, raw=raw))
        return out

    def ports(self, node: Node | None) -> list[PortMapping]:
        if node is None or node.kind != "seq":
            return []
        out: list[PortMapping] = []
        for item in node.value:
            if item.kind == "scalar" and item.value is not None:
                host_ip, published, target, protocol = _parse_port(_str(item.value))
            elif item.kind == "map":
                data = plain(item)
                host_ip = _str(data["host_ip"]) if data.get("host_ip") is not None else None
                published = _str(data["published"]) if data.get("published") is not None else None
                target = _str(data["target"]) if data.get("target") is not None else None
                protocol = _str(data.get("protocol") or "tcp")
            else:
                continue
            out.append(PortMapping(host_ip, published, target, protocol, item.span))
        return out


def _load_project(project: Project, files: list[str]) -> ComposeProject:
    directory = posixpath.dirname(files[0]) or "."
    dotenv = posixpath.join(directory, ".env") if directory != "." else ".env"
    if dotenv not in project.tree.files:
        dotenv_used: str | None = None
    else:
        dotenv_used = dotenv
    cp = ComposeProject(name=None, directory=directory, files=list(files), dotenv=dotenv_used)
    loader = _Loader(project, cp)
    lookup = loader.env_lookup([dotenv_used] if dotenv_used else [])
    merged = loader.load(files, directory, lookup)
    if merged is None:
        return cp
    cp.node = merged
    cp.data = plain(merged)
    name = cp.data.get("name")
    if isinstance(name, str) and name:
        cp.name = name
    else:
        cp.name = lookup("COMPOSE_PROJECT_NAME") or None
    services = merged.get("services")
    if services is not None and services.kind == "map":
        builder = _ServiceBuilder(project, cp, loader)
        for name, node in services.value.items():
            if node.kind != "map":
                continue
            key_span = services.keys.get(name, node.span) if services.keys else node.span
            cp.services[name] = builder.build(name, node, key_span)
    return cp


def _overlay_of(main: ComposeFile, variant: ComposeFile) -> bool:
    """Does ``variant`` redefine a service of ``main`` without image or build (an ``-f`` overlay)?"""
    main_services = main.services
    for name, node in variant.services.items():
        if name not in main_services:
            continue
        if node.kind != "map" or not ({"image", "build", "extends"} & set(node.value)):
            return True
    return False


def _compose_file_setting(project: Project, folder: str) -> list[str] | None:
    """``COMPOSE_FILE`` from the folder's ``.env``, as root-relative paths (None if unset)."""
    dotenv = posixpath.join(folder, ".env") if folder != "." else ".env"
    if dotenv not in project.tree.files:
        return None
    env = project.env_file(dotenv)
    if env is None:
        return None
    values = env.values()
    setting = values.get("COMPOSE_FILE")
    if not setting:
        return None
    separator = values.get("COMPOSE_PATH_SEPARATOR") or ":"
    out: list[str] = []
    for part in setting.split(separator):
        part = part.strip()
        if not part:
            continue
        resolved = project.resolve(folder, part)
        if resolved is None or resolved not in project.tree.files:
            return None
        out.append(resolved)
    return out or None


def _referenced_files(project: Project, relpath: str, document: ComposeFile) -> set[str]:
    """Files a compose file pulls in with ``include:`` or ``extends: file:`` (as written)."""
    out: set[str] = set()
    root = document.root
    if root is None:
        return out
    folder = posixpath.dirname(relpath) or "."
    include = root.get("include")
    if include is not None:
        for item in include.value if include.kind == "seq" else [include]:
            paths = item.get("path") if item.kind == "map" else item
            if paths is None:
                continue
            for path in paths.value if paths.kind == "seq" else [paths]:
                if isinstance(path.value, str) and "$" not in path.value:
                    target = project.resolve(folder, path.value)
                    if target is not None:
                        out.add(target)
    for service in document.services.values():
        extends = service.get("extends")
        file_node = extends.get("file") if extends is not None else None
        if file_node is not None and isinstance(file_node.value, str) and "$" not in file_node.value:
            target = project.resolve(folder, file_node.value)
            if target is not None:
                out.add(target)
    return out


def assemble(project: Project) -> list[ComposeProject]:
    """Group the project's compose files into compose projects and load each one.

    A compose file that another one includes or extends is loaded through that file only, not as
    a project of its own (its variables and paths belong to the including project).
    """
    by_folder: dict[str, list[str]] = {}
    referenced: set[str] = set()
    for relpath, kind in sorted(project.tree.classified.items()):
        if kind == "compose":
            by_folder.setdefault(posixpath.dirname(relpath) or ".", []).append(relpath)
            document = project.document(relpath, "compose")
            if document is not None:
                referenced |= _referenced_files(project, relpath, document) - {relpath}
    groups: list[list[str]] = []
    for folder, paths in sorted(by_folder.items()):
        names = {posixpath.basename(p): p for p in paths}
        mains = [names[n] for n in MAIN_NAMES if n in names]
        overrides = [names[n] for n in OVERRIDE_NAMES if n in names]
        main = mains[0] if mains else None
        handled: set[str] = set()
        setting = _compose_file_setting(project, folder)
        if setting:
            groups.append(setting)
            handled.update(setting)
        elif main is not None:
            groups.append([main, overrides[0]] if overrides else [main])
        if main is not None:
            handled.add(main)
            handled.update(overrides[:1])
        main_doc = project.document(main, "compose") if main is not None else None
        for path in paths:
            if path in handled:
                continue
            if main is None and posixpath.basename(path) in OVERRIDE_NAMES:
                continue  # an override with no main file beside it: compose never loads it alone
            if main_doc is not None and path not in mains:
                variant = project.document(path, "compose")
                if variant is not None and _overlay_of(main_doc, variant):
                    groups.append([main, path])
                    continue
            groups.append([path])
    projects: list[ComposeProject] = []
    for files in groups:
        if files[0] in referenced and len(files) == 1:
            continue
        projects.append(_load_project(project, files))
    return projects


__all__ = [
    "Build", "ComposeFile", "ComposeProject", "EnvFileRef", "Node", "PathEscape", "PortMapping", "Service",
    "VarUse", "VolumeMount", "assemble", "is_remote", "parse", "plain",
]

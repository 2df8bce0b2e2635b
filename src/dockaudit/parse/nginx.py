"""nginx configuration files: a tokenizer and block parser of our own, with exact positions.

The tokenizer follows nginx's own reader (``ngx_conf_read_token``) rather than a grammar:

* words are separated by whitespace, ``;`` and ``{``; a ``}`` *inside* an unquoted word is part
  of the word (``return 200}`` is one word), as in nginx;
* ``"..."`` and ``'...'`` start only at the beginning of a word, and the character after the
  closing quote must be whitespace, ``;``, ``{`` or ``)``;
* a backslash escapes the next character; ``\\"``, ``\\'`` and ``\\\\`` lose the backslash,
  ``\\t``, ``\\r``, ``\\n`` become control characters, any other ``\\x`` is kept as written;
* ``$`` followed by ``{`` keeps the brace in the word (``${var}``);
* ``#`` at the start of a word begins a comment to the end of the line;
* ``*_by_lua_block { ... }`` (OpenResty) holds Lua, not nginx syntax: its body is skipped as one
  raw token, honouring Lua strings, long brackets and comments.

Files need not be whole configurations: ``conf.d`` snippets with top-level ``server``,
``upstream`` or ``location`` parse the same way. Syntax errors become DA001 findings at the
exact position, and parsing goes on where the intent is unambiguous (a missing ``;`` before
``}``), so everything that could be read is kept.

``*.template`` files are envsubst input for the official nginx image
(``/etc/nginx/templates/*.template`` → ``/etc/nginx/conf.d/*``). Its entrypoint substitutes only
variables that are *defined in the container's environment*, and envsubst replaces both ``$NAME``
and ``${NAME}`` of those. We cannot know the environment while parsing, so we record every
braced ``${NAME}`` outside comments as an environment reference (``env_refs``); nginx's own
variables are normally written unbraced (``$host``), and the unbraced ones are listed separately
in ``bare_refs`` so that a rule can flag an nginx variable that a same-named environment variable
would clobber.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from dockaudit.findings import Finding
from dockaudit.source import SourceFile, Span

#: the suffix the official image's entrypoint renders with envsubst (NGINX_ENVSUBST_TEMPLATE_SUFFIX)
TEMPLATE_SUFFIX = ".template"
#: deeper nesting than this is not a real configuration; stop there instead of recursing on
MAX_DEPTH = 64
#: syntax errors reported per file; past this the file is garbage and more would be noise
MAX_ERRORS = 20

_SPACE = frozenset(" \t\n\r")  # what nginx itself treats as blanks
#: a run of word characters that needs no special handling (no escape, no variable brace)
_PLAIN_RUN = re.compile(r"[^ \t\n\r;{\\$]+")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BARE_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")

#: names of directives that are never plausible as the *argument* of another directive when they
#: start a line: seeing one there means the previous line lacks its ``;``.
_LINE_START_DIRECTIVES = frozenset({
    "listen", "server_name", "location", "proxy_pass", "proxy_set_header", "proxy_read_timeout",
    "proxy_connect_timeout", "proxy_send_timeout", "proxy_http_version", "proxy_buffering",
    "root", "index", "try_files", "include", "ssl_certificate", "ssl_certificate_key",
    "ssl_protocols", "ssl_ciphers", "add_header", "client_max_body_size", "upstream", "keepalive",
    "access_log", "error_log", "gzip", "limit_req", "limit_req_zone", "fastcgi_pass", "uwsgi_pass",
    "grpc_pass", "sendfile", "worker_connections", "worker_processes", "resolver", "alias",
    "expires", "rewrite",
})


@dataclass
class Directive:
    """One directive: ``name arg ...;`` or ``name arg ... { block }``.

    ``args`` are unquoted and unescaped as nginx reads them; ``arg_spans`` cover each argument as
    written (quotes included). ``span`` runs from the name to the ``;`` or the closing ``}``.
    ``block`` is None for simple directives and a list (maybe empty) for blocks. For OpenResty
    ``*_by_lua_block`` directives ``block`` is empty and ``raw_block`` holds the Lua source.
    """

    name: str
    args: list[str]
    arg_spans: list[Span]
    span: Span
    name_span: Span
    block: list[Directive] | None
    file: str
    raw_block: str | None = None
    #: which arguments were written in quotes (parallel to ``args``)
    quoted: list[bool] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.span.line

    def children(self, name: str) -> list[Directive]:
        """Directives named ``name`` directly inside this block."""
        return [d for d in self.block or () if d.name == name]

    def __repr__(self) -> str:  # compact: nested blocks make the default unreadable
        block = "" if self.block is None else f" {{{len(self.block)}}}"
        return f"Directive({self.name} {' '.join(self.args)}{block} @{self.span})"


@dataclass
class NginxConfig:
    """A parsed nginx file (a whole ``nginx.conf`` or a ``conf.d`` snippet)."""

    source: SourceFile
    path: str
    directives: list[Directive]
    diagnostics: list[Finding] = field(default_factory=list)
    is_template: bool = False
    #: ``${NAME}`` references (outside comments) with their spans; meaningful for templates
    env_refs: list[tuple[str, Span]] = field(default_factory=list)
    #: unbraced ``$name`` references outside comments (nginx variables, usually)
    bare_refs: list[tuple[str, Span]] = field(default_factory=list)
    _anchor_index: list[tuple[int, int]] | None = field(default=None, repr=False)

    def walk(self) -> Iterator[tuple[Directive, tuple[Directive, ...]]]:
        """Every directive, depth first in file order, with its enclosing blocks (outermost first)."""
        stack: list[tuple[list[Directive], int, tuple[Directive, ...]]] = [(self.directives, 0, ())]
        while stack:
            items, index, parents = stack.pop()
            if index >= len(items):
                continue
            directive = items[index]
            stack.append((items, index + 1, parents))
            yield directive, parents
            if directive.block:
                stack.append((directive.block, 0, (*parents, directive)))

    def find(self, name: str) -> list[Directive]:
        """Every directive named ``name``, at any depth, in file order."""
        return [d for d, _ in self.walk() if d.name == name]

    def anchor_lines(self, line: int) -> list[int]:
        """First lines of the directives and blocks containing ``line``, innermost first."""
        if self._anchor_index is None:
            self._anchor_index = [(d.span.line, d.span.end_line) for d, _ in self.walk()]
        found = sorted({start for start, end in self._anchor_index if start <= line <= end}, reverse=True)
        return found


# --- tokenizer -------------------------------------------------------------------------------

WORD, SEMI, OPEN, CLOSE, EOF = "word", ";", "{", "}", "eof"


@dataclass
class _Token:
    kind: str
    start: int
    end: int
    value: str = ""
    quoted: bool = False


class _SyntaxIssue(Exception):
    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end


def _unescape(raw: str) -> str:
    if "\\" not in raw:
        return raw
    out = []
    i = 0
    n = len(raw)
    while i < n:
        char = raw[i]
        if char == "\\" and i + 1 < n:
            nxt = raw[i + 1]
            if nxt in "\"'\\":
                out.append(nxt)
                i += 2
                continue
            if nxt in "trn":
                out.append({"t": "\t", "r": "\r", "n": "\n"}[nxt])
                i += 2
                continue
        out.append(char)
        i += 1
    return "".join(out)


class _Lexer:
    """Produces tokens on demand; records comment ranges and syntax issues."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.comments: list[tuple[int, int]] = []
        self.issues: list[_SyntaxIssue] = []
        self.unterminated = False
        self._need_space_at: int | None = None

    def next(self) -> _Token:
        text = self.text
        n = len(text)
        while True:
            pos = self.pos
            while pos < n and text[pos] in _SPACE:
                pos += 1
            if self._need_space_at is not None:
                if pos == self._need_space_at and pos < n and text[pos] not in ";{})":
                    self.issues.append(_SyntaxIssue(
                        f'unexpected "{text[pos]}" right after a quoted string '
                        '(nginx needs a space, ";" or "{" there)',
                        pos, pos + 1))
                self._need_space_at = None
            self.pos = pos
            if pos >= n:
                return _Token(EOF, n, n)
            char = text[pos]
            if char == "#":
                end = text.find("\n", pos)
                end = n if end == -1 else end
                self.comments.append((pos, end))
                self.pos = end
                continue
            if char == ";":
                self.pos = pos + 1
                return _Token(SEMI, pos, pos + 1)
            if char == "{":
                self.pos = pos + 1
                return _Token(OPEN, pos, pos + 1)
            if char == "}":
                self.pos = pos + 1
                return _Token(CLOSE, pos, pos + 1)
            if char in "\"'":
                return self._quoted(pos, char)
            return self._word(pos)

    def _quoted(self, start: int, quote: str) -> _Token:
        text = self.text
        n = len(text)
        i = start + 1
        while i < n:
            char = text[i]
            if char == "\\":
                i += 2
                continue
            if char == quote:
                self.pos = i + 1
                self._need_space_at = i + 1
                return _Token(WORD, start, i + 1, _unescape(text[start + 1:i]), quoted=True)
            i += 1
        self.pos = n
        self.unterminated = True
        self.issues.append(_SyntaxIssue(f"unterminated {quote}-quoted string (no closing {quote})",
                                        start, start + 1))
        return _Token(WORD, start, n, _unescape(text[start + 1:]), quoted=True)

    def _word(self, start: int) -> _Token:
        text = self.text
        n = len(text)
        plain = _PLAIN_RUN.match(text, start)
        i = plain.end() if plain else start
        if i >= n or text[i] in _SPACE or text[i] in ";{":
            self.pos = i
            raw = text[start:i]
            return _Token(WORD, start, i, raw)
        variable = False
        while i < n:
            char = text[i]
            if char == "\\":
                i += 2
                variable = False
                continue
            if char == "{" and variable:
                i += 1
                variable = False
                continue
            variable = char == "$"
            if char in _SPACE or char == ";" or char == "{":
                break
            i += 1
        i = min(i, n)
        self.pos = i
        return _Token(WORD, start, i, _unescape(text[start:i]))

    def skip_lua(self, open_at: int) -> int:
        """Offset of the ``}`` closing a Lua block whose ``{`` is at ``open_at`` (-1 if none)."""
        text = self.text
        n = len(text)
        depth = 1
        i = open_at + 1
        long_bracket = re.compile(r"\[(=*)\[")
        while i < n:
            char = text[i]
            if char == "-" and text.startswith("--", i):
                match = long_bracket.match(text, i + 2)
                if match:
                    close = text.find("]" + match.group(1) + "]", match.end())
                    i = n if close == -1 else close + len(match.group(1)) + 2
                else:
                    end = text.find("\n", i)
                    i = n if end == -1 else end
                continue
            if char in "\"'":
                j = i + 1
                while j < n and text[j] != char and text[j] != "\n":
                    j += 2 if text[j] == "\\" else 1
                i = j + 1
                continue
            if char == "[":
                match = long_bracket.match(text, i)
                if match:
                    close = text.find("]" + match.group(1) + "]", match.end())
                    i = n if close == -1 else close + len(match.group(1)) + 2
                    continue
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        return -1


# --- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.lexer = _Lexer(source.text)
        self.path = source.path
        self.diagnostics: list[Finding] = []
        self._peeked: _Token | None = None
        self._eof_reported = False

    def span(self, start: int, end: int) -> Span:
        return self.source.span_of_offsets(start, end)

    def error(self, message: str, start: int, end: int | None = None) -> None:
        if len(self.diagnostics) >= MAX_ERRORS:
            return
        if len(self.diagnostics) == MAX_ERRORS - 1:
            message = f"{message} (more syntax errors follow; only the first {MAX_ERRORS} are reported)"
        span = self.span(start, start if end is None else end)
        self.diagnostics.append(Finding(span, message, rule="DA001"))

    def token(self) -> _Token:
        if self._peeked is not None:
            token, self._peeked = self._peeked, None
        else:
            token = self.lexer.next()
        for issue in self.lexer.issues:
            self.error(issue.message, issue.start, issue.end)
        self.lexer.issues.clear()
        return token

    def parse_block(self, out: list[Directive], opener: _Token | None, depth: int) -> int:
        """Parse directives into ``out`` until the matching ``}`` (or EOF); return the end offset."""
        words: list[_Token] = []
        while True:
            token = self.token()
            if token.kind == WORD:
                if words and self._missing_semicolon(words, token):
                    self._finish(out, words, words[-1].end, None)
                    words = []
                words.append(token)
                continue
            if token.kind == SEMI:
                if not words:
                    self.error('unexpected ";" (no directive before it)', token.start, token.end)
                    continue
                self._finish(out, words, token.end, None)
                words = []
                continue
            if token.kind == OPEN:
                if depth >= MAX_DEPTH:
                    self.error(f"blocks are nested more than {MAX_DEPTH} deep; the rest of the file "
                               "is skipped", token.start, token.end)
                    self.lexer.pos = len(self.source.text)
                    return len(self.source.text)
                if not words:
                    self.error('unexpected "{" (a block needs a directive name before it)',
                               token.start, token.end)
                    self.parse_block([], token, depth + 1)
                    continue
                name_start = words[0].start
                directive = self._finish(out, words, token.end, [])
                words = []
                if directive.name.endswith("_by_lua_block"):
                    close = self.lexer.skip_lua(token.start)
                    if close == -1:
                        self.error(f'unexpected end of file: "{directive.name}" block is never closed',
                                   token.start, token.end)
                        directive.raw_block = self.source.text[token.end:]
                        self.lexer.pos = len(self.source.text)
                        end = len(self.source.text)
                    else:
                        directive.raw_block = self.source.text[token.end:close]
                        self.lexer.pos = close + 1
                        end = close + 1
                else:
                    assert directive.block is not None
                    end = self.parse_block(directive.block, token, depth + 1)
                directive.span = self.span(name_start, end)
                continue
            if token.kind == CLOSE:
                if words:
                    last = words[-1]
                    self.error(f'missing ";" after "{self._text(words)}" (nginx: unexpected "}}")',
                               last.end, last.end)
                    self._finish(out, words, last.end, None)
                    words = []
                if opener is None:
                    self.error('unexpected "}" (no block is open here)', token.start, token.end)
                    continue
                return token.end
            # EOF: report the innermost unclosed block only, as nginx does
            if words:
                last = words[-1]
                if not self.lexer.unterminated:
                    self.error(f'unexpected end of file: missing ";" after "{self._text(words)}"',
                               last.end, last.end)
                self._finish(out, words, last.end, None)
            if opener is not None and not self._eof_reported:
                self._eof_reported = True
                line, col = self.source.position(opener.start)
                self.error(f'unexpected end of file: the block opened at line {line} column {col} '
                           'has no closing "}"', token.start, token.end)
            return token.end

    def _missing_semicolon(self, words: list[_Token], token: _Token) -> bool:
        """A known directive name starting a new line inside a directive: the ``;`` was forgotten."""
        if token.quoted or token.value not in _LINE_START_DIRECTIVES or len(words) < 2:
            return False
        text = self.source.text
        line_start = text.rfind("\n", 0, token.start) + 1
        if text[line_start:token.start].strip():
            return False
        if text.rfind("\n", 0, token.start) < words[-1].end:
            return False  # same line as the previous word
        if words[0].value in ("map", "geo", "types", "split_clients", "log_format", "if", "match"):
            return False
        self.error(f'missing ";" after "{self._text(words)}" (the next line starts the '
                   f'"{token.value}" directive)', words[-1].end, words[-1].end)
        return True

    def _text(self, words: list[_Token]) -> str:
        text = " ".join(self.source.text[w.start:w.end] for w in words)
        return text if len(text) <= 60 else text[:57] + "..."

    def _finish(self, out: list[Directive], words: list[_Token], end: int,
                block: list[Directive] | None) -> Directive:
        name = words[0]
        directive = Directive(
            name=name.value,
            args=[w.value for w in words[1:]],
            arg_spans=[self.span(w.start, w.end) for w in words[1:]],
            span=self.span(name.start, end),
            name_span=self.span(name.start, name.end),
            block=block,
            file=self.path,
            quoted=[w.quoted for w in words[1:]],
        )
        out.append(directive)
        return directive


def _references(text: str, comments: list[tuple[int, int]], source: SourceFile) -> tuple[
        list[tuple[str, Span]], list[tuple[str, Span]]]:
    if "$" not in text:
        return [], []
    starts = [c[0] for c in comments]

    def in_comment(offset: int) -> bool:
        index = bisect.bisect_right(starts, offset) - 1
        return index >= 0 and comments[index][0] <= offset < comments[index][1]

    env = [(m.group(1), source.span_of_offsets(m.start(), m.end()))
           for m in _ENV_REF.finditer(text) if not in_comment(m.start())]
    bare = [(m.group(1), source.span_of_offsets(m.start(), m.end()))
            for m in _BARE_REF.finditer(text) if not in_comment(m.start())]
    return env, bare


def parse(source: SourceFile) -> NginxConfig:
    """Parse an nginx file; never raises for bad input (errors become DA001 diagnostics)."""
    parser = _Parser(source)
    directives: list[Directive] = []
    parser.parse_block(directives, None, 0)
    env_refs, bare_refs = _references(source.text, parser.lexer.comments, source)
    return NginxConfig(
        source=source,
        path=source.path,
        directives=directives,
        diagnostics=parser.diagnostics,
        is_template=source.path.endswith(TEMPLATE_SUFFIX),
        env_refs=env_refs,
        bare_refs=bare_refs,
    )

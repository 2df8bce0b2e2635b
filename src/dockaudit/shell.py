"""Split shell scripts (RUN lines, heredoc bodies, compose ``command:``, healthchecks) into
simple commands.

This is a small POSIX-shell lexer of our own, not a full parser: it is what rules need to ask
"which programs does this script run, with which words", and nothing more. It understands

- quoting: ``'...'`` (literal), ``"..."`` (``\\`` escapes ``$ ` " \\`` and newline), ``$'...'``,
  backslash escapes and ``\\``-newline continuations;
- the operators ``&&``, ``||``, ``;``, ``;;``, ``|``, ``|&``, ``&``, newlines, ``(`` ``)``, and the
  reserved words ``{ } ! if then else elif fi while until do done for case esac`` (the words of
  ``for``/``case`` headers and case patterns are not commands);
- comments (``#`` at the start of a word), redirections (``>file``, ``2>&1``, ``<<EOF`` with the
  here-document body skipped) which are removed from the words;
- ``$(...)``, ``${...}``, backticks and ``$((...))`` kept whole inside a word (not expanded);
- leading ``NAME=value`` assignments, kept apart from the words;
- wrappers that run another command: ``sh -c '...'`` / ``bash -lc "..."`` (the inner script is
  split in turn), ``sudo``, ``env X=1 cmd``, ``exec``, ``nohup``, ``time``, ``command``.

Words are dequoted (``"torch==2.3"`` → ``torch==2.3``) but variables are left as written.
:func:`split_commands` never raises; unbalanced quotes are read to the end of the script.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

#: words that open, close or join compound commands; dropped when they start a command
RESERVED = frozenset({"!", "{", "}", "if", "then", "else", "elif", "fi", "while", "until", "do", "done",
                      "esac", "in"})
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox-sh"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\+?=")
_REDIRECT = re.compile(r"\d*(?:<<<|<<-|<<|<>|<&|>&|>>|>\||<|>)|&>>|&>")
_CONTROL = re.compile(r"&&|\|\||;;&|;;|;&|\|&|[;&|()]")
_OPERATOR_CHARS = frozenset(";&|()<>")
#: a run of characters that a word takes as they are (no quote, escape, expansion or operator)
_PLAIN_RUN = re.compile(r"[^ \t\r\n;&|()<>\\'\"$`]+")
_MAX_DEPTH = 4


@dataclass
class Command:
    """One simple command.

    ``start``/``end`` are offsets into the script given to :func:`split_commands` (for commands
    found inside ``sh -c '...'`` they point into that quoted argument; exact unless it contains
    escapes). ``words`` excludes leading assignments and redirections; ``wrappers`` lists what
    was unwrapped (``["sudo", "sh -c"]``).
    """

    words: list[str]
    assignments: dict[str, str]
    start: int
    end: int
    redirects: list[str] = field(default_factory=list)
    word_offsets: list[tuple[int, int]] = field(default_factory=list)
    wrappers: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The program's base name (``/app/venv/bin/pip`` → ``pip``), or ""."""
        return posixpath.basename(self.words[0]) if self.words else ""

    @property
    def args(self) -> list[str]:
        return self.words[1:]

    def __str__(self) -> str:
        return " ".join(self.words)


@dataclass
class _Token:
    kind: str  # "word", "op", "redir"
    text: str  # dequoted word / operator
    raw: str
    start: int
    end: int


# --- lexer -----------------------------------------------------------------------------------


def _skip_balanced(s: str, i: int, open_ch: str, close_ch: str) -> int:
    """From just after an opening ``(`` or ``{``, the index after its match (quotes respected)."""
    return _skip_nested(s, i, ["b", open_ch, close_ch, 1])


def _skip_double(s: str, i: int) -> int:
    """From just after an opening ``"``, the index after the closing one."""
    return _skip_nested(s, i, ["d", "", "", 0])


def _skip_nested(s: str, i: int, frame: list) -> int:
    """The end of ``$(...)``/``${...}`` (frame ``["b", open, close, depth]``) or of a double-quoted
    string (``["d", ...]``), which nest in each other; an explicit stack, not recursion, so that
    ``"$("$("...`` thousands deep cannot overflow Python's stack."""
    n = len(s)
    stack = [frame]
    while i < n:
        ch = s[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "`":
            i = _skip_backtick(s, i + 1)
            continue
        top = stack[-1]
        if top[0] == "d":
            if ch == '"':
                stack.pop()
                i += 1
                if not stack:
                    return i
                continue
            if ch == "$" and i + 1 < n and s[i + 1] in "({":
                stack.append(["b", s[i + 1], ")" if s[i + 1] == "(" else "}", 1])
                i += 2
                continue
            i += 1
            continue
        if ch == "'":
            end = s.find("'", i + 1)
            i = n if end == -1 else end + 1
            continue
        if ch == '"':
            stack.append(["d", "", "", 0])
            i += 1
            continue
        if ch == top[1]:
            top[3] += 1
        elif ch == top[2]:
            top[3] -= 1
            if top[3] == 0:
                stack.pop()
                i += 1
                if not stack:
                    return i
                continue
        i += 1
    return n


def _skip_backtick(s: str, i: int) -> int:
    n = len(s)
    while i < n:
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == "`":
            return i + 1
        i += 1
    return n


_ANSI_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
                 "e": "\x1b", "E": "\x1b", "\\": "\\", "'": "'", '"': '"', "?": "?"}


def _read_word(s: str, i: int) -> tuple[str, int]:
    """Read one word from ``i``; returns (dequoted value, end index)."""
    n = len(s)
    out: list[str] = []
    plain = _PLAIN_RUN.match
    while i < n:
        run = plain(s, i)
        if run is not None:  # fast path: long words cost one regex match, not a loop per character
            out.append(run.group())
            i = run.end()
            continue
        ch = s[i]
        if ch in " \t\r\n" or ch in _OPERATOR_CHARS:
            break
        if ch == "\\":
            if i + 1 < n:
                if s[i + 1] != "\n":
                    out.append(s[i + 1])
                i += 2
            else:  # a backslash at the very end stays literal, as in bash
                out.append(ch)
                i += 1
            continue
        if ch == "'":
            end = s.find("'", i + 1)
            end = n if end == -1 else end
            out.append(s[i + 1:end])
            i = end + 1
            continue
        if ch == '"':
            i += 1
            while i < n and s[i] != '"':
                c = s[i]
                if c == "\\" and i + 1 < n:
                    nxt = s[i + 1]
                    if nxt in '$`"\\':
                        out.append(nxt)
                        i += 2
                        continue
                    if nxt == "\n":
                        i += 2
                        continue
                    out.append(c)
                    i += 1
                    continue
                if c == "$" and i + 1 < n and s[i + 1] in "({":
                    end = _skip_balanced(s, i + 2, s[i + 1], ")" if s[i + 1] == "(" else "}")
                    out.append(s[i:end])
                    i = end
                    continue
                if c == "`":
                    end = _skip_backtick(s, i + 1)
                    out.append(s[i:end])
                    i = end
                    continue
                out.append(c)
                i += 1
            i += 1
            continue
        if ch == "$" and i + 1 < n:
            nxt = s[i + 1]
            if nxt == "'":
                i += 2
                while i < n and s[i] != "'":
                    if s[i] == "\\" and i + 1 < n:
                        out.append(_ANSI_ESCAPES.get(s[i + 1], "\\" + s[i + 1]))
                        i += 2
                        continue
                    out.append(s[i])
                    i += 1
                i += 1
                continue
            if nxt in "({":
                end = _skip_balanced(s, i + 2, nxt, ")" if nxt == "(" else "}")
                out.append(s[i:end])
                i = end
                continue
        if ch == "`":
            end = _skip_backtick(s, i + 1)
            out.append(s[i:end])
            i = end
            continue
        out.append(ch)
        i += 1
    return "".join(out), min(i, n)


def _skip_heredocs(s: str, i: int, pending: list[tuple[str, bool]]) -> int:
    """Skip here-document bodies starting at ``i`` (the line after the ``<<`` redirection)."""
    n = len(s)
    for delimiter, strip_tabs in pending:
        while i < n:
            end = s.find("\n", i)
            end = n if end == -1 else end
            line = s[i:end]
            i = end + 1
            if (line.lstrip("\t") if strip_tabs else line).rstrip("\r") == delimiter:
                break
    return min(i, n)


def _lex(s: str) -> list[_Token]:
    tokens: list[_Token] = []
    pending: list[tuple[str, bool]] = []
    expect_delimiter: bool | None = None
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch in " \t\r":
            i += 1
            continue
        if ch == "\\" and i + 1 < n and s[i + 1] == "\n":
            i += 2
            continue
        if ch == "\n":
            tokens.append(_Token("op", "\n", "\n", i, i + 1))
            i += 1
            if pending:
                i = _skip_heredocs(s, i, pending)
                pending = []
            continue
        if ch == "#":
            end = s.find("\n", i)
            i = n if end == -1 else end
            continue
        match = _REDIRECT.match(s, i)
        if match:
            op = match.group()
            tokens.append(_Token("redir", op, op, i, match.end()))
            i = match.end()
            if op.endswith(("<<", "<<-")) and not op.endswith("<<<"):
                expect_delimiter = op.endswith("-")
            continue
        match = _CONTROL.match(s, i)
        if match:
            op = match.group()
            tokens.append(_Token("op", op, op, i, match.end()))
            i = match.end()
            continue
        value, end = _read_word(s, i)
        if end <= i:  # cannot happen, but never loop forever
            end = i + 1
            value = s[i]
        tokens.append(_Token("word", value, s[i:end], i, end))
        if expect_delimiter is not None:
            pending.append((value, expect_delimiter))
            expect_delimiter = None
        i = end
    return tokens


# --- commands --------------------------------------------------------------------------------


def split_commands(script: str) -> list[Command]:
    """The simple commands of ``script``, in order, wrappers unwrapped. Never raises."""
    if not script or not script.strip():
        return []
    return _split(script, 0, 0)


def _split(script: str, base: int, depth: int) -> list[Command]:
    tokens = _lex(script)
    commands: list[Command] = []
    group: list[_Token] = []
    redirects: list[str] = []
    redirect_pending = False
    case_state = ""  # "", "pattern", "body"
    header_has_pattern = False

    def flush() -> None:
        nonlocal group, redirects, case_state, header_has_pattern, redirect_pending
        words, extra = group, redirects
        redirect_pending = False
        group, redirects = [], []
        if not words:
            return
        if case_state == "pattern":
            if words[0].raw == "esac":
                case_state = ""
            return
        while words and words[0].raw in RESERVED:
            if words[0].raw == "esac":
                case_state = ""
            words = words[1:]
        if not words:
            return
        if words[0].raw in ("for", "select"):
            return
        if words[0].raw == "case":
            case_state = "pattern"
            raws = [w.raw for w in words]
            header_has_pattern = "in" in raws and raws.index("in") < len(raws) - 1
            return
        if words[0].raw == "function":
            return
        assignments: dict[str, str] = {}
        index = 0
        while index < len(words) and _ASSIGNMENT.match(words[index].raw):
            key, _, value = words[index].text.partition("=")
            assignments[key.rstrip("+")] = value
            index += 1
        rest = words[index:]
        command = Command(
            words=[t.text for t in rest],
            assignments=assignments,
            start=base + words[0].start,
            end=base + words[-1].end,
            redirects=extra,
            word_offsets=[(base + t.start, base + t.end) for t in rest],
        )
        commands.extend(_unwrap(command, rest, base, depth))

    for token in tokens:
        if token.kind == "op":
            text = token.text
            if case_state == "pattern":
                if text == ")":
                    group = []
                    case_state = "body"
                elif text in ("\n", ";", "|", "(") and group and group[-1].raw == "esac":
                    flush()
                continue
            header_has_pattern = False
            flush()
            if text in (";;", ";&", ";;&") and case_state == "body":
                case_state = "pattern"
            elif text == ")" and case_state == "pattern" and header_has_pattern:
                case_state = "body"
            header_has_pattern = False
            continue
        if token.kind == "redir":
            redirects.append(token.text)
            redirect_pending = True
            continue
        if redirect_pending:
            redirects[-1] += token.text
            redirect_pending = False
            continue
        if case_state == "pattern" and token.raw == "esac" and not group:
            case_state = ""
            continue
        group.append(token)
    flush()
    return commands


def _unwrap(command: Command, tokens: list[_Token], base: int, depth: int) -> list[Command]:
    """Replace wrapper commands (``sudo``, ``env``, ``sh -c`` ...) by what they run."""
    words = command.words
    offsets = command.word_offsets
    while words:
        name = posixpath.basename(words[0])
        skip = 0
        if name == "sudo":
            skip = _skip_options(words, 1, takes_value={"-u", "-g", "-h", "-p", "-C", "-U", "-r", "-t", "-T",
                                                        "-D", "-R", "--user", "--group", "--host"})
            while skip < len(words) and _ASSIGNMENT.match(words[skip]):
                key, _, value = words[skip].partition("=")
                command.assignments[key] = value
                skip += 1
        elif name == "env":
            skip = 1
            while skip < len(words):
                word = words[skip]
                if word in ("-u", "--unset", "-C", "--chdir", "-S", "--split-string"):
                    skip += 2
                elif word.startswith("-"):
                    skip += 1
                elif _ASSIGNMENT.match(word):
                    key, _, value = word.partition("=")
                    command.assignments[key] = value
                    skip += 1
                else:
                    break
        elif name == "exec":
            skip = _skip_options(words, 1, takes_value={"-a"})
        elif name in ("nohup", "time") or (name == "command" and words[1:2] not in (["-v"], ["-V"])):
            skip = _skip_options(words, 1, takes_value=set())
        elif name in SHELLS:
            script_index = _shell_script_index(words)
            if script_index is None or depth >= _MAX_DEPTH:
                break
            inner = words[script_index]
            start, _ = offsets[script_index] if script_index < len(offsets) else (command.start, command.end)
            token = tokens[script_index] if script_index < len(tokens) else None
            shift = start + (1 if token is not None and token.raw[:1] in ("'", '"') else 0)
            if token is not None and token.raw.startswith("$'"):
                shift = start + 2
            inner_commands = _split(inner, shift, depth + 1)
            for inner_command in inner_commands:
                inner_command.assignments = {**command.assignments, **inner_command.assignments}
                inner_command.wrappers = [*command.wrappers, f"{name} -c", *inner_command.wrappers]
            return inner_commands
        else:
            break
        if skip <= 0 or skip >= len(words):
            break
        command.wrappers.append(name)
        words = words[skip:]
        offsets = offsets[skip:]
        tokens = tokens[skip:]
        if words and offsets:
            command.start = offsets[0][0]
    command.words = list(words)
    command.word_offsets = list(offsets)
    return [command]


def _skip_options(words: list[str], index: int, takes_value: set[str]) -> int:
    while index < len(words) and words[index].startswith("-") and words[index] != "-":
        word = words[index]
        index += 1
        if word == "--":
            break
        if word in takes_value:
            index += 1
    return index


def _shell_script_index(words: list[str]) -> int | None:
    """For ``sh [-opts] -c SCRIPT``: the index of SCRIPT, else None."""
    index = 1
    has_c = False
    while index < len(words):
        word = words[index]
        if word in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            index += 2
            continue
        if word == "--":
            index += 1
            break
        if word.startswith("--"):
            index += 1
            continue
        if word.startswith(("-", "+")) and len(word) > 1:
            if "c" in word[1:]:
                has_c = True
            index += 1
            continue
        break
    if has_c and index < len(words):
        return index
    return None


def command_from_argv(argv: list[str]) -> list[Command]:
    """Commands for an exec-form argv (``["sh", "-c", "..."]`` is split; offsets are 0)."""
    if not argv:
        return []
    tokens = [_Token("word", w, w, 0, 0) for w in argv]
    command = Command(words=list(argv), assignments={}, start=0, end=0, word_offsets=[(0, 0)] * len(argv))
    return _unwrap(command, tokens, 0, 0)

"""Glob patterns for ``exclude`` and ``per-file-ignores``.

``*`` and ``?`` stay within one path segment, ``**`` spans segments, and a pattern without a
slash matches a name at any depth (as in ``.gitignore``). A pattern matching a folder matches
everything below it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

#: above this estimate of backtracking steps a match runs on the linear-time VM instead of ``re``
_BACKTRACK_BUDGET = 1_000_000


class SafeRegex:
    """A compiled glob translation whose matching time stays linear in the text.

    Python's ``re`` backtracks: a regex with ``k`` unbounded wildcards can take time of the order
    of ``len(text) ** k`` to fail (``*a*a*a*a*a*b`` against a long name made of ``a``: seconds per
    name), and glob patterns come from scanned files (``.dockerignore``, nginx ``include``, the
    config's ``exclude``). When that estimate is large, the same regex is run on a small Pike VM
    (a set of states advanced one character at a time) instead. Only ``match`` is offered, and
    only its truth value is meaningful.
    """

    __slots__ = ("_cache", "_flags", "_program", "_stars", "pattern")

    def __init__(self, regex: str, flags: int = 0) -> None:
        self.pattern = re.compile(regex, flags)
        self._flags = flags
        self._stars = regex.count("*") + regex.count("+")  # unbounded repeats (an upper bound)
        self._program: list[tuple] | None = None
        self._cache: dict = {}

    def match(self, text: str) -> Any:
        if self._stars >= 2 and math.comb(len(text) + self._stars, self._stars) > _BACKTRACK_BUDGET:
            program = self._compiled()
            if program:
                return True if _run(program, text, self._cache) else None
        return self.pattern.match(text)

    def _compiled(self) -> list[tuple]:
        if self._program is None:
            try:
                self._program = _compile_vm(self.pattern.pattern, self._flags)
            except (ValueError, RecursionError):  # a construct the VM does not know: use re
                self._program = []
        return self._program


def _sre() -> tuple[Any, Any]:
    try:
        from re import _constants, _parser  # type: ignore[attr-defined]  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_constants as _constants
        import sre_parse as _parser
    return _parser, _constants


def _compile_vm(regex: str, flags: int) -> list[tuple]:
    """Instructions for :func:`_run`: ("char", pred), ("split", a, b), ("jmp", a), ("bol",),
    ("eol",), ("eos",), ("notahead", pred or None), ("match",)."""
    parser, c = _sre()
    parsed = parser.parse(regex, flags)
    dotall = bool((flags | parsed.state.flags) & re.DOTALL)
    if (flags | parsed.state.flags) & (re.IGNORECASE | re.MULTILINE):
        raise ValueError("flags")
    program: list[tuple] = []

    def char_predicate(op: Any, av: Any) -> Callable[[str], bool]:
        if op is c.LITERAL:
            literal = chr(av)
            return lambda ch: ch == literal
        if op is c.NOT_LITERAL:
            literal = chr(av)
            return lambda ch: ch != literal
        if op is c.ANY:
            return (lambda ch: True) if dotall else (lambda ch: ch != "\n")
        if op is c.IN:
            negate = False
            tests: list[Callable[[str], bool]] = []
            for item_op, item in av:
                if item_op is c.NEGATE:
                    negate = True
                elif item_op is c.LITERAL:
                    tests.append(lambda ch, x=item: ord(ch) == x)
                elif item_op is c.RANGE:
                    tests.append(lambda ch, lo=item[0], hi=item[1]: lo <= ord(ch) <= hi)
                elif item_op is c.CATEGORY:
                    one = re.compile({c.CATEGORY_DIGIT: r"\d", c.CATEGORY_NOT_DIGIT: r"\D",
                                      c.CATEGORY_SPACE: r"\s", c.CATEGORY_NOT_SPACE: r"\S",
                                      c.CATEGORY_WORD: r"\w", c.CATEGORY_NOT_WORD: r"\W"}[item])
                    tests.append(lambda ch, one=one: one.fullmatch(ch) is not None)
                else:
                    raise ValueError(item_op)
            return lambda ch: any(test(ch) for test in tests) != negate
        raise ValueError(op)

    def emit(items: Any) -> None:
        for op, av in items:
            if op in (c.LITERAL, c.NOT_LITERAL, c.ANY, c.IN):
                program.append(("char", char_predicate(op, av)))
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
                low, high, sub = av
                for _ in range(low):
                    emit(sub)
                if high == c.MAXREPEAT:
                    loop = len(program)
                    program.append(("split", loop + 1, None))
                    emit(sub)
                    program.append(("jmp", loop))
                    program[loop] = ("split", loop + 1, len(program))
                else:
                    for _ in range(high - low):
                        split = len(program)
                        program.append(("split", split + 1, None))
                        emit(sub)
                        program[split] = ("split", split + 1, len(program))
            elif op is c.SUBPATTERN:
                emit(av[-1])
            elif op is c.BRANCH:
                ends = []
                branches = av[1]
                for index, branch in enumerate(branches):
                    if index < len(branches) - 1:
                        split = len(program)
                        program.append(("split", split + 1, None))
                        emit(branch)
                        ends.append(len(program))
                        program.append(("jmp", None))
                        program[split] = ("split", split + 1, len(program))
                    else:
                        emit(branch)
                for end in ends:
                    program[end] = ("jmp", len(program))
            elif op is c.AT:
                if av in (c.AT_BEGINNING, c.AT_BEGINNING_STRING):
                    program.append(("bol",))
                elif av is c.AT_END:
                    program.append(("eol",))
                elif av is c.AT_END_STRING:
                    program.append(("eos",))
                else:
                    raise ValueError(av)
            elif op is c.ASSERT_NOT and av[0] == 1 and len(av[1]) <= 1:
                program.append(("notahead", char_predicate(*av[1][0]) if av[1] else None))
            else:
                raise ValueError(op)

    emit(parsed.data if hasattr(parsed, "data") else parsed)
    program.append(("match",))
    return program


def _run(program: list[tuple], text: str, cache: dict) -> bool:
    """Does ``program`` match a prefix of ``text`` (as ``re.match``)? A lazy DFA: sets of states,
    with their epsilon closures and character steps cached in ``cache`` across calls; time is
    linear in the text (times the number of states when the cache misses)."""
    size = len(text)
    ahead = cache.get("ahead")
    if ahead is None:
        ahead = cache["ahead"] = any(instruction[0] == "notahead" for instruction in program)

    def closure(starts: tuple[int, ...], pos: int) -> tuple[int, ...]:
        context = (pos == 0, pos == size, pos == size - 1 and text[pos] == "\n",
                   text[pos] if ahead and pos < size else None)
        key = (starts, context)
        found = cache.get(key)
        if found is not None:
            return found
        seen: set[int] = set()
        out: list[int] = []
        stack = list(reversed(starts))
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            instruction = program[pc]
            kind = instruction[0]
            if kind == "jmp":
                stack.append(instruction[1])
            elif kind == "split":
                stack.append(instruction[2])
                stack.append(instruction[1])
            elif kind == "bol":
                if context[0]:
                    stack.append(pc + 1)
            elif kind == "eos":
                if context[1]:
                    stack.append(pc + 1)
            elif kind == "eol":
                if context[1] or context[2]:
                    stack.append(pc + 1)
            elif kind == "notahead":
                test = instruction[1]
                if test is not None and (context[1] or not test(text[pos])):
                    stack.append(pc + 1)
            else:
                out.append(pc)
        result = tuple(sorted(out))
        if len(cache) > 20_000:
            cache.clear()
            cache["ahead"] = ahead
        cache[key] = result
        return result

    states = closure((0,), 0)
    for pos, char in enumerate(text):
        if not states:
            return False
        step = (states, char)
        advanced = cache.get(step)
        if advanced is None:
            if any(program[pc][0] == "match" for pc in states):
                return True
            advanced = cache[step] = tuple(pc + 1 for pc in states
                                           if program[pc][0] == "char" and program[pc][1](char))
        elif any(program[pc][0] == "match" for pc in states):
            return True
        states = closure(advanced, pos + 1)
    return any(program[pc][0] == "match" for pc in states)


@lru_cache(maxsize=512)
def glob_to_regex(pattern: str) -> SafeRegex:
    pattern = pattern.strip().lstrip("./") if pattern.startswith("./") else pattern.strip()
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.strip("/")
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                for char in "[&~|":  # literal in a glob class; special (or reserved) in a regex class
                    body = body.replace(char, "\\" + char)
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    body = "".join(out)
    prefix = "" if anchored else "(?:.*/)?"
    try:
        return SafeRegex(f"^{prefix}{body}(?:/.*)?$")
    except re.error:  # a class such as [z-a]: matches nothing, as in git
        return SafeRegex("(?!)")


def compile_globs(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A predicate: does a root-relative POSIX path match any of ``patterns``?"""
    regexes = [glob_to_regex(p) for p in patterns if p.strip()]
    if not regexes:
        return lambda _path: False
    return lambda path: any(r.match(path) for r in regexes)

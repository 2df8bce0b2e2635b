"""Glob patterns for ``exclude`` and ``per-file-ignores``.

``*`` and ``?`` stay within one path segment, ``**`` spans segments, and a pattern without a
slash matches a name at any depth (as in ``.gitignore``). A pattern matching a folder matches
everything below it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache


@lru_cache(maxsize=512)
def glob_to_regex(pattern: str) -> re.Pattern[str]:
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
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    body = "".join(out)
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(f"^{prefix}{body}(?:/.*)?$")


def compile_globs(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A predicate: does a root-relative POSIX path match any of ``patterns``?"""
    regexes = [glob_to_regex(p) for p in patterns if p.strip()]
    if not regexes:
        return lambda _path: False
    return lambda path: any(r.match(path) for r in regexes)

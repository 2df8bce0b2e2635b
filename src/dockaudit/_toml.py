"""tomllib on Python 3.11+, tomli before; and a fast reader for machine-written lockfiles.

:func:`loads_lockfile` reads the plain subset of TOML that lock generators (uv) write — one
``key = value`` per line, ``[table]`` and ``[[array]]`` headers, basic strings without escapes,
integers, booleans, inline tables and arrays of those — with a handful of regular expressions per
line instead of tomllib's character-by-character scan. Anything outside that subset (a comment,
an escape, a float, a dotted key, a repeated key or table...) sends the whole text to
:func:`loads`, so the result, and every error, is exactly tomllib's.
"""

from __future__ import annotations

import functools
import re
import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib as toml
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as toml

loads = toml.loads
TOMLDecodeError = toml.TOMLDecodeError

_WS = r"[ \t]*"
_KEY = r"[A-Za-z0-9_-]+"
#: a basic string without escapes or the control characters TOML forbids in it
_STR = r'"[^"\\\x00-\x08\x0a-\x1f\x7f]*"'
_INT = r"(?:0|-?[1-9][0-9]*)"
_SCALAR = rf"(?:{_STR}|{_INT}|true|false)"
_STR_ARRAY = rf"\[{_WS}(?:{_STR}{_WS}(?:,{_WS}{_STR}{_WS})*,?{_WS})?\]"
_FIELD_VALUE = rf"(?:{_SCALAR}|{_STR_ARRAY})"
_INLINE = (rf"\{{{_WS}(?:{_KEY}{_WS}={_WS}{_FIELD_VALUE}{_WS}"
           rf"(?:,{_WS}{_KEY}{_WS}={_WS}{_FIELD_VALUE}{_WS})*)?\}}")
_ITEM = rf"(?:{_SCALAR}|{_INLINE})"
_ARRAY = rf"\[{_WS}(?:{_ITEM}{_WS}(?:,{_WS}{_ITEM}{_WS})*,?{_WS})?\]"


class _Patterns:
    """The compiled patterns, made on first use (compiling them costs more than most scans use)."""

    def __init__(self) -> None:
        self.pair_line = re.compile(rf"({_KEY}){_WS}={_WS}(.*)")
        self.top_value = re.compile(rf"{_SCALAR}|{_INLINE}|{_ARRAY}")
        self.item_line = re.compile(rf"{_WS}({_ITEM}){_WS}(,?){_WS}")
        self.item = re.compile(_ITEM)
        self.field = re.compile(rf"({_KEY}){_WS}={_WS}({_FIELD_VALUE})")
        self.string = re.compile(_STR)
        self.table = re.compile(rf"\[({_KEY}(?:\.{_KEY})*)\]")
        self.array_table = re.compile(rf"\[\[({_KEY}(?:\.{_KEY})*)\]\]")


@functools.cache
def _patterns() -> _Patterns:
    return _Patterns()


class _Unsupported(Exception):
    """The text leaves the subset :func:`loads_lockfile` reads itself."""


def loads_lockfile(text: str) -> dict[str, Any]:
    """``loads(text)``, faster for the plain TOML that lockfiles are written in."""
    try:
        return _Reader().read(text)
    except _Unsupported:
        return loads(text)


class _Reader:
    def __init__(self) -> None:
        self.patterns = _patterns()
        self.root: dict[str, Any] = {}
        #: ids of the containers TOML forbids extending (inline tables and arrays), and of the
        #: arrays of tables that ``[[...]]`` headers made (only those take more elements)
        self.static: set[int] = set()
        self.array_tables: set[int] = set()

    def read(self, text: str) -> dict[str, Any]:
        patterns = self.patterns
        table = self.root
        array: list[Any] | None = None  # the multi-line array being read
        array_key = ""
        comma = True  # the previous item of that array ended with a comma
        for raw in text.split("\n"):
            line = raw.rstrip(" \t")
            if array is not None:
                if not line:
                    continue
                if line.lstrip(" \t") == "]":
                    self._put(table, array_key, array)
                    array = None
                    continue
                match = patterns.item_line.fullmatch(line)
                if match is None or not comma:
                    raise _Unsupported
                array.append(self._value(match.group(1)))
                comma = bool(match.group(2))
                continue
            if not line:
                continue
            first = line[0]
            if first == "[":
                match = patterns.array_table.fullmatch(line)
                if match is not None:
                    table = self._array_table(match.group(1).split("."))
                    continue
                match = patterns.table.fullmatch(line)
                if match is None:
                    raise _Unsupported
                table = self._table(match.group(1).split("."))
                continue
            match = patterns.pair_line.fullmatch(line)
            if match is None:
                raise _Unsupported
            key, value = match.group(1), match.group(2)
            if value == "[":
                array, array_key, comma = [], key, True
                self.static.add(id(array))
                continue
            if patterns.top_value.fullmatch(value) is None:
                raise _Unsupported
            self._put(table, key, self._value(value))
        if array is not None:
            raise _Unsupported
        return self.root

    def _put(self, table: dict[str, Any], key: str, value: Any) -> None:
        if key in table:
            raise _Unsupported
        table[key] = value

    def _parent(self, path: list[str]) -> dict[str, Any]:
        node = self.root
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif type(child) is list and id(child) in self.array_tables:
                child = child[-1]
            elif type(child) is not dict or id(child) in self.static:
                raise _Unsupported
            node = child
        return node

    def _table(self, path: list[str]) -> dict[str, Any]:
        parent = self._parent(path)
        if path[-1] in parent:
            raise _Unsupported  # defined before (perhaps implicitly): tomllib knows the rules
        table: dict[str, Any] = {}
        parent[path[-1]] = table
        return table

    def _array_table(self, path: list[str]) -> dict[str, Any]:
        parent = self._parent(path)
        tables = parent.get(path[-1])
        if tables is None:
            tables = parent[path[-1]] = []
            self.array_tables.add(id(tables))
        elif type(tables) is not list or id(tables) not in self.array_tables:
            raise _Unsupported
        table: dict[str, Any] = {}
        tables.append(table)
        return table

    def _value(self, text: str) -> Any:
        """The value of a text that one of the value patterns matched in full."""
        first = text[0]
        if first == '"':
            return text[1:-1]
        if first == "{":
            table: dict[str, Any] = {}
            for match in self.patterns.field.finditer(text):
                key, value = match.group(1), match.group(2)
                if key in table:
                    raise _Unsupported
                table[key] = ([item[1:-1] for item in self.patterns.string.findall(value)] if value[0] == "["
                              else self._value(value))
            self.static.add(id(table))
            return table
        if first == "[":
            items = [self._value(match.group(0)) for match in self.patterns.item.finditer(text)]
            self.static.add(id(items))
            return items
        if text == "true":
            return True
        if text == "false":
            return False
        return int(text)

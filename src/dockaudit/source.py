"""Source files and positions.

Every parsed node carries a :class:`Span`. Lines and columns are 1-based; ``end_column`` is
exclusive (the column after the last character), as in SARIF regions. Columns count Unicode code
points of the decoded text, not bytes.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Span:
    """A region of one file: ``path`` is POSIX and relative to the scanned root."""

    path: str
    line: int
    column: int = 1
    end_line: int = 0
    end_column: int = 0

    def __post_init__(self) -> None:
        if self.end_line < self.line:
            object.__setattr__(self, "end_line", self.line)
        if self.end_line == self.line and self.end_column < self.column:
            object.__setattr__(self, "end_column", self.column)

    def __reduce__(self) -> tuple:
        # pickled by value (worker processes send documents full of spans): half the time of
        # the dataclass's generic state
        return Span, (self.path, self.line, self.column, self.end_line, self.end_column)

    @classmethod
    def whole_file(cls, path: str) -> Span:
        return cls(path, 1, 1, 1, 1)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class DecodeError(Exception):
    """Raised by :func:`load_source` when a file is not text we can read."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass
class SourceFile:
    """A decoded text file: UTF-8 (BOM stripped), line endings normalised to ``\\n``."""

    path: str
    text: str
    abspath: Path | None = None
    had_bom: bool = False
    had_crlf: bool = False
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        starts = [0]
        find = self.text.find
        pos = find("\n")
        while pos != -1:
            starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self._line_starts = starts

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def line_text(self, line: int) -> str:
        """The text of 1-based ``line`` without its newline ('' when out of range)."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self._line_starts[line] - 1 if line < len(self._line_starts) else len(self.text)
        return self.text[start:end]

    def offset(self, line: int, column: int) -> int:
        """Character offset of a 1-based line and column."""
        line = max(1, min(line, len(self._line_starts)))
        return min(self._line_starts[line - 1] + column - 1, len(self.text))

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def span(self, line: int, column: int = 1, end_line: int | None = None,
             end_column: int | None = None) -> Span:
        """A span in this file; without an end it covers the rest of ``line``."""
        if end_line is None:
            end_line = line
            end_column = len(self.line_text(line)) + 1
        elif end_column is None:
            end_column = len(self.line_text(end_line)) + 1
        return Span(self.path, line, column, end_line, end_column)

    def span_of_offsets(self, start: int, end: int) -> Span:
        line, col = self.position(start)
        end_line, end_col = self.position(max(start, end))
        return Span(self.path, line, col, end_line, end_col)

    def line_span(self, line: int) -> Span:
        """The span of a whole line, leading indentation excluded."""
        text = self.line_text(line)
        indent = len(text) - len(text.lstrip())
        return Span(self.path, line, indent + 1, line, len(text.rstrip()) + 1)


def decode(path: str, data: bytes, abspath: Path | None = None) -> SourceFile:
    """Decode bytes as a text file, or raise :class:`DecodeError` saying why not."""
    if b"\x00" in data[:8192]:
        raise DecodeError("binary file (contains NUL bytes); not a text configuration file")
    had_bom = data.startswith(b"\xef\xbb\xbf")
    if had_bom:
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = data[: exc.start]
        line = prefix.count(b"\n") + 1
        column = len(prefix) - (prefix.rfind(b"\n") + 1) + 1
        raise DecodeError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at line {line}); save the file as UTF-8",
            line, column,
        ) from None
    had_crlf = "\r" in text
    if had_crlf:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return SourceFile(path=path, text=text, abspath=abspath, had_bom=had_bom, had_crlf=had_crlf)


def load_source(root: Path, relpath: str) -> SourceFile:
    """Read and decode ``root/relpath``; raises :class:`DecodeError` or ``OSError``."""
    abspath = root / relpath
    size = abspath.stat().st_size
    if size > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // 1048576
        raise DecodeError(f"file is {size / 1048576:.1f} MB, over the {limit} MB limit; skipped")
    return decode(relpath, abspath.read_bytes(), abspath)


def from_text(path: str, text: str) -> SourceFile:
    """A source file made from a string (tests, inline Dockerfiles)."""
    return decode(path, text.encode("utf-8", "replace"))

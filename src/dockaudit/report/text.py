"""Terminal report: findings grouped by file, each with its source line underlined.

Everything that comes from scanned files (paths, source lines, and messages, which quote file
content) is shown as inert text: no rich markup is interpreted, and control characters (ANSI/OSC
escape sequences, carriage returns, bidirectional overrides) are replaced by visible escapes such
as ``\\x1b``, so a hostile file cannot restyle or rewrite the terminal. Carets are aligned by
terminal cells (``rich.cells.cell_len``), so lines with wide (CJK) characters stay correct.

Colours are rich styles turned into SGR codes once per style; the report is assembled as plain
strings, which is an order of magnitude faster than printing rich ``Text`` objects line by line.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from dockaudit.findings import Finding, Severity

if TYPE_CHECKING:
    from dockaudit.audit import AuditResult
    from dockaudit.source import SourceFile

#: tab stops are not predictable after our gutter, so a tab is shown as this many spaces
TAB = "    "
#: source lines longer than this (minified files) are shown as a window around the finding
MAX_LINE_CHARS = 200
_WINDOW_BEFORE = 40
_ELLIPSIS = "..."  # ASCII on purpose: "…" is ambiguous-width in CJK terminals

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.NOTE: "bold cyan"}


def visible(text: str, tab: str = " ") -> str:
    """``text`` with control and invisible formatting characters replaced by ``\\xNN`` escapes.

    Tabs become ``tab``. Printable text (including CJK and ordinary spaces) is unchanged.
    """
    if text.isprintable():
        return text
    out: list[str] = []
    for char in text:
        if char == "\t":
            out.append(tab)
        elif char == " " or unicodedata.category(char) not in _UNSAFE_CATEGORIES:
            out.append(char)
        else:
            code = ord(char)
            if code <= 0xFF:
                out.append(f"\\x{code:02x}")
            elif code <= 0xFFFF:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    return "".join(out)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary_line(result: AuditResult) -> str:
    """``3 errors, 2 warnings, 1 note in 12 files (2 suppressed)`` or ``No problems found in 12 files.``"""
    counts = {Severity.ERROR: 0, Severity.WARNING: 0, Severity.NOTE: 0}
    suppressed = 0
    for finding in result.findings:
        if finding.suppression is not None:
            suppressed += 1
        else:
            counts[finding.severity or Severity.ERROR] += 1
    files = _plural(result.files_scanned, "file")
    tail = f" ({suppressed} suppressed)" if suppressed else ""
    parts = [_plural(n, s.label) for s, n in counts.items() if n]
    if not parts:
        return f"No problems found in {files}{tail}."
    return f"{', '.join(parts)} in {files}{tail}"


def _snippet(source: SourceFile, finding: Finding) -> tuple[str, str, int] | None:
    """(shown line, underline, line number) for the first line of the finding's span."""
    from rich.cells import cell_len

    span = finding.span
    if span.line < 1 or span.line > source.line_count:
        return None
    line = source.line_text(span.line)
    if not line.strip():
        return None
    start = max(0, min(span.column - 1, len(line)))
    end = span.end_column - 1 if span.end_line == span.line else len(line)
    end = max(start, min(end, len(line)))
    lead, cut_tail = "", ""
    window_start, window_end = 0, len(line)
    if len(line) > MAX_LINE_CHARS:
        window_start = max(0, start - _WINDOW_BEFORE)
        window_end = min(len(line), window_start + MAX_LINE_CHARS)
        if window_start:
            lead = _ELLIPSIS
        if window_end < len(line):
            cut_tail = _ELLIPSIS
        end = min(end, window_end)
    before = lead + visible(line[window_start:start], TAB)
    marked = visible(line[start:end], TAB)
    shown = before + marked + visible(line[end:window_end], TAB) + cut_tail
    width = max(1, cell_len(marked))
    underline = " " * cell_len(before) + "^" * width
    return shown.rstrip(), underline, span.line


class _Painter:
    """Wraps text in SGR colour codes (from rich's :class:`~rich.style.Style`) or leaves it plain.

    Only our own fixed styles are used; the text itself is never parsed for markup, and
    everything from scanned files has been through :func:`visible` first.
    """

    def __init__(self, color: bool) -> None:
        self.color = color
        self._codes: dict[str, tuple[str, str]] = {}

    def __call__(self, text: str, style: str = "") -> str:
        if not (self.color and style and text):
            return text
        codes = self._codes.get(style)
        if codes is None:
            from rich.color import ColorSystem
            from rich.style import Style

            sample = Style.parse(style).render("\x00", color_system=ColorSystem.STANDARD)
            before, _, after = sample.partition("\x00")
            codes = self._codes[style] = (before, after)
        return codes[0] + text + codes[1]


def _finding_lines(finding: Finding, result: AuditResult, names: dict[str, str],
                   paint: _Painter) -> list[str]:
    severity = finding.severity or Severity.ERROR
    style = SEVERITY_STYLE[severity]
    suppressed = finding.suppression is not None
    name = names.get(finding.rule)
    head = (paint(visible(str(finding.span)), "bold") + "  " + paint(severity.label, style) + "  "
            + paint(finding.rule, "bold") + (paint(" " + name, "dim") if name else "") + "  "
            + paint(visible(finding.message), "dim" if suppressed else ""))
    lines = [head]

    source = result.sources.get(finding.span.path)
    snippet = _snippet(source, finding) if source is not None else None
    if snippet is not None:
        shown, underline, number = snippet
        gutter = str(number)
        pad = " " * len(gutter)
        lines.append(paint(f" {gutter} | ", "blue") + shown)
        carets = underline.lstrip(" ")
        spaces = underline[: len(underline) - len(carets)]
        lines.append(paint(f" {pad} | ", "blue") + spaces + paint(carets, style))
        indent = f" {pad} "
    else:
        indent = "   "

    for related in finding.related:
        lines.append(indent + paint("= also: ", "blue")
                     + paint(visible(f"{related.span.path}:{related.span.line}"), "bold")
                     + ": " + visible(related.message))
    if finding.fix:
        lines.append(indent + paint("help: ", "bold green") + visible(finding.fix))
    if suppressed:
        where = finding.suppression.span
        reason = finding.suppression.reason
        why = f": {reason}" if reason else " (no reason given)"
        lines.append(indent + paint("= suppressed", "bold magenta")
                     + visible(f" at {where.path}:{where.line}{why}"))
    return lines


def render(result: AuditResult, color: bool = False, quiet: bool = False,
           show_suppressed: bool = False) -> str:
    """The human-readable report; ``quiet`` leaves out the summary line."""
    from dockaudit.catalog import load_catalog

    catalog = load_catalog()
    names = {rule_id: catalog.name_of(rule_id) for rule_id in catalog}
    shown = [f for f in result.findings if show_suppressed or f.suppression is None]
    paint = _Painter(color)
    # findings arrive sorted by path, line and column, so each file's findings are adjacent
    blocks = ["\n".join(_finding_lines(finding, result, names, paint)) + "\n" for finding in shown]
    out = "\n".join(blocks)
    if not quiet:
        out += ("\n" if shown else "") + paint(summary_line(result), "bold") + "\n"
    return out

"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` line per finding.

GitHub turns these lines into annotations on the pull request. Values are escaped the way the
runner expects: ``%``, CR and LF everywhere, and also ``:`` and ``,`` inside properties. Control and
invisible characters from scanned files (ANSI/OSC escape sequences, bidi overrides) are shown as
``\\x1b``-style escapes, as in the text report, because the Actions log renders ANSI sequences.
Suppressed findings are not annotated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockaudit.catalog import load_catalog
from dockaudit.findings import Severity
from dockaudit.report.text import visible

if TYPE_CHECKING:
    from dockaudit.audit import AuditResult

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def escape_data(text: str) -> str:
    """Escape the message part of a workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value (``file=...``, ``title=...``) of a workflow command."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _inert(text: str) -> str:
    """Control characters shown as escapes; line breaks kept (:func:`escape_data` encodes them)."""
    return "\n".join(visible(line) for line in text.split("\n"))


def render(
    result: AuditResult, color: bool = False, quiet: bool = False, show_suppressed: bool = False
) -> str:
    """Annotation lines; ``quiet`` and ``color`` do not apply."""
    catalog = load_catalog()
    lines = []
    for finding in result.findings:
        if finding.suppression is not None:
            continue
        span = finding.span
        info = catalog.get(finding.rule)
        title = f"{finding.rule} {info.name}" if info else finding.rule
        properties = {
            "file": visible(span.path),
            "line": str(span.line),
            "col": str(span.column),
            "endLine": str(span.end_line),
            "endColumn": str(span.end_column),
            "title": title,
        }
        message = _inert(finding.message)
        for related in finding.related:
            message += "\n" + _inert(f"also: {related.span.path}:{related.span.line}: {related.message}")
        if finding.fix:
            message += "\n" + _inert(f"help: {finding.fix}")
        props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
        lines.append(f"::{COMMANDS[finding.severity or Severity.ERROR]} {props}::{escape_data(message)}")
    return "".join(line + "\n" for line in lines)

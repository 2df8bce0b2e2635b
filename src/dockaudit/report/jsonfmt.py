"""JSON report: a documented, stable shape (see README, "JSON output").

``{"version", "tool", "findings": [{"rule", "name", "severity", "message", "path", "line", "column",
"end_line", "end_column", "related": [{"path", "line", "column", "end_line", "end_column", "message"}],
"fix", "suppressed", "justification"}], "summary": {"error", "warning", "note", "suppressed", "files"}}``
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import TYPE_CHECKING

from dockaudit import __version__
from dockaudit.catalog import load_catalog

if TYPE_CHECKING:
    from dockaudit.audit import AuditResult

SCHEMA_VERSION = 1

#: characters that are never written raw: C0/C1 controls, invisible format characters (bidi
#: overrides, zero-width, tag characters), line and paragraph separators, surrogates
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_NON_ASCII = re.compile(r"[^\x00-\x7e]")


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return char
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def escape_invisible(text: str) -> str:
    """JSON text with control and invisible characters written as ``\\uXXXX`` escapes.

    ``json.dumps(..., ensure_ascii=False)`` escapes only C0 controls; a DEL, a C1 control (``\\x9b``
    is a CSI to some terminals) or a bidi override from a scanned file would reach whoever reads
    the report in a terminal. Outside strings JSON text is ASCII, so only string contents change,
    and the decoded values stay the same.
    """
    if text.isascii() and "\x7f" not in text:
        return text
    return _NON_ASCII.sub(_json_escape, text)


def _span(span) -> dict:
    return {"path": span.path, "line": span.line, "column": span.column,
            "end_line": span.end_line, "end_column": span.end_column}


def render(result: AuditResult, color: bool = False, quiet: bool = False,
           show_suppressed: bool = False) -> str:
    catalog = load_catalog()
    findings = []
    counts = {"error": 0, "warning": 0, "note": 0, "suppressed": 0}
    for finding in result.findings:
        info = catalog.get(finding.rule)
        entry = {
            "rule": finding.rule,
            "name": info.name if info else finding.rule.lower(),
            "severity": finding.severity.label,
            "message": finding.message,
            **_span(finding.span),
            "related": [{**_span(r.span), "message": r.message} for r in finding.related],
            "fix": finding.fix,
            "suppressed": finding.suppression is not None,
        }
        if finding.suppression is not None:
            entry["justification"] = finding.suppression.reason
            counts["suppressed"] += 1
        else:
            counts[finding.severity.label] += 1
        findings.append(entry)
    document = {
        "version": SCHEMA_VERSION,
        "tool": {"name": "dockaudit", "version": __version__},
        "findings": findings,
        "summary": {**counts, "files": result.files_scanned},
    }
    return escape_invisible(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"

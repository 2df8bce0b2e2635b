"""JSON report: a documented, stable shape (see README, "JSON output").

``{"version", "tool", "findings": [{"rule", "name", "severity", "message", "path", "line", "column",
"end_line", "end_column", "related": [{"path", "line", "column", "end_line", "end_column", "message"}],
"fix", "suppressed", "justification"}], "summary": {"error", "warning", "note", "suppressed", "files"}}``
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from dockaudit import __version__
from dockaudit.catalog import load_catalog

if TYPE_CHECKING:
    from dockaudit.audit import AuditResult

SCHEMA_VERSION = 1


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
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

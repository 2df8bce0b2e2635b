"""The JSON report keeps its documented shape."""

from __future__ import annotations

import json

from dockaudit import __version__
from dockaudit.audit import AuditResult
from dockaudit.findings import Finding, Related, Severity, Suppression
from dockaudit.report import render
from dockaudit.source import Span


def test_shape_and_summary():
    findings = [
        Finding(Span("compose.yaml", 3, 5, 3, 14), "服务 \x1b[31m broken", rule="DA001",
                severity=Severity.ERROR, fix="fix it",
                related=(Related(Span("Dockerfile", 1, 1, 1, 12), "here"),)),
        Finding(Span("Dockerfile", 2, 1, 2, 7), "m", rule="DA003", severity=Severity.WARNING,
                suppression=Suppression(Span("Dockerfile", 1, 1, 1, 30), "known")),
        Finding(Span(".env", 1, 1, 1, 2), "n", rule="DA002", severity=Severity.NOTE),
    ]
    text = render("json", AuditResult(findings=findings, files_scanned=7))
    assert "\x1b" not in text  # JSON escapes control characters
    document = json.loads(text)
    assert set(document) == {"version", "tool", "findings", "summary"}
    assert document["version"] == 1
    assert document["tool"] == {"name": "dockaudit", "version": __version__}
    assert document["summary"] == {"error": 1, "warning": 0, "note": 1, "suppressed": 1, "files": 7}
    first, second, third = document["findings"]
    assert first == {
        "rule": "DA001", "name": "parse-error", "severity": "error", "message": "服务 \x1b[31m broken",
        "path": "compose.yaml", "line": 3, "column": 5, "end_line": 3, "end_column": 14,
        "related": [{"path": "Dockerfile", "line": 1, "column": 1, "end_line": 1, "end_column": 12,
                     "message": "here"}],
        "fix": "fix it", "suppressed": False,
    }
    assert second["suppressed"] is True and second["justification"] == "known"
    assert third["severity"] == "note" and third["fix"] is None and third["related"] == []


def test_empty_report():
    document = json.loads(render("json", AuditResult(findings=[], files_scanned=0)))
    assert document["findings"] == []
    assert document["summary"] == {"error": 0, "warning": 0, "note": 0, "suppressed": 0, "files": 0}

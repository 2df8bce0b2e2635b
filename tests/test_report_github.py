"""GitHub Actions annotations: one workflow command per finding, escaped so content cannot inject commands."""

from __future__ import annotations

from dockaudit.audit import AuditResult
from dockaudit.findings import Finding, Related, Severity, Suppression
from dockaudit.report import render
from dockaudit.report.github import escape_data, escape_property
from dockaudit.source import Span


def annotate(*findings: Finding) -> list[str]:
    out = render("github", AuditResult(findings=list(findings), files_scanned=1))
    assert out == "" or out.endswith("\n")
    return out.splitlines()


def test_one_line_per_finding_with_levels():
    lines = annotate(
        Finding(Span("Dockerfile", 3, 5, 3, 12), "error here", rule="DA001", severity=Severity.ERROR),
        Finding(Span("compose.yaml", 7, 1, 7, 4), "warn here", rule="DA003", severity=Severity.WARNING),
        Finding(Span(".env", 1, 1, 1, 2), "note here", rule="DA002", severity=Severity.NOTE),
    )
    assert lines == [
        "::error file=Dockerfile,line=3,col=5,endLine=3,endColumn=12,title=DA001 parse-error::error here",
        "::warning file=compose.yaml,line=7,col=1,endLine=7,endColumn=4,"
        "title=DA003 unknown-rule-id::warn here",
        "::notice file=.env,line=1,col=1,endLine=1,endColumn=2,title=DA002 unreadable-file::note here",
    ]


def test_fix_and_related_become_extra_message_lines():
    (line,) = annotate(Finding(Span("compose.yaml", 2, 1, 2, 5), "bad", rule="DA003",
                               severity=Severity.WARNING, fix="rename it",
                               related=(Related(Span("Dockerfile", 4, 1), "stage here"),)))
    assert line.endswith("::bad%0Aalso: Dockerfile:4: stage here%0Ahelp: rename it")


def test_escaping():
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"
    (line,) = annotate(Finding(Span("odd,name:1.yaml", 1, 1, 1, 2), "value\n::error file=x::injected 50%",
                               rule="DA003", severity=Severity.WARNING))
    assert line.startswith("::warning file=odd%2Cname%3A1.yaml,line=1,")
    assert line.endswith("::value%0A::error file=x::injected 50%25")
    assert "\n" not in line


def test_suppressed_findings_are_not_annotated():
    suppressed = Finding(Span("Dockerfile", 1, 1, 1, 2), "m", rule="DA003", severity=Severity.WARNING,
                         suppression=Suppression(Span("Dockerfile", 1, 1), "ok"))
    assert annotate(suppressed) == []


def test_unknown_rule_id_still_renders():
    (line,) = annotate(Finding(Span("x", 1, 1, 1, 2), "m", rule="DA999", severity=None))
    assert line.startswith("::error ") and ",title=DA999::" in line

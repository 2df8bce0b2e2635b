"""The terminal reporter: layout, escaping of hostile file content, caret alignment, summary."""

from __future__ import annotations

import re

from rich.cells import cell_len

from dockaudit.audit import AuditResult
from dockaudit.findings import Finding, Related, Severity, Suppression
from dockaudit.report import render
from dockaudit.report.text import summary_line, visible
from dockaudit.source import Span, from_text

SGR = re.compile(r"\x1b\[[0-9;]*m")


def finding(path: str, line: int, col: int, end: int, message: str = "something is wrong", *,
            rule: str = "DA003", severity: Severity = Severity.WARNING, **extra) -> Finding:
    return Finding(Span(path, line, col, line, end), message, rule=rule, severity=severity, **extra)


def result_of(files: dict[str, str], findings: list[Finding], scanned: int | None = None) -> AuditResult:
    sources = {path: from_text(path, text) for path, text in files.items()}
    return AuditResult(findings=findings, sources=sources,
                       files_scanned=len(files) if scanned is None else scanned)


def code_and_caret(output: str, line_number: int) -> tuple[str, str]:
    """The shown source line and the underline below it (gutter removed)."""
    lines = output.split("\n")
    for index, line in enumerate(lines):
        if line.startswith(f" {line_number} | "):
            return line.split(" | ", 1)[1], lines[index + 1].split(" | ", 1)[1]
    raise AssertionError(f"no source line {line_number} in:\n{output}")


def test_plain_layout():
    files = {"Dockerfile": "FROM python:3.12-slim\nRUN pip install flask\n"}
    res = result_of(files, [finding("Dockerfile", 2, 5, 8, "use --no-cache-dir",
                                    related=(Related(Span("compose.yaml", 4, 5, 4, 9), "built here"),),
                                    fix="add --no-cache-dir")])
    out = render("text", res, color=False)
    assert "\x1b" not in out
    lines = out.split("\n")
    assert lines[0] == "Dockerfile:2:5  warning  DA003 unknown-rule-id  use --no-cache-dir"
    code, caret = code_and_caret(out, 2)
    assert code == "RUN pip install flask"
    assert caret == "    ^^^"
    assert "   = also: compose.yaml:4: built here" in lines
    assert "   help: add --no-cache-dir" in lines
    assert lines[-2] == "1 warning in 1 file"
    assert out.endswith("\n")


def test_findings_grouped_by_file_in_order():
    files = {"a/Dockerfile": "FROM a\n", "b/Dockerfile": "FROM b\n"}
    res = result_of(files, [finding("a/Dockerfile", 1, 1, 5), finding("b/Dockerfile", 1, 1, 5)])
    out = render("text", res)
    assert out.index("a/Dockerfile:1:1") < out.index("b/Dockerfile:1:1")


def test_color_only_when_asked():
    files = {"Dockerfile": "FROM python\n"}
    res = result_of(files, [finding("Dockerfile", 1, 1, 5, severity=Severity.ERROR, rule="DA001")])
    plain = render("text", res, color=False)
    colored = render("text", res, color=True)
    assert "\x1b" not in plain
    assert "\x1b[" in colored
    assert SGR.sub("", colored) == plain


def test_ansi_osc_and_control_characters_from_files_are_escaped():
    hostile = "RUN echo \x1b[2J\x1b]8;;http://evil\x07click\x1b]8;;\x07 \x08 \u202eevil\u202c done"
    files = {"Dockerfile\x1b[31m": f"FROM python\n{hostile}\n"}
    res = result_of(files, [finding("Dockerfile\x1b[31m", 2, 1, 4, "value \x1b]0;title\x07 quoted\r",
                                    fix="remove \x1b[1m", related=(Related(Span("x\x1b", 1), "r\x1b"),))])
    for color in (False, True):
        out = render("text", res, color=color)
        without_sgr = SGR.sub("", out) if color else out
        assert "\x1b" not in without_sgr
        for char in "\x07\r\x08\u202e\u202c":
            assert char not in out
        assert "\\x1b[2J" in out
        assert "\\x1b]8;;http://evil\\x07click" in out
        assert "\\u202eevil\\u202c" in out
        assert "value \\x1b]0;title\\x07 quoted\\x0d" in out
        assert "Dockerfile\\x1b[31m:2:1" in out


def test_rich_markup_in_files_is_shown_literally():
    files = {"compose.yaml": "command: echo [bold red]hi[/bold red] :smile:\n"}
    res = result_of(files, [finding("compose.yaml", 1, 10, 14, "found [link=http://x]here[/link]")])
    for color in (False, True):
        out = SGR.sub("", render("text", res, color=color))
        assert "echo [bold red]hi[/bold red] :smile:" in out
        assert "found [link=http://x]here[/link]" in out


def test_caret_aligned_after_chinese_text():
    line = 'ENV DESCRIPTION="中文语音识别服务" MODEL_PATH=/models'
    files = {"Dockerfile": f"FROM python\n{line}\n"}
    column = line.index("MODEL_PATH") + 1
    res = result_of(files, [finding("Dockerfile", 2, column, column + len("MODEL_PATH"))])
    code, caret = code_and_caret(render("text", res), 2)
    assert code == line
    prefix = code[: code.index("MODEL_PATH")]
    assert cell_len(prefix) == len(prefix) + 8  # eight wide characters
    assert caret.index("^") == cell_len(prefix)
    assert caret.strip() == "^" * len("MODEL_PATH")


def test_caret_under_wide_characters_is_as_wide_as_them():
    files = {".env": "TITLE=听力训练\n"}
    res = result_of(files, [finding(".env", 1, 7, 11)])
    _, caret = code_and_caret(render("text", res), 1)
    assert caret == " " * 6 + "^" * 8


def test_caret_aligned_after_tabs_and_escapes():
    line = "\tRUN\x1b echo hi"
    files = {"Dockerfile": f"FROM x\n{line}\n"}
    column = line.index("echo") + 1
    res = result_of(files, [finding("Dockerfile", 2, column, column + 4)])
    code, caret = code_and_caret(render("text", res), 2)
    assert code[caret.index("^"):].startswith("echo")
    assert caret.count("^") == 4


def test_long_lines_are_windowed_around_the_span():
    line = "x" * 500 + " TARGET " + "y" * 500
    files = {"package.json": line + "\n"}
    column = line.index("TARGET") + 1
    res = result_of(files, [finding("package.json", 1, column, column + 6)])
    code, caret = code_and_caret(render("text", res), 1)
    assert len(code) < 300
    assert code[caret.index("^"):].startswith("TARGET")
    assert caret.count("^") == 6


def test_multiline_span_underlines_rest_of_first_line():
    files = {"compose.yaml": "services:\n  app:\n    image: x\n"}
    res = result_of(files, [Finding(Span("compose.yaml", 2, 3, 3, 13), "m", rule="DA003",
                                    severity=Severity.NOTE)])
    _, caret = code_and_caret(render("text", res), 2)
    assert caret == "  ^^^^"


def test_missing_source_or_line_shows_no_snippet():
    res = AuditResult([finding("gone.txt", 3, 1, 2), finding("Dockerfile", 9, 1, 2)],
                      {"Dockerfile": from_text("Dockerfile", "FROM x\n")}, files_scanned=1)
    out = render("text", res)
    assert " | " not in out
    assert "gone.txt:3:1  warning" in out


def test_summary_line_counts():
    files = {"Dockerfile": "FROM x\n" * 10}
    suppressed = Suppression(Span("Dockerfile", 1), "known")
    findings = [
        *(finding("Dockerfile", n, 1, 2, rule="DA001", severity=Severity.ERROR) for n in (1, 2, 3)),
        *(finding("Dockerfile", n, 1, 2, severity=Severity.WARNING) for n in (4, 5)),
        finding("Dockerfile", 6, 1, 2, severity=Severity.NOTE),
        *(finding("Dockerfile", n, 1, 2, suppression=suppressed) for n in (7, 8)),
    ]
    res = result_of(files, findings, scanned=12)
    assert summary_line(res) == "3 errors, 2 warnings, 1 note in 12 files (2 suppressed)"
    assert render("text", res).rstrip("\n").split("\n")[-1] == summary_line(res)
    assert summary_line(result_of(files, [], scanned=12)) == "No problems found in 12 files."
    assert render("text", result_of(files, [], scanned=12)) == "No problems found in 12 files.\n"
    error = finding("Dockerfile", 1, 1, 2, rule="DA001", severity=Severity.ERROR)
    only = result_of(files, [error], scanned=1)
    assert summary_line(only) == "1 error in 1 file"
    hidden = result_of(files, [finding("Dockerfile", 7, 1, 2, suppression=suppressed)], scanned=3)
    assert summary_line(hidden) == "No problems found in 3 files (1 suppressed)."


def test_suppressed_hidden_unless_asked():
    files = {"Dockerfile": "# dockaudit: ignore=DA003 known typo\nFROM x\n"}
    suppressed = finding("Dockerfile", 2, 1, 7, "hidden finding",
                         suppression=Suppression(Span("Dockerfile", 1, 1, 1, 37), "known typo"))
    res = result_of(files, [suppressed])
    assert "hidden finding" not in render("text", res)
    shown = render("text", res, show_suppressed=True)
    assert "hidden finding" in shown
    assert "= suppressed at Dockerfile:1: known typo" in shown


def test_quiet_prints_findings_only():
    files = {"Dockerfile": "FROM x\n"}
    res = result_of(files, [finding("Dockerfile", 1, 1, 5)])
    out = render("text", res, quiet=True)
    assert "Dockerfile:1:1" in out
    assert "in 1 file" not in out
    assert render("text", result_of(files, []), quiet=True) == ""


def test_visible_leaves_printable_text_alone():
    assert visible("中文 text [x] ½") == "中文 text [x] ½"
    assert visible("a\tb", "    ") == "a    b"
    assert visible("\x00\x7f\x9b\u2028\U000e0001") == "\\x00\\x7f\\x9b\\u2028\\U000e0001"

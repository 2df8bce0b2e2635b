"""The command line, in-process and as a real ``python -m dockaudit`` subprocess.

The projects are tiny and self-made. DA003 (a pragma or config naming an unknown rule) needs no
parser, so most tests use it; tests that need a parser skip until it exists.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockaudit import __version__, cli

from .conftest import write_tree

#: a config that names a rule id that does not exist: one DA003 warning at line 1
UNKNOWN_IN_CONFIG = {".dockaudit.toml": 'ignore = ["DA998"]\n'}
#: a clean project: nothing to report
CLEAN = {".dockaudit.toml": 'fail-on = "warning"\n'}
#: a Dockerfile whose pragma names an unknown rule: one DA003 warning at Dockerfile:1
UNKNOWN_PRAGMA = {"Dockerfile": "# dockaudit: ignore=DA999 typo\nFROM python:3.12-slim\n"}


def has_parser(module: str) -> bool:
    return importlib.util.find_spec(f"dockaudit.parse.{module}") is not None


needs_dockerfile_parser = pytest.mark.skipif(not has_parser("dockerfile"),
                                             reason="Dockerfile parser not built yet")


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch):
    for name in ("FORCE_COLOR", "NO_COLOR", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """``project(files)`` writes files into a fresh folder and makes it the current directory."""

    def make(files: dict[str, str]) -> Path:
        write_tree(tmp_path, files)
        monkeypatch.chdir(tmp_path)
        return tmp_path

    return make


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        cli.main(list(args))
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


def run_subprocess(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "dockaudit", *args], cwd=cwd, capture_output=True, text=True,
                          env=environment, timeout=120)


def rules_in(stdout: str, rule: str | None = None) -> list[tuple[str, str, int]]:
    """(rule, path, line) of the active findings of a JSON report, optionally of one rule only."""
    return [(f["rule"], f["path"], f["line"]) for f in json.loads(stdout)["findings"]
            if not f["suppressed"] and rule in (None, f["rule"])]


def assert_usage_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    lines = err.strip().split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith("dockaudit: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]


# --- exit codes and thresholds ---------------------------------------------------------------


def test_clean_project_exits_0(project, capsys):
    project(CLEAN)
    code, out, err = run(capsys)
    assert code == 0
    assert out == "No problems found in 0 files.\n"
    assert err == ""


def test_findings_exit_1(project, capsys):
    project(UNKNOWN_IN_CONFIG)
    code, out, _ = run(capsys, "--no-color")
    assert code == 1
    assert out.startswith(".dockaudit.toml:1:11  warning  DA003 unknown-rule-id  "
                          "config names unknown rule 'DA998'")
    assert ' 1 | ignore = ["DA998"]' in out
    assert "   |           ^^^^^^^" in out
    assert out.endswith("1 warning in 0 files\n")


@pytest.mark.parametrize(("threshold", "expected"), [("error", 0), ("warning", 1), ("note", 1), ("never", 0)])
def test_fail_on(project, capsys, threshold, expected):
    project(UNKNOWN_IN_CONFIG)
    assert run(capsys, "--fail-on", threshold)[0] == expected


def test_fail_on_from_config_and_cli_overrides_it(project, capsys):
    project({".dockaudit.toml": 'fail-on = "error"\nignore = ["DA998"]\n'})
    assert run(capsys)[0] == 0
    assert run(capsys, "--fail-on", "warning")[0] == 1


def test_bad_fail_on_value_is_a_usage_error(project, capsys):
    project(CLEAN)
    code, _, err = run(capsys, "--fail-on", "sometimes")
    assert_usage_error(code, err, "--fail-on")


# --- rule selection --------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--ignore", "DA003", 0),
    ("--ignore", "unknown-rule-id", 0),
    ("--ignore", "DA0", 0),
    ("--ignore", "da003,DA001", 0),
    ("--ignore", "DA001", 1),
    ("--select", "DA1", 0),
    ("--select", "DA0", 1),
    ("--select", "unknown-rule-id", 1),
    ("--select", "DA001,DA003", 1),
    ("--select", "DA001", 0),
    ("--select", "all", 1),
])
def test_select_and_ignore(project, capsys, option, value, expected):
    project(UNKNOWN_IN_CONFIG)
    code, out, _ = run(capsys, option, value, "--format", "json")
    assert code == expected, out


def test_unknown_rule_on_command_line_is_a_usage_error(project, capsys):
    project(CLEAN)
    code, _, err = run(capsys, "--select", "DA999")
    assert_usage_error(code, err, "--select", "DA999")
    code, _, err = run(capsys, "--ignore", "no-such-rule")
    assert_usage_error(code, err, "--ignore", "no-such-rule")


def test_exclude(project, capsys):
    project({"svc/Dockerfile": UNKNOWN_PRAGMA["Dockerfile"], "other/x.txt": "hi\n"})
    code, out, _ = run(capsys, "--format", "json")
    assert ("DA003", "svc/Dockerfile", 1) in rules_in(out)
    code, out, _ = run(capsys, "--format", "json", "--exclude", "svc")
    assert code == 0 and rules_in(out) == []
    code, out, _ = run(capsys, "--format", "json", "--exclude", "**/Dockerfile")
    assert code == 0 and rules_in(out) == []


def test_config_exclude(project, capsys):
    project({**UNKNOWN_PRAGMA, ".dockaudit.toml": 'exclude = ["Dockerfile"]\n'})
    assert run(capsys)[0] == 0


def test_paths_are_shown_relative_to_the_current_folder(project, capsys):
    root = project({"proj/sub/Dockerfile": UNKNOWN_PRAGMA["Dockerfile"]})
    _, out, _ = run(capsys, "proj", "--format", "json", "--select", "DA003")
    assert rules_in(out, "DA003") == [("DA003", "proj/sub/Dockerfile", 1)]
    _, out, _ = run(capsys, "proj/sub/Dockerfile", "--format", "json", "--select", "DA003")
    assert rules_in(out, "DA003") == [("DA003", "proj/sub/Dockerfile", 1)]
    os.chdir(root / "proj" / "sub")
    _, out, _ = run(capsys, "--format", "json", "--select", "DA003")
    assert rules_in(out, "DA003") == [("DA003", "Dockerfile", 1)]


# --- configuration ---------------------------------------------------------------------------


def test_explicit_config_outside_the_scanned_folder(project, capsys):
    config = '# CI settings\nfail-on = "never"\nselect = ["DA003", "DA997"]\n'
    project({**UNKNOWN_PRAGMA, "ci/dockaudit.toml": config})
    code, out, _ = run(capsys, "--config", "ci/dockaudit.toml", "--format", "json")
    assert code == 0  # fail-on = "never" from that config
    assert ("DA003", "ci/dockaudit.toml", 3) in rules_in(out)  # the unknown DA997
    assert ("DA003", "Dockerfile", 1) in rules_in(out)
    write_tree(Path.cwd(), {"proj/Dockerfile": UNKNOWN_PRAGMA["Dockerfile"]})
    code, out, _ = run(capsys, "proj", "--config", "ci/dockaudit.toml", "--format", "json")
    assert code == 0
    assert rules_in(out, "DA003") == [("DA003", "ci/dockaudit.toml", 3), ("DA003", "proj/Dockerfile", 1)]
    code, out, _ = run(capsys, "proj", "--config", "ci/dockaudit.toml")
    assert "ci/dockaudit.toml:3:20  warning  DA003" in out


def test_config_in_pyproject(project, capsys):
    project({"pyproject.toml": '[project]\nname = "x"\n\n[tool.dockaudit]\nignore = ["DA996"]\n'})
    _, out, _ = run(capsys, "--format", "json", "--select", "DA003")
    assert ("DA003", "pyproject.toml", 5) in rules_in(out)


def test_missing_config_file(project, capsys):
    project(CLEAN)
    code, _, err = run(capsys, "--config", "nope.toml")
    assert_usage_error(code, err, "nope.toml")


@pytest.mark.parametrize(("content", "words"), [
    ('select = ["DA001"\n', ["not valid TOML", ".dockaudit.toml"]),
    ('selct = ["DA001"]\n', ["unknown key", "selct"]),
    ('select = "DA001"\n', ["select", "not of type 'array'"]),
    ('fail-on = "sometimes"\n', ["fail-on", "sometimes"]),
    ('[gpu]\ndriver = 525\n', ["gpu.driver", "not of type 'string'"]),
    ('[gpu]\nmodel = "P40"\n', ["gpu", "unknown key", "model"]),
    ('[severity]\nDA003 = "fatal"\n', ["severity.DA003", "fatal"]),
])
def test_bad_config_is_a_usage_error(project, capsys, content, words):
    project({".dockaudit.toml": content})
    code, out, err = run(capsys)
    assert_usage_error(code, err, *words)
    assert out == ""


def test_unknown_rule_in_config_is_a_finding_at_its_line(project, capsys):
    config = '# settings\nselect = ["DA0"]\n\n[severity]\nDA001 = "warning"\nno-such = "note"\n'
    project({".dockaudit.toml": config})
    code, out, _ = run(capsys, "--format", "json")
    findings = [f for f in json.loads(out)["findings"] if f["rule"] == "DA003"]
    assert [(f["path"], f["line"], f["column"]) for f in findings] == [(".dockaudit.toml", 6, 1)]
    assert "no-such" in findings[0]["message"]
    assert code == 1


def test_missing_path(project, capsys):
    project(CLEAN)
    code, _, err = run(capsys, "does-not-exist")
    assert_usage_error(code, err, "does-not-exist")


# --- formats and output ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_each_format(project, capsys, fmt):
    project(UNKNOWN_IN_CONFIG)
    code, out, err = run(capsys, "--format", fmt)
    assert code == 1 and err == ""
    assert "\x1b" not in out
    if fmt == "json":
        assert rules_in(out) == [("DA003", ".dockaudit.toml", 1)]
    elif fmt == "sarif":
        log = json.loads(out)
        assert log["version"] == "2.1.0"
        assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["DA003"]
    elif fmt == "github":
        assert out.startswith("::warning file=.dockaudit.toml,line=1,col=11,")
    else:
        assert "DA003 unknown-rule-id" in out


def test_output_file(project, capsys, monkeypatch):
    root = project(UNKNOWN_IN_CONFIG)
    monkeypatch.setenv("FORCE_COLOR", "1")
    code, out, err = run(capsys, "--output", "report.txt")
    assert (code, out, err) == (1, "", "")
    written = (root / "report.txt").read_text(encoding="utf-8")
    assert "DA003" in written and "\x1b" not in written
    code, out, _ = run(capsys, "-f", "sarif", "-o", "report.sarif")
    assert json.loads((root / "report.sarif").read_text(encoding="utf-8"))["version"] == "2.1.0"


def test_output_to_unwritable_place(project, capsys):
    project(UNKNOWN_IN_CONFIG)
    code, _, err = run(capsys, "--output", "no/such/dir/report.txt")
    assert_usage_error(code, err, "cannot write")


def test_color_is_forced_and_disabled(project, capsys, monkeypatch):
    project(UNKNOWN_IN_CONFIG)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in run(capsys)[1]
    assert "\x1b" not in run(capsys, "--no-color")[1]
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in run(capsys)[1]


def test_quiet(project, capsys):
    project(UNKNOWN_IN_CONFIG)
    code, out, _ = run(capsys, "--quiet")
    assert code == 1
    assert "DA003" in out and "0 files" not in out
    write_tree(Path.cwd(), CLEAN)
    code, out, _ = run(capsys, "-q")
    assert (code, out) == (0, "")


# --- suppressions ----------------------------------------------------------------------------


def test_pragma_on_the_line_before(project, capsys):
    project({"Dockerfile": "# dockaudit: ignore=DA003 the typo below is on purpose\n"
                           "# dockaudit: ignore=DA999\nFROM python:3.12-slim\n"})
    _, out, _ = run(capsys, "--format", "json")
    (finding,) = [f for f in json.loads(out)["findings"] if f["rule"] == "DA003"]
    assert (finding["line"], finding["suppressed"]) == (2, True)
    assert finding["justification"] == "the typo below is on purpose"


def test_pragma_at_the_end_of_the_line(project, capsys):
    project({".dockaudit.toml": 'ignore = ["DA998"]  # dockaudit: ignore=unknown-rule-id old CI name\n'})
    code, out, _ = run(capsys)
    assert code == 0
    assert "DA998" not in out
    assert out == "No problems found in 0 files (1 suppressed).\n"


def test_pragma_ignore_file(project, capsys):
    project({"Dockerfile": "FROM python:3.12-slim\n"
                           "# dockaudit: ignore-file=DA003\n# dockaudit: ignore=DA999\n"})
    _, out, _ = run(capsys, "--format", "json")
    (finding,) = [f for f in json.loads(out)["findings"] if f["rule"] == "DA003"]
    assert finding["suppressed"] is True


def test_pragma_for_another_rule_does_not_suppress(project, capsys):
    project({"Dockerfile": "# dockaudit: ignore=DA001\n# dockaudit: ignore=DA999\nFROM python:3.12-slim\n"})
    _, out, _ = run(capsys, "--format", "json")
    assert ("DA003", "Dockerfile", 2) in rules_in(out)


def test_suppressed_findings_in_sarif_but_not_in_text(project, capsys):
    project({".dockaudit.toml": 'ignore = ["DA998"]  # dockaudit: ignore=DA003 kept for old CI\n'})
    code, out, _ = run(capsys, "--format", "sarif")
    assert code == 0
    (result,) = json.loads(out)["runs"][0]["results"]
    assert result["ruleId"] == "DA003"
    assert result["suppressions"] == [{
        "kind": "inSource", "status": "accepted", "justification": "kept for old CI",
        "location": result["suppressions"][0]["location"],
    }]
    _, text, _ = run(capsys)
    assert "DA003" not in text and "(1 suppressed)" in text
    _, text, _ = run(capsys, "--show-suppressed")
    assert "DA003" in text and "= suppressed at .dockaudit.toml:1: kept for old CI" in text


@needs_dockerfile_parser
def test_dockerfile_pragma_project_is_otherwise_clean(project, capsys):
    project({"Dockerfile": "# dockaudit: ignore-file=DA003\n"
                           "# dockaudit: ignore=DA999\nFROM python:3.12-slim\n"})
    code, out, _ = run(capsys, "--select", "DA0")
    assert code == 0, out


@pytest.mark.skipif(not has_parser("compose"), reason="compose parser not built yet")
def test_yaml_error_is_a_parse_error_finding(project, capsys):
    project({"compose.yaml": "services:\n  app:\n    image: [unclosed\n"})
    code, out, _ = run(capsys, "--format", "json", "--select", "DA001")
    assert code == 1
    assert any(rule == "DA001" and path == "compose.yaml" for rule, path, _ in rules_in(out))


# --- rules and explain -----------------------------------------------------------------------


def test_rules(capsys):
    code, out, _ = run(capsys, "rules", "--no-color")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "SEVERITY", "FILES", "SUMMARY"]
    assert any(line.startswith("DA001  parse-error") for line in lines)
    assert "\x1b" not in out


def test_rules_json_and_markdown(capsys):
    code, out, _ = run(capsys, "rules", "--format", "json")
    records = json.loads(out)
    assert code == 0 and {"DA000", "DA001", "DA003"} <= {r["id"] for r in records}
    assert all({"id", "name", "severity", "summary", "fix", "examples"} <= set(r) for r in records)
    code, out, _ = run(capsys, "rules", "-f", "markdown")
    assert out.startswith("| ID | Name | Severity | Files | Summary | Peers |\n|--")
    assert "| DA003 | `unknown-rule-id` | warning |" in out


@pytest.mark.parametrize("key", ["DA001", "da001", "parse-error"])
def test_explain(capsys, key):
    code, out, _ = run(capsys, "explain", key, "--no-color")
    assert code == 0
    assert out.startswith("DA001  parse-error  error\n")
    for heading in ("What it finds", "Why it matters", "How to fix", "Failing example", "Passing example",
                    "References", "Certainty:", "Code:"):
        assert heading in out
    assert "compose.yaml  <- fires at line 3" in out


def test_explain_names_the_code(capsys):
    from dockaudit.engine import load_checks

    registry = load_checks()
    if not registry:
        pytest.skip("no rule functions registered yet")
    rule_id, func = next(iter(sorted(registry.items())))
    _, out, _ = run(capsys, "explain", rule_id)
    assert f"Code:      {func.__module__}:{func.__qualname__}" in out
    assert func.__module__.startswith("dockaudit.checks.")


def test_explain_unknown_rule(capsys):
    code, out, err = run(capsys, "explain", "DA999")
    assert_usage_error(code, err, "DA999", "dockaudit rules")
    assert out == ""


# --- usage errors and the real command -------------------------------------------------------


def test_unknown_option(project, capsys):
    project(CLEAN)
    code, _, err = run(capsys, "--frobnicate")
    assert_usage_error(code, err, "--frobnicate")
    code, _, err = run(capsys, "rules", "--frobnicate")
    assert_usage_error(code, err, "--frobnicate")


def test_help(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "--fail-on" in out and "dockaudit rules" in out


def test_version_in_process(capsys):
    code, out, _ = run(capsys, "--version")
    assert (code, out) == (0, f"dockaudit {__version__}\n")


def test_subprocess_scan_and_exit_codes(tmp_path):
    write_tree(tmp_path, UNKNOWN_IN_CONFIG)
    done = run_subprocess("--format", "json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert rules_in(done.stdout) == [("DA003", ".dockaudit.toml", 1)]
    assert run_subprocess("--ignore", "DA003", cwd=tmp_path).returncode == 0
    done = run_subprocess("--no-such-option", cwd=tmp_path)
    assert_usage_error(done.returncode, done.stderr, "--no-such-option")
    done = run_subprocess("missing/", cwd=tmp_path)
    assert_usage_error(done.returncode, done.stderr, "missing")


def test_subprocess_version_is_light(tmp_path):
    done = run_subprocess("--version", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"dockaudit {__version__}\n")
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['dockaudit', '--version']\n"
        "try:\n"
        "    runpy.run_module('dockaudit', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'ruamel', 'jsonschema', 'click'})\n"
        "print(','.join(heavy) or 'none')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().split("\n")[-1] == "none"


def test_subprocess_broken_pipe_is_quiet(tmp_path):
    write_tree(tmp_path, UNKNOWN_IN_CONFIG)
    process = subprocess.Popen([sys.executable, "-m", "dockaudit", "rules", "-f", "json"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert b"Traceback" not in err

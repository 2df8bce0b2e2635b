"""SARIF 2.1.0 report (plain dicts), shaped for GitHub code scanning.

- ``tool.driver.rules`` holds the whole catalog, with help text and examples from the catalog;
- URIs are relative to ``%SRCROOT%`` (the folder dockaudit ran in), percent-encoded;
- ``partialFingerprints.primaryLocationLineHash`` hashes the rule id and the normalised text of
  the flagged line, plus how many earlier findings in the same file had that hash, so alerts
  keep their identity when unrelated lines are inserted or removed above them;
- suppressed findings are included, with ``suppressions: [{"kind": "inSource", ...}]``;
- at most :data:`MAX_RESULTS` results per run; the rest are dropped with a notification.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from dockaudit import __version__
from dockaudit.catalog import Example, RuleInfo, load_catalog
from dockaudit.findings import Finding, Severity

if TYPE_CHECKING:
    from dockaudit.audit import AuditResult
    from dockaudit.source import Span

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
#: where users learn about the tool (SARIF ``informationUri``)
INFORMATION_URI = "https://pypi.org/project/dockaudit/"
SRCROOT = "%SRCROOT%"
#: GitHub code scanning accepts at most this many results per run
MAX_RESULTS = 25_000

LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}
_PROBLEM_SEVERITY = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "recommendation"}
_LANGUAGES = {"dockerfile": "dockerfile", "compose": "yaml", "env": "sh", "nginx": "nginx",
              "requirements": "text", "pyproject": "toml", "uvlock": "toml", "packagejson": "json"}


# --- rules -----------------------------------------------------------------------------------


def _fence(text: str, language: str = "") -> str:
    """A markdown code block that the content cannot close early."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{text.strip(chr(10))}\n{ticks}"


def _language(name: str) -> str:
    lower = name.lower()
    if "dockerfile" in lower or "containerfile" in lower:
        return "dockerfile"
    for suffix, language in ((".yaml", "yaml"), (".yml", "yaml"), (".toml", "toml"), (".json", "json"),
                             (".conf", "nginx"), (".txt", "text")):
        if lower.endswith(suffix):
            return language
    if lower.startswith(".env") or ".env" in lower:
        return "sh"
    return ""


def _example_markdown(example: Example, title: str) -> list[str]:
    out = [f"**{title}**" + (f" ({example.note})" if example.note else "")]
    for name, content in example.files.items():
        where = ""
        if example.kind == "fail" and example.lines and (example.path is None or example.path == name):
            where = " — fires at line " + ", ".join(str(n) for n in example.lines)
        out += ["", f"`{name}`{where}:", "", _fence(content, _language(name))]
    return out


def _example_text(example: Example, title: str) -> list[str]:
    out = [title + (f" ({example.note})" if example.note else "") + ":"]
    for name, content in example.files.items():
        out.append(f"  {name}:")
        out += [f"    {line}" for line in content.strip("\n").split("\n")]
    return out


def rule_help(info: RuleInfo) -> dict[str, str]:
    """``help.text`` and ``help.markdown`` for a catalog entry."""
    text = [info.summary, ""]
    markdown = [f"**{info.summary}**", ""]
    if info.description:
        text += [info.description, ""]
        markdown += [info.description, ""]
    if info.rationale:
        text += ["Why it matters:", info.rationale, ""]
        markdown += ["### Why it matters", "", info.rationale, ""]
    if info.fix:
        text += ["How to fix:", info.fix, ""]
        markdown += ["### How to fix", "", info.fix, ""]
    if info.failing or info.passing:
        markdown += ["### Example", ""]
    if info.failing:
        text += [*_example_text(info.failing[0], "Fails"), ""]
        markdown += [*_example_markdown(info.failing[0], "Fails"), ""]
    if info.passing:
        text += [*_example_text(info.passing[0], "Passes"), ""]
        markdown += [*_example_markdown(info.passing[0], "Passes"), ""]
    if info.certainty != "certain":
        note = "This rule is heuristic: it can be wrong; suppress it with a reason where it is."
        text += [note, ""]
        markdown += [f"*{note}*", ""]
    if info.references:
        text += ["References:", *[f"  {ref}" for ref in info.references], ""]
        markdown += ["### References", "", *[f"- <{ref}>" for ref in info.references], ""]
    if info.peers:
        text += ["Equivalent checks in other tools: " + ", ".join(info.peers), ""]
        markdown += ["Equivalent checks in other tools: " + ", ".join(f"`{p}`" for p in info.peers), ""]
    return {"text": "\n".join(text).strip() + "\n", "markdown": "\n".join(markdown).strip() + "\n"}


def rule_descriptor(info: RuleInfo) -> dict:
    """The ``reportingDescriptor`` of one catalog entry."""
    tags = [*info.tags]
    for kind in info.kinds:
        if kind != "any":
            tags.append(kind)
    tags.append(info.certainty)
    return {
        "id": info.id,
        "name": info.name,
        "shortDescription": {"text": info.summary},
        "fullDescription": {"text": info.description or info.summary},
        "help": rule_help(info),
        "defaultConfiguration": {"level": LEVELS[info.severity]},
        "properties": {
            "tags": list(dict.fromkeys(tags)),
            "precision": "high" if info.certainty == "certain" else "medium",
            "problem.severity": _PROBLEM_SEVERITY[info.severity],
        },
    }


# --- results ---------------------------------------------------------------------------------


def artifact_location(path: str) -> dict:
    """A relative POSIX path as a percent-encoded URI under ``%SRCROOT%``."""
    path = path.replace("\\", "/")
    if path.startswith("/") or re.match(r"^[A-Za-z]:/", path):
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(path, safe="/"), "uriBaseId": SRCROOT}


def region(span: Span) -> dict:
    return {"startLine": span.line, "startColumn": span.column,
            "endLine": span.end_line, "endColumn": span.end_column}


def physical_location(span: Span) -> dict:
    return {"artifactLocation": artifact_location(span.path), "region": region(span)}


def _normalise(line: str) -> str:
    return " ".join(line.split())


def line_hash(rule: str, line_text: str) -> str:
    """The content part of ``primaryLocationLineHash``: rule id and flagged line, whitespace-normalised."""
    digest = hashlib.sha256(f"{rule}\x00{_normalise(line_text)}".encode()).hexdigest()
    return digest[:16]


def _escape_links(text: str) -> str:
    """Escape brackets that SARIF viewers would read as embedded links (``[text](1)``)."""
    return re.sub(r"\[([^\]]*)\]\((\d+)\)", r"\\[\1\\](\2)", text)


def _escape_brackets(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]")


def _message(finding: Finding) -> str:
    """Message, links to the related locations (GitHub shows them), and the fix."""
    text = _escape_links(finding.message)
    if finding.related:
        links = ", ".join(
            f"[{_escape_brackets(r.span.path)}:{r.span.line}]({number})"
            for number, r in enumerate(finding.related, start=1)
        )
        text += f" (see also {links})"
    if finding.fix:
        text += f"\nFix: {_escape_links(finding.fix)}"
    return text


def _result(finding: Finding, rule_index: dict[str, int], fingerprint: str) -> dict:
    severity = finding.severity or Severity.ERROR
    entry: dict = {"ruleId": finding.rule}
    if finding.rule in rule_index:
        entry["ruleIndex"] = rule_index[finding.rule]
    entry["level"] = LEVELS[severity]
    entry["message"] = {"text": _message(finding)}
    entry["locations"] = [{"physicalLocation": physical_location(finding.span)}]
    if finding.related:
        entry["relatedLocations"] = [
            {"id": number, "physicalLocation": physical_location(r.span), "message": {"text": r.message}}
            for number, r in enumerate(finding.related, start=1)
        ]
    entry["partialFingerprints"] = {"primaryLocationLineHash": fingerprint}
    if finding.suppression is not None:
        suppression: dict = {"kind": "inSource", "status": "accepted",
                             "location": {"physicalLocation": physical_location(finding.suppression.span)}}
        if finding.suppression.reason:
            suppression["justification"] = finding.suppression.reason
        entry["suppressions"] = [suppression]
    return entry


def fingerprints(result: AuditResult) -> list[str]:
    """``primaryLocationLineHash`` of each finding of ``result`` (in order)."""
    seen: dict[tuple[str, str], int] = {}
    ordered = sorted(range(len(result.findings)), key=lambda i: result.findings[i].sort_key())
    values: dict[int, str] = {}
    for index in ordered:
        finding = result.findings[index]
        source = result.sources.get(finding.span.path)
        text = source.line_text(finding.span.line) if source is not None else ""
        digest = line_hash(finding.rule, text if text.strip() else finding.message)
        key = (finding.span.path, digest)
        seen[key] = seen.get(key, 0) + 1
        values[index] = f"{digest}:{seen[key]}"
    return [values[i] for i in range(len(result.findings))]


def _folder_uri(folder: Path) -> str:
    uri = folder.resolve().as_uri()
    return uri if uri.endswith("/") else uri + "/"


def build(result: AuditResult) -> dict:
    """The SARIF log as a dict."""
    catalog = load_catalog()
    rules = list(catalog.values())
    rule_index = {info.id: number for number, info in enumerate(rules)}
    prints = fingerprints(result)
    pairs = list(zip(result.findings, prints))
    invocation: dict = {"executionSuccessful": True}
    if len(pairs) > MAX_RESULTS:
        # keep the most severe, then the first by position; drop the rest with a notice
        ranked = sorted(range(len(pairs)), key=lambda i: (pairs[i][0].suppression is not None,
                                                          -(pairs[i][0].severity or Severity.ERROR), i))
        keep = sorted(ranked[:MAX_RESULTS])
        dropped = len(pairs) - MAX_RESULTS
        pairs = [pairs[i] for i in keep]
        invocation["toolExecutionNotifications"] = [{
            "level": "warning",
            "message": {"text": f"{dropped} results were left out: a SARIF run holds at most {MAX_RESULTS}; "
                                "fix or exclude the noisiest rules, or use --format json for everything"},
            "descriptor": {"id": "too-many-results"},
        }]
    run = {
        "tool": {"driver": {
            "name": "dockaudit",
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": INFORMATION_URI,
            "rules": [rule_descriptor(info) for info in rules],
        }},
        "invocations": [invocation],
        "originalUriBaseIds": {SRCROOT: {"uri": _folder_uri(Path.cwd())}},
        "columnKind": "unicodeCodePoints",
        "results": [_result(finding, rule_index, fp) for finding, fp in pairs],
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(result: AuditResult, color: bool = False, quiet: bool = False,
           show_suppressed: bool = False) -> str:
    """SARIF JSON; suppressed findings are always included (marked as such)."""
    from dockaudit.report.jsonfmt import escape_invisible

    return escape_invisible(json.dumps(build(result), indent=2, ensure_ascii=False)) + "\n"

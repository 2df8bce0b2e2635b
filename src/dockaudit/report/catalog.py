"""``dockaudit rules`` and ``dockaudit explain ID``: the catalog printed for people (and the README).

Catalog text is ours, but it is still printed as plain :class:`rich.text.Text` (never parsed as
markup), so brackets in examples show as written.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

from dockaudit.catalog import Example, RuleInfo, load_catalog

if TYPE_CHECKING:
    from rich.console import Console

SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow", "note": "bold cyan"}


def _console(color: bool) -> tuple[Console, io.StringIO]:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=color, no_color=not color, color_system="standard" if color else None,
        width=1000, soft_wrap=True, highlight=False, markup=False, emoji=False, legacy_windows=False,
        force_jupyter=False, force_interactive=False,
    )
    return console, buffer


def _kinds(info: RuleInfo) -> str:
    return ",".join(info.kinds) or "any"


def code_location(info: RuleInfo) -> str:
    """Where the rule is implemented: ``dockaudit.checks.<module>:<function>``, or who emits it."""
    from dockaudit.engine import load_checks

    func = load_checks().get(info.id)
    if func is not None:
        return f"{func.__module__}:{func.__qualname__}"
    if info.emitted_by == "parser":
        return ("emitted while loading files "
                "(dockaudit.project, dockaudit.parse.*, dockaudit.engine, dockaudit.config)")
    if info.emitted_by == "internal":
        return "emitted by the engine when a parser or rule fails (dockaudit.engine, dockaudit.project)"
    return "not implemented yet"


def rule_record(info: RuleInfo) -> dict:
    """A catalog entry as JSON-ready data."""
    return {
        "id": info.id,
        "name": info.name,
        "severity": info.severity.label,
        "kinds": list(info.kinds),
        "certainty": info.certainty,
        "summary": info.summary,
        "description": info.description,
        "rationale": info.rationale,
        "fix": info.fix,
        "references": list(info.references),
        "peers": list(info.peers),
        "tags": list(info.tags),
        "emitted_by": info.emitted_by,
        "examples": [
            {"kind": e.kind, "path": e.path, "lines": list(e.lines), "note": e.note, "files": dict(e.files)}
            for e in info.examples
        ],
    }


def _markdown_cell(text: str) -> str:
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def render_rules(fmt: str = "text", color: bool = False) -> str:
    """Every rule as a text table, ``json`` or a ``markdown`` table."""
    rules = list(load_catalog().values())
    if fmt == "json":
        return json.dumps([rule_record(info) for info in rules], indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        lines = ["| ID | Name | Severity | Files | Summary | Peers |",
                 "|----|------|----------|-------|---------|-------|"]
        for info in rules:
            heuristic = " (heuristic)" if info.certainty != "certain" else ""
            peers = _markdown_cell(", ".join(info.peers)) if info.peers else ""
            lines.append(f"| {info.id} | `{info.name}` | {info.severity.label} "
                         f"| {_markdown_cell(_kinds(info).replace(',', ', '))} "
                         f"| {_markdown_cell(info.summary)}{heuristic} | {peers} |")
        return "\n".join(lines) + "\n"
    if fmt != "text":
        raise ValueError(f"unknown format {fmt!r}")
    from rich.cells import cell_len
    from rich.text import Text

    header = ("ID", "NAME", "SEVERITY", "FILES", "SUMMARY")
    rows = [(i.id, i.name, i.severity.label, _kinds(i) if len(i.kinds) <= 3 else "several", i.summary)
            for i in rules]
    widths = [max(cell_len(row[col]) for row in [header, *rows]) for col in range(4)]
    console, buffer = _console(color)

    def line(row: tuple[str, ...], styles: tuple[str, ...]) -> Text:
        text = Text()
        for col, value in enumerate(row):
            style = styles[col] if color else ""
            text.append(value, style=style)
            if col < 4:
                text.append(" " * (widths[col] - cell_len(value) + 2))
        return text

    console.print(line(header, ("bold",) * 5))
    for row in rows:
        console.print(line(row, ("bold", "", SEVERITY_STYLE.get(row[2], ""), "dim", "")))
    return buffer.getvalue()


def _example_lines(example: Example, title: str) -> list[tuple[str, str]]:
    out = [(title + (f" ({example.note})" if example.note else "") + ":", "bold")]
    for name, content in example.files.items():
        where = ""
        if example.kind == "fail" and example.lines and (example.path is None or example.path == name):
            where = "  <- fires at line " + ", ".join(str(n) for n in example.lines)
        out.append((f"  {name}{where}", "underline"))
        for number, text in enumerate(content.strip("\n").split("\n"), start=1):
            out.append((f"    {number:>3}  {text}", ""))
    return out


def render_explain(info: RuleInfo, color: bool = False) -> str:
    """One rule in full: what, why, how to fix, examples, references, peers, certainty, code."""
    from rich.text import Text

    from dockaudit.report.text import visible

    console, buffer = _console(color)

    def out(text: str = "", style: str = "") -> None:
        console.print(Text(visible(text, "    "), style=style if color else ""))

    def paragraph(title: str, body: str) -> None:
        if not body:
            return
        out()
        out(title, "bold underline")
        for line in body.strip().split("\n"):
            out("  " + line)

    head = Text()
    head.append(info.id, style="bold" if color else "")
    head.append(f"  {info.name}  ")
    head.append(info.severity.label, style=SEVERITY_STYLE.get(info.severity.label, "") if color else "")
    console.print(head)
    out(info.summary)
    out()
    out(f"Files:     {', '.join(info.kinds) or 'any'}")
    certainty = "certain (reports only what the files prove)" if info.certainty == "certain" else \
        f"{info.certainty} (may be wrong in unusual setups; suppress with a reason where it is)"
    out(f"Certainty: {certainty}")
    out(f"Code:      {code_location(info)}")
    if info.source:
        out(f"Catalog:   rules/{info.source}")
    paragraph("What it finds", info.description or info.summary)
    paragraph("Why it matters", info.rationale)
    paragraph("How to fix", info.fix)
    for title, examples in (("Failing example", info.failing), ("Passing example", info.passing)):
        for number, example in enumerate(examples, start=1):
            label = title if len(examples) == 1 else f"{title} {number}"
            out()
            for text, style in _example_lines(example, label):
                out(text, style)
    if info.references:
        out()
        out("References", "bold underline")
        for ref in info.references:
            out(f"  {ref}")
    if info.peers:
        out()
        out("Equivalent checks in other tools", "bold underline")
        out("  " + ", ".join(info.peers))
    out()
    out(f"Silence one finding with `# dockaudit: ignore={info.id} <reason>` on the line above it, "
        f"or turn the rule off with `ignore = [\"{info.id}\"]` in .dockaudit.toml.", "dim")
    return buffer.getvalue()

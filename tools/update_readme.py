"""Regenerate the rule table in README.md from the catalog: `python tools/update_readme.py`."""

from __future__ import annotations

import re
from pathlib import Path

from dockaudit.report.catalog import render_rules

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- rules:start -->", "<!-- rules:end -->"


def main() -> None:
    text = README.read_text(encoding="utf-8")
    table = render_rules("markdown", color=False).strip()
    block = f"{START}\n{table}\n{END}"
    if START in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    else:
        text = text.replace("RULES_TABLE", block)
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

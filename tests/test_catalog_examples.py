"""Every catalog example runs as a test: failing examples must fire, passing ones must stay quiet."""

from __future__ import annotations

import pytest

from dockaudit.catalog import load_catalog
from dockaudit.engine import load_checks

from .conftest import scan_tree

CATALOG = load_catalog()
CASES = [
    pytest.param(info, number, example, id=f"{info.id}-{info.name}-{example.kind}{number}")
    for info in CATALOG.values()
    for number, example in enumerate(info.examples, start=1)
]


@pytest.mark.parametrize(("info", "number", "example"), CASES)
def test_example(tmp_path, info, number, example):
    result = scan_tree(tmp_path, example.files, select=(info.id,))
    hits = [f for f in result.findings if f.rule == info.id and f.suppression is None]
    if example.kind == "fail":
        assert hits, f"{info.id} did not fire on its failing example {number}"
        if example.path:
            assert any(f.span.path == example.path for f in hits), [str(f.span) for f in hits]
        if example.lines:
            in_file = [f for f in hits if not example.path or f.span.path == example.path]
            assert any(f.span.line in example.lines for f in in_file), (
                [str(f.span) for f in hits])
        for finding in hits:
            assert finding.message.strip()
    else:
        assert not hits, [f"{f.span}: {f.message}" for f in hits]


@pytest.mark.parametrize("info", list(CATALOG.values()), ids=lambda i: i.id)
def test_every_rule_has_examples_and_docs(info):
    if info.id == "DA000":
        pytest.skip("internal errors have no reproducible example")
    assert info.failing, f"{info.id} has no failing example"
    assert info.passing, f"{info.id} has no passing example"
    assert info.description and info.rationale and info.fix
    assert info.name == info.name.lower() and " " not in info.name


def test_registry_and_catalog_agree():
    registry = load_checks()
    missing_docs = sorted(set(registry) - set(CATALOG))
    assert not missing_docs, f"rules without a catalog entry: {missing_docs}"
    unimplemented = sorted(i for i in set(CATALOG) - set(registry) if CATALOG[i].emitted_by == "rule")
    assert not unimplemented, f"catalog entries without an implementation: {unimplemented}"


def test_rule_functions_have_docstrings():
    for rule_id, func in load_checks().items():
        doc = (func.__doc__ or "").strip()
        assert len(doc) > 40, f"{rule_id} ({func.__name__}) needs a docstring"


def test_catalog_reads_an_entry_only_when_asked(tmp_path):
    from dockaudit.catalog import Catalog, CatalogError

    (tmp_path / "DA901-first-rule.toml").write_text(
        'id = "DA901"\nname = "first-rule"\nseverity = "warning"\nsummary = "s"\n'
        '\n[[examples]]\nkind = "fail"\nfiles = { "Dockerfile" = "FROM scratch\\n" }\n', encoding="utf-8")
    (tmp_path / "DA902-second-rule.toml").write_text("this is not TOML [", encoding="utf-8")
    catalog = Catalog(tmp_path)
    assert list(catalog) == ["DA901", "DA902"]
    assert catalog.name_of("DA902") == "second-rule"  # from the file name: nothing read yet
    info = catalog["DA901"]
    assert (info.name, info.severity.label) == ("first-rule", "warning")
    assert [e.kind for e in info.examples] == ["fail"]
    with pytest.raises(CatalogError, match=r"DA902-second-rule\.toml"):
        catalog["DA902"]


@pytest.mark.parametrize(("file_name", "text", "problem"), [
    ("DA901_bad.toml", "", "is named"),
    ("DA901-some-rule.toml", 'id = "DA901"\nname = "other-rule"\nseverity = "note"\nsummary = "s"\n',
     "does not match"),
])
def test_catalog_refuses_misnamed_entries(tmp_path, file_name, text, problem):
    from dockaudit.catalog import Catalog, CatalogError

    (tmp_path / file_name).write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=problem):
        Catalog(tmp_path)["DA901"]

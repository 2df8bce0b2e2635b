"""The env-file parser: compose's dotenv dialect with exact positions, and env templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockaudit.parse.envfile import parse, template_candidates, template_for
from dockaudit.project import Project
from dockaudit.source import decode, from_text


def env(text: str, path: str = ".env"):
    return parse(from_text(path, text))


def one(text: str):
    document = env(text)
    assert not document.diagnostics, [(str(d.span), d.message) for d in document.diagnostics]
    assert len(document.entries) == 1
    return document.entries[0]


@pytest.mark.parametrize(("text", "value"), [
    ("KEY=value", "value"),
    ("KEY=value\n", "value"),
    ("KEY = value", "value"),
    ("KEY=  spaced out  ", "spaced out"),
    ("KEY=", ""),
    ("KEY=a=b=c", "a=b=c"),
    ("KEY=value # comment", "value"),
    ("KEY=value#not-a-comment", "value#not-a-comment"),
    ("KEY=value\t# tab is not the comment marker", "value\t# tab is not the comment marker"),
    ("KEY=#starts-with-hash", "#starts-with-hash"),
    ("KEY=http://x.example/#frag", "http://x.example/#frag"),
    ("KEY: yaml style", "yaml style"),
    ('KEY="double"', "double"),
    ("KEY='single'", "single"),
    ('KEY=""', ""),
    ('KEY="a # not a comment"', "a # not a comment"),
    ('KEY="a" # comment', "a"),
    ('KEY="tab\\there"', "tab\there"),
    ('KEY="new\\nline"', "new\nline"),
    ('KEY="back\\\\slash"', "back\\slash"),
    ('KEY="say \\"hi\\""', 'say "hi"'),
    ('KEY="cost \\$5"', "cost $5"),
    ('KEY="octal \\0101"', "octal A"),
    ('KEY="unknown \\q kept"', "unknown \\q kept"),
    ("KEY='literal \\n $HOME ${X}'", "literal \\n $HOME ${X}"),
    ("KEY='it\\'s'", "it's"),
    ("KEY=pa$$word", "pa$word"),
    ("KEY=中文值", "中文值"),
    ("KEY=\"你好，世界\"", "你好，世界"),
])
def test_values(text, value):
    assert one(text).value == value


def test_export_prefix():
    entry = one("export  NODE_ENV=production")
    assert entry.exported and entry.key == "NODE_ENV" and entry.value == "production"
    assert (entry.span.column, entry.key_span.column, entry.key_span.end_column) == (1, 9, 17)


def test_key_named_export():
    entry = one("export=1")
    assert entry.key == "export" and not entry.exported


def test_positions_unquoted():
    document = env("# header\n\nA=1\n  DATABASE_URL = postgres://db:5432/app # primary\n")
    entry = document.get("DATABASE_URL")
    assert entry.value == "postgres://db:5432/app"
    assert (entry.key_span.line, entry.key_span.column, entry.key_span.end_column) == (4, 3, 15)
    assert (entry.value_span.line, entry.value_span.column, entry.value_span.end_column) == (4, 18, 40)
    assert (entry.span.column, entry.span.end_column) == (3, 40)
    assert entry.quote is None and entry.has_equals and entry.raw == "postgres://db:5432/app"


def test_positions_quoted_multiline():
    document = env('A=1\nCERT="-----BEGIN-----\nabc\n-----END-----"\nB=2\n')
    cert = document.get("CERT")
    assert cert.value == "-----BEGIN-----\nabc\n-----END-----"
    assert cert.quote == '"'
    assert (cert.span.line, cert.span.end_line) == (2, 4)
    assert (cert.value_span.line, cert.value_span.column) == (2, 6)
    assert (cert.value_span.end_line, cert.value_span.end_column) == (4, 15)
    assert document.get("B").key_span.line == 5
    assert document.anchor_lines(3) == [2]
    assert document.anchor_lines(5) == [5]
    assert document.anchor_lines(1) == [1]


def test_single_quoted_multiline():
    entry = one("KEY='line one\nline two'")
    assert entry.value == "line one\nline two" and entry.quote == "'"


def test_key_without_equals_is_inherited():
    document = env("DEBUG\nexport TOKEN\nA=1")
    debug, token, a = document.entries
    assert (debug.key, debug.has_equals, debug.value) == ("DEBUG", False, "")
    assert (token.key, token.exported, token.has_equals) == ("TOKEN", True, False)
    assert a.has_equals
    assert document.values() == {"A": "1"}
    assert set(document.keys) == {"DEBUG", "TOKEN", "A"}


def test_key_without_equals_at_end_of_file():
    entry = one("ONLY_A_NAME")
    assert entry.key == "ONLY_A_NAME" and not entry.has_equals


def test_interpolation_against_earlier_keys():
    document = env("HOST=db\nPORT=5432\nURL=postgres://${HOST}:$PORT/${DB_NAME:-app}\n"
                   'QUOTED="${HOST}-x"\nLITERAL=\'${HOST}\'\nLATER=${DEFINED_LATER}\nDEFINED_LATER=1\n')
    assert document.get("URL").value == "postgres://db:5432/app"
    assert document.get("QUOTED").value == "db-x"
    assert document.get("LITERAL").value == "${HOST}"
    assert document.get("LATER").value == ""
    refs = document.get("URL").refs
    assert [(r.name, r.defined, r.span.line, r.span.column, r.span.end_column) for r in refs] == [
        ("HOST", True, 3, 16, 23), ("PORT", True, 3, 24, 29), ("DB_NAME", False, 3, 30, 45)]
    later = document.get("LATER").refs[0]
    assert later.name == "DEFINED_LATER" and not later.defined and later.required
    quoted = document.get("QUOTED").refs[0]
    assert (quoted.span.line, quoted.span.column) == (4, 9)


def test_escaped_dollar_in_double_quotes_is_not_a_reference():
    entry = one('PASSWORD="abc\\$def"')
    assert entry.value == "abc$def" and entry.refs == []


def test_last_key_wins():
    document = env("A=1\nA=2\n")
    assert document.get("A").value == "2"
    assert document.values() == {"A": "2"}
    assert len(document.entries) == 2


def test_blank_lines_comments_and_whitespace():
    document = env("\n\n   \n# comment\n   # indented comment\n\tA=1\n\n")
    assert [(e.key, e.key_span.line, e.key_span.column) for e in document.entries] == [("A", 6, 2)]


def test_bom_and_crlf():
    source = decode(".env", "\ufeffA=1\r\nB=\"x\r\ny\"\r\n# c\r\nC=3".encode())
    document = parse(source)
    assert not document.diagnostics
    assert document.values() == {"A": "1", "B": "x\ny", "C": "3"}
    assert document.get("A").key_span.column == 1
    assert document.get("C").key_span.line == 5


def test_two_assignments_on_one_line_after_a_quote():
    document = env('A="x" B=y\n')
    assert document.values() == {"A": "x", "B": "y"}
    assert document.get("B").key_span.column == 7


@pytest.mark.parametrize(("text", "line", "column", "words"), [
    ("GOOD=1\nBAD KEY=2\nNEXT=3", 2, 4, "space"),
    ("GOOD=1\nKEY!=2\nNEXT=3", 2, 4, "unexpected character '!'"),
    ("GOOD=1\n=value\nNEXT=3", 2, 1, "missing variable name"),
    ('GOOD=1\nKEY="never closed\nNEXT=3', 2, 5, "unterminated"),
    ("GOOD=1\nKEY='never closed", 2, 5, "unterminated"),
    ("GOOD=1\nKEY=${\nNEXT=3", 2, 5, "variable name"),
    ("GOOD=1\nKEY=${VAR\nNEXT=3", 2, 5, "closing"),
    ('GOOD=1\nKEY="a ${B:x}"\nNEXT=3', 2, 8, "unexpected ':'"),
    ("GOOD=1\n名 字=2\nNEXT=3", 2, 2, "space"),
])
def test_bad_lines_report_exact_positions_and_continue(text, line, column, words):
    document = env(text)
    assert document.diagnostics, text
    finding = document.diagnostics[0]
    assert finding.rule == "DA001"
    assert (finding.span.line, finding.span.column) == (line, column), finding.message
    assert words in finding.message
    assert document.get("GOOD") is not None
    if "never closed" not in text:
        assert document.get("NEXT") is not None


def test_unicode_keys_are_letters():
    entry = one("名字=张三")
    assert entry.key == "名字" and entry.value == "张三"
    assert (entry.value_span.column, entry.value_span.end_column) == (4, 6)


@pytest.mark.parametrize(("path", "template"), [
    (".env", False), (".env.production", False), ("prod.env", False), ("env/.env.local", False),
    (".env.example", True), (".env.production.example", True), ("env.sample", True),
    ("example.env", True), (".env.template", True), (".env.dist", True), (".env.tpl", True),
    (".env.defaults", True), ("config/.env.Example", True),
])
def test_is_template(path, template):
    assert env("A=1", path).is_template is template


def test_template_candidates():
    assert template_candidates(".env")[:5] == [".env.example", ".env.sample", ".env.template", ".env.dist",
                                              ".env.tpl"]
    assert "env.example" in template_candidates(".env")
    assert template_candidates("deploy/.env.production")[0] == "deploy/.env.production.example"
    assert "prod.env.example" in template_candidates("prod.env")
    assert "prod.env.sample" in template_candidates("prod.env")
    assert template_candidates(".env.example") == []


def test_template_for_returns_existing(tmp_path: Path):
    for name in (".env.example", "env.sample", ".env.production.example", "api/prod.env.sample"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("A=\n", encoding="utf-8")
    project = Project(tmp_path)
    assert template_for(project, ".env") == [".env.example", "env.sample"]
    assert template_for(project, ".env.production") == [".env.production.example"]
    assert template_for(project, "api/prod.env") == ["api/prod.env.sample"]
    assert template_for(project, ".env.staging") == []


def test_parsed_through_the_project(tmp_path: Path):
    (tmp_path / ".env").write_text("A=1\nB C=2\n", encoding="utf-8")
    project = Project(tmp_path)
    document = project.env_file(".env")
    assert document is not None and document.values() == {"A": "1"}
    assert [d.rule for d in project.diagnostics] == ["DA001"]


_ENV_ALPHABET = st.sampled_from([*"AB_=:#'\"\\$ {}\n\t-xé中", "export ", "${A}", "\\n", " #"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_ENV_ALPHABET, max_size=40).map("".join))
def test_never_raises_and_spans_are_inside_the_file(text):
    source = from_text(".env", text)
    document = parse(source)
    lines = source.line_count

    def inside(span):
        assert 1 <= span.line <= span.end_line <= lines
        assert 1 <= span.column <= len(source.line_text(span.line)) + 1
        assert 1 <= span.end_column <= len(source.line_text(span.end_line)) + 1

    for entry in document.entries:
        for span in (entry.span, entry.key_span, entry.value_span, *[r.span for r in entry.refs]):
            inside(span)
    for finding in document.diagnostics:
        inside(finding.span)

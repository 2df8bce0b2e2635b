"""Compose interpolation: every form, nesting, escapes, errors with offsets, and a property test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockaudit.interpolate import interpolate, no_variables, parse_refs

ENV = {"SET": "value", "EMPTY": "", "PORT": "8080", "NAME": "app"}


def run(text: str, env: dict[str, str] | None = None):
    values = ENV if env is None else env
    return interpolate(text, values.get)


@pytest.mark.parametrize(("text", "expected"), [
    ("plain text", "plain text"),
    ("$SET", "value"),
    ("${SET}", "value"),
    ("a${SET}b", "avalueb"),
    ("$SET-$EMPTY-$UNSET", "value--"),
    ("${UNSET}", ""),
    # :- default when unset or empty; - only when unset
    ("${UNSET:-d}", "d"),
    ("${EMPTY:-d}", "d"),
    ("${SET:-d}", "value"),
    ("${UNSET-d}", "d"),
    ("${EMPTY-d}", ""),
    ("${SET-d}", "value"),
    # :+ alternative when set and non-empty; + when set
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${UNSET:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    # required forms give the value when present
    ("${SET:?missing}", "value"),
    ("${EMPTY?missing}", ""),
    # $$ is a literal dollar
    ("$$", "$"),
    ("$$SET", "$SET"),
    ("$${SET}", "${SET}"),
    ("pa$$word", "pa$word"),
    # a $ that starts nothing stays
    ("$", "$"),
    ("cost $5", "cost $5"),
    ("a $ b", "a $ b"),
    ("$-x", "$-x"),
    # nesting
    ("${UNSET:-${NAME}}", "app"),
    ("${UNSET:-${ALSO_UNSET:-x}}", "x"),
    ("${SET:-${NAME}}", "value"),
    ("${UNSET:-$NAME-$PORT}", "app-8080"),
    ("${UNSET:-a}${NAME:-b}", "aapp"),
    ("${SET:+${PORT}}", "8080"),
    # defaults may contain colons, slashes, spaces and braces
    ("${UNSET:-http://host:80/x}", "http://host:80/x"),
    ("${UNSET:-a b}", "a b"),
    ("${SET:-x}}", "value}"),
    ("${UNSET:-{x}", "{x"),
    ("${UNSET:-}", ""),
    # unicode around references
    ("名字=${NAME}，端口=${PORT}", "名字=app，端口=8080"),
    ("_${_A1:-ok}", "_ok"),
])
def test_values(text, expected):
    result = run(text)
    assert result.value == expected
    assert result.errors == []


def test_reference_offsets_and_fields():
    text = "x ${A:-d} $B ${C?oops}"
    refs = run(text, {}).refs
    assert [(r.name, r.modifier, r.default, r.start, r.end, r.required, r.braced) for r in refs] == [
        ("A", ":-", "d", 2, 9, False, True),
        ("B", None, None, 10, 12, True, False),
        ("C", "?", "oops", 13, 22, True, True),
    ]
    assert text[refs[0].start:refs[0].end] == "${A:-d}"
    assert text[refs[2].start:refs[2].end] == "${C?oops}"


@pytest.mark.parametrize(("text", "required"), [
    ("${A}", True), ("$A", True), ("${A:?e}", True), ("${A?e}", True),
    ("${A:-d}", False), ("${A-d}", False), ("${A:+x}", False), ("${A+x}", False),
])
def test_required(text, required):
    (ref,) = run(text, {}).refs
    assert ref.required is required


def test_nested_refs_are_reported_with_positions():
    text = "${A:-${B:-${C}}}"
    refs = run(text, {}).refs
    assert [(r.name, r.start, r.end, r.nested) for r in refs] == [
        ("A", 0, 16, False), ("B", 5, 15, True), ("C", 10, 14, True)]
    assert refs[0].default == "${B:-${C}}"


def test_missing_required_is_recorded_not_an_error():
    result = run("${DB_PASSWORD:?set it} ${EMPTY:?also} ${EMPTY?fine}")
    assert [r.name for r in result.missing] == ["DB_PASSWORD", "EMPTY"]
    assert result.errors == []


@pytest.mark.parametrize(("text", "offset", "words"), [
    ("${", 0, "variable name"),
    ("abc ${", 4, "variable name"),
    ("${}", 0, "variable name"),
    ("${1A}", 0, "variable name"),
    ("${-A}", 0, "variable name"),
    ("${VAR", 0, "closing"),
    ("x ${VAR", 2, "closing"),
    ("${VAR:x}", 0, "unexpected ':'"),
    ("${VAR:0:8}", 0, "unexpected ':'"),
    ("${VAR!}", 0, "unexpected '!'"),
    ("${VAR:-x", 0, "no closing"),
    ("${VAR:-a\n}", 0, "no closing"),
    ("${A:-${B", 0, "no closing"),
    ("ok ${A} then ${B", 13, "closing"),
])
def test_errors_have_offsets(text, offset, words):
    result = run(text, {})
    assert result.errors, text
    assert result.errors[0][0] == offset
    assert words in result.errors[0][1]


def test_error_inside_unused_default_is_still_reported():
    # compose would only fail when SET is unset; dockaudit reports it regardless
    result = run("${SET:-${}", {"SET": "x"})
    assert result.value == "x"
    assert result.errors and result.errors[0][0] == 7


def test_invalid_text_is_kept_literally():
    assert run("a ${ b", {}).value == "a ${ b"


def test_no_dollar_is_fast_path():
    result = interpolate("no variables here", no_variables)
    assert result.value == "no variables here" and not result.refs and not result.errors


def test_parse_refs_without_lookup():
    refs, errors = parse_refs("${A:-${B}} $$C ${")
    assert [r.name for r in refs] == ["A", "B"]
    assert errors and errors[0][0] == 15


def test_deep_nesting_is_refused_not_crashing():
    text = "${A:-" * 200 + "x" + "}" * 200
    result = run(text, {})
    assert any("nested" in message for _, message in result.errors)


def test_many_references_on_one_line_is_linear():
    text = "${A:-x}" * 20000
    result = run(text, {})
    assert result.value == "x" * 20000
    assert len(result.refs) == 20000


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="${}:-+?_aZ09 \n$", max_size=60))
def test_never_raises_and_offsets_are_inside(text):
    result = run(text, {"a": "1", "Z": ""})
    for ref in result.refs:
        assert 0 <= ref.start < ref.end <= len(text)
        assert text[ref.start] == "$"
    for offset, message in result.errors:
        assert 0 <= offset < len(text) and text[offset] == "$" and message

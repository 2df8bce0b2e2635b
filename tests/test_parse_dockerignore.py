"""``.dockerignore`` reading and matching with Docker's semantics."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockaudit.parse.dockerignore import dockerignore_for, go_clean, parse
from dockaudit.project import Project
from dockaudit.source import Span, from_text
from tests.conftest import write_tree


def ignore(*lines: str):
    return parse(from_text(".dockerignore", "\n".join(lines) + "\n"))


# (pattern, context-relative path, excluded?) — Docker's documented behaviour and the
# pattern matcher's own semantics
SINGLE = [
    ("*", "main.go", True),
    ("*", "src/main.go", True),            # '*' matches the folder 'src', so all below it
    ("*.go", "main.go", True),
    ("*.go", "src/main.go", False),        # relative to the root, not at any depth
    ("**/*.go", "src/pkg/main.go", True),
    ("**/*.go", "main.go", True),          # '**' also matches no folder at all
    ("**", "anything/at/all", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/a/b/file", True),
    ("dir/**", "dir", False),
    ("**/dir", "dir", True),
    ("**/dir", "a/b/dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**file", "dir/dir/file", True),
    ("**.log", "deep/er/app.log", True),   # a leading '**' with plain text is a suffix test
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("foo**", "foobar/x", True),           # a trailing '**' is a prefix test
    ("*/temp*", "somedir/temporary.txt", True),
    ("*/temp*", "somedir/temp/x", True),
    ("*/temp*", "temp.txt", False),
    ("*/*/temp*", "somedir/subdir/temporary.txt", True),
    ("temp?", "tempa", True),
    ("temp?", "temp", False),
    ("temp?", "tempab", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    ("a[!b]e", "a!e", True),               # '!' is no negation in a class, '^' is
    (".*", ".env", True),
    (".*", "env", False),
    ("abc.def", "abcZdef", False),         # '.' is literal
    ("abc?def", "abcZdef", True),
    ("a(b)c/def", "a(b)c/def", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("/foo/bar/", "foo/bar", True),        # leading and trailing slashes are disregarded
    ("./foo", "foo/x", True),
    ("foo/../bar", "bar", True),           # cleaned like filepath.Clean
    ("foo/../bar", "foo/bar", False),
    ("node_modules", "node_modules/pkg/index.js", True),
    ("node_modules", "web/node_modules/pkg", False),
    ("**/node_modules", "web/node_modules/pkg", True),
    (".", "anything", False),              # '.' is ignored
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
]


@pytest.mark.parametrize(("pattern", "path", "excluded"), SINGLE)
def test_single_pattern(pattern, path, excluded):
    document = ignore(pattern)
    assert document.diagnostics == []
    assert document.excludes(path) is excluded


MULTI = [
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),            # the last match decides
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["**", "!util/docker/web"], "util/docker/web/foo", False),   # re-including a folder re-includes below
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/x-1.0-py3-none-any.whl", False),
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True),
    (["*.md", "!README.md"], "docs/guide.md", False),             # '*.md' is root-only
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
    (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),
    ([".env*", "!.env.production.example"], ".env", True),
    ([".env*", "!.env.production.example"], ".env.production.example", False),
    (["data", "!data/keep"], "data/keep/x", False),
    (["data", "!data/keep"], "data/other/x", True),
    (["data/", "!data/**/*.json"], "data/a/b.json", False),
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), MULTI)
def test_pattern_order_and_exceptions(patterns, path, excluded):
    document = ignore(*patterns)
    assert document.excludes(path) is excluded


def test_matching_pattern_names_the_deciding_line():
    document = ignore("# build context", "*.log", "!keep.log", "data/")
    assert document.matching_pattern("a.log").span.line == 2
    deciding = document.matching_pattern("keep.log")
    assert deciding.negated and deciding.text == "keep.log" and deciding.span.line == 3
    assert document.matching_pattern("data/x/y").text == "data"
    assert document.matching_pattern("src/main.py") is None
    assert not document.excludes("keep.log")


def test_comments_only_in_column_one_and_positions():
    document = parse(from_text(".dockerignore", "# comment\n  # not a comment\n\n  !  /logs/  \n*.tmp"))
    assert [(p.text, p.negated, p.span) for p in document.patterns] == [
        ("# not a comment", False, Span(".dockerignore", 2, 3, 2, 18)),
        ("logs", True, Span(".dockerignore", 4, 3, 4, 12)),
        ("*.tmp", False, Span(".dockerignore", 5, 1, 5, 6)),
    ]
    assert document.excludes("# not a comment")


def test_queries_are_cleaned_and_root_never_excluded():
    document = ignore("foo")
    assert document.excludes("./foo/bar")
    assert document.excludes("/foo")
    assert not document.excludes(".")
    assert not document.excludes("../foo")
    assert not ignore("*").excludes("")


@pytest.mark.parametrize(("line", "column", "text"), [
    ("!", 1, "illegal exclusion"),
    ("[", 1, "character class"),
    ("a[]b", 1, "character class"),
    ("a[z-a]b", 1, "invalid range"),
    ("trailing\\", 1, "escapes nothing"),
    ("build\\output", 1, "not a valid escape"),
])
def test_patterns_docker_rejects(line, column, text):
    document = ignore("ok", line)
    assert len(document.diagnostics) == 1
    finding = document.diagnostics[0]
    assert finding.rule == "DA001" and text in finding.message
    assert (finding.span.line, finding.span.column) == (2, column)
    assert document.excludes("ok")  # the good patterns still work


def test_go_clean():
    assert go_clean("") == "."
    assert go_clean("a/./b/../c/") == "a/c"
    assert go_clean("../a") == "../a"
    assert go_clean("//a//b") == "/a/b"
    assert go_clean("/..") == "/"


# --- which file applies ----------------------------------------------------------------------


def make(tmp_path: Path, files: dict[str, str]) -> Project:
    write_tree(tmp_path, files)
    return Project(tmp_path)


def test_dockerfile_specific_ignore_file_wins(tmp_path):
    project = make(tmp_path, {
        ".dockerignore": "root-rule\n",
        "docker/api.Dockerfile": "FROM scratch\n",
        "docker/api.Dockerfile.dockerignore": "specific-rule\n",
        "docker/web.Dockerfile": "FROM scratch\n",
    })
    specific = dockerignore_for(project, ".", "docker/api.Dockerfile")
    assert specific is not None and specific.path == "docker/api.Dockerfile.dockerignore"
    fallback = dockerignore_for(project, ".", "docker/web.Dockerfile")
    assert fallback is not None and fallback.path == ".dockerignore"
    assert dockerignore_for(project, "docker", "docker/web.Dockerfile") is None
    assert dockerignore_for(project, "..", None) is None


def test_context_dockerignore_in_subfolder(tmp_path):
    project = make(tmp_path, {"svc/.dockerignore": "*.pyc\n", "svc/Dockerfile": "FROM scratch\n"})
    document = dockerignore_for(project, "svc", "svc/Dockerfile")
    assert document is not None and document.excludes("a.pyc")


# --- hostile input ------------------------------------------------------------------------------


def test_garbage_does_not_raise():
    text = "".join(chr(c) for c in range(1, 600)) + "\n[[[\\\n!!\n**/**/[^\n"
    document = parse(from_text(".dockerignore", text))
    for path in ["a", "a/b/c", "[", "\\", "**"]:
        document.excludes(path)


PATTERN_CHARS = st.sampled_from([*"ab*?[]^!\\/.- #", "**", "..", "é"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(PATTERN_CHARS, max_size=8).map("".join), max_size=6),
       st.lists(st.sampled_from(["a", "b", "ab", ".a", "*", "[", "é"]), min_size=1, max_size=4).map("/".join))
def test_property_never_raises_and_spans_inside(lines, path):
    document = parse(from_text(".dockerignore", "\n".join(lines)))
    source = document.source
    for item in [*(p.span for p in document.patterns), *(f.span for f in document.diagnostics)]:
        assert 1 <= item.line <= source.line_count
        assert 1 <= item.column <= item.end_column <= len(source.line_text(item.line)) + 1
    excluded = document.excludes(path)
    deciding = document.matching_pattern(path)
    assert excluded == (deciding is not None and not deciding.negated)

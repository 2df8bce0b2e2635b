"""Dependency manifests: requirements files, pyproject.toml, uv.lock and package.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockaudit.findings import Severity
from dockaudit.parse.manifests import parse, requirements_closure
from dockaudit.project import Project
from dockaudit.source import Span, from_text
from tests.conftest import write_tree


def requirements(text: str, path: str = "requirements.txt"):
    return parse(from_text(path, text), "requirements")


def inside(source, span: Span) -> bool:
    return (1 <= span.line <= span.end_line <= source.line_count
            and 1 <= span.column <= len(source.line_text(span.line)) + 1
            and 1 <= span.end_column <= len(source.line_text(span.end_line)) + 1)


# --- requirements.txt ----------------------------------------------------------------------------

REQS = """\
# GPU stack
--index-url https://download.pytorch.org/whl/cu121
--extra-index-url=https://pypi.org/simple
-f ./wheels
--pre
-r base.txt
--constraint constraints.txt
torch==2.3.0+cu121 ; platform_system == "Linux"  # pinned for the P40
numpy>=1.26,<2 \\
    --hash=sha256:aaa \\
    --hash sha256:bbb
Flask_Login[extra1,extra2]~=0.6
-e git+https://github.com/org/lib.git@v1.2#egg=my_lib
-e ./local/pkg
requests @ https://example.com/requests-2.31.0-py3-none-any.whl
https://download.pytorch.org/whl/cu121/torchaudio-2.3.0%2Bcu121-cp311-cp311-linux_x86_64.whl
./vendor/pkg-1.0.tar.gz
soundfile==${SOUNDFILE_VERSION}
"""


def test_requirement_lines():
    document = requirements(REQS)
    assert document.diagnostics == []
    by_name = {r.key: r for r in document.requirements}
    torch = by_name["torch"]
    assert (torch.specifier, torch.marker, torch.local_version) == (
        "==2.3.0+cu121", 'platform_system == "Linux"', "cu121")
    assert torch.span == Span("requirements.txt", 8, 1, 8, 48)
    numpy = by_name["numpy"]
    assert numpy.specifier == "<2,>=1.26" and numpy.hashes == ("sha256:aaa", "sha256:bbb")
    assert numpy.span == Span("requirements.txt", 9, 1, 9, 15)
    login = by_name["flask-login"]
    assert login.name == "Flask_Login" and login.extras == ("extra1", "extra2") and login.specifier == "~=0.6"
    lib = by_name["my-lib"]
    assert lib.editable and lib.kind == "vcs" and lib.url.startswith("git+https://")
    assert lib.span == Span("requirements.txt", 13, 4, 13, 54)
    local = next(r for r in document.requirements if r.url == "./local/pkg")
    assert local.editable and local.kind == "path" and local.name == ""
    assert by_name["requests"].kind == "url" and by_name["requests"].pinned_version == "2.31.0"
    audio = by_name["torchaudio"]
    assert audio.kind == "url" and audio.local_version == "cu121" and audio.pinned_version == "2.3.0+cu121"
    vendored = by_name["pkg"]
    assert vendored.kind == "path" and vendored.url == "./vendor/pkg-1.0.tar.gz"
    # ${VAR} is expanded by pip at install time: kept, not an error
    assert [text for text, _ in document.unparsed] == ["soundfile==${SOUNDFILE_VERSION}"]


def test_requirement_options_and_includes():
    document = requirements(REQS)
    assert document.index_url == ("https://download.pytorch.org/whl/cu121",
                                  Span("requirements.txt", 2, 13, 2, 51))
    assert document.extra_index_urls == [("https://pypi.org/simple", Span("requirements.txt", 3, 19, 3, 42))]
    assert document.find_links == [("./wheels", Span("requirements.txt", 4, 4, 4, 12))]
    assert document.pre
    assert document.includes == [("base.txt", Span("requirements.txt", 6, 4, 6, 12), False),
                                 ("constraints.txt", Span("requirements.txt", 7, 14, 7, 29), True)]
    assert [name for name, _value, _span in document.options] == [
        "--index-url", "--extra-index-url", "--find-links", "--pre", "--requirement", "--constraint",
        "--editable", "--editable"]


def test_continuation_anchor_lines():
    document = requirements(REQS)
    assert document.anchor_lines(10) == [9]
    assert document.anchor_lines(11) == [9]
    assert document.anchor_lines(8) == [8]


def test_comments_and_continuations_like_pip():
    document = requirements("a==1 # comment \\\nb==2\n#c \\\nd==3\ne#notacomment==1\n")
    # pip joins before it strips comments: the backslash after a trailing comment pulls "b==2"
    # into the comment; a whole-line comment ending in a backslash does not continue; "x#y" is
    # no comment
    assert [r.name for r in document.requirements] == ["a", "d"]
    assert [f.span.line for f in document.diagnostics] == [5]


def test_short_options_attached_and_prefixes():
    document = requirements("-rbase.txt\n-ihttps://mirror/simple\n--extra-index https://x/simple\n")
    assert document.diagnostics == []
    assert [inc[0] for inc in document.includes] == ["base.txt"]
    assert document.index_url[0] == "https://mirror/simple"
    assert document.extra_index_urls[0][0] == "https://x/simple"


def test_index_option_on_requirement_line_is_kept_as_line_option():
    document = requirements("torch==2.3.0 --index-url https://download.pytorch.org/whl/cu121\n")
    torch = document.requirements[0]
    assert torch.options == {"--index-url": "https://download.pytorch.org/whl/cu121"}
    assert document.index_url is None  # pip ignores it there


@pytest.mark.parametrize(("text", "line", "column", "message"), [
    ("ok==1\nnot valid at all\n", 2, 1, "not a valid requirement"),
    ("--no-such-option x\n", 1, 1, "no such option"),
    ("-r\n", 1, 1, "requires a value"),
    ("--pre=yes\n", 1, 1, "does not take a value"),
    ("pkg; python_version >>> '3'\n", 1, 1, "not a valid requirement"),
    ("https://x/a.whl ; python_version >>> '3'\n", 1, 1, "invalid environment marker"),
    ("-i 'unterminated\n", 1, 1, "cannot split"),
])
def test_bad_requirement_lines(text, line, column, message):
    document = requirements(text)
    assert len(document.diagnostics) == 1
    finding = document.diagnostics[0]
    assert finding.rule == "DA001" and message in finding.message
    assert (finding.span.line, finding.span.column) == (line, column)


def make(tmp_path: Path, files: dict[str, str]) -> Project:
    write_tree(tmp_path, files)
    return Project(tmp_path)


def test_requirements_closure(tmp_path):
    project = make(tmp_path, {
        "requirements/prod.txt": "-r base.txt\n-c constraints.txt\n-r ../../outside.txt\n-r /etc/passwd\n"
                                 "-r https://example.com/r.txt\n-r missing.txt\n--extra-index-url https://x/simple\n"
                                 "gunicorn\n",
        "requirements/base.txt": "-i https://mirror/simple\n-r prod.txt\n-r common/extra.txt\nfastapi\n",
        "requirements/common/extra.txt": "-r ../base.txt\nhttpx\n",
        "requirements/constraints.txt": "fastapi==0.110.0\n",
    })
    closure = requirements_closure(project, "requirements/prod.txt")
    assert [(r.name, f.path) for r, f in closure] == [
        ("httpx", "requirements/common/extra.txt"), ("fastapi", "requirements/base.txt"),
        ("gunicorn", "requirements/prod.txt")] or [(r.name, f.path) for r, f in closure] == [
        ("gunicorn", "requirements/prod.txt"), ("fastapi", "requirements/base.txt"),
        ("httpx", "requirements/common/extra.txt")]
    assert sorted(r.name for r, _ in closure) == ["fastapi", "gunicorn", "httpx"]
    assert [f.path for f in closure.files] == ["requirements/prod.txt", "requirements/base.txt",
                                               "requirements/common/extra.txt"]
    assert [url for url, _ in closure.index_urls] == ["https://mirror/simple"]
    assert [url for url, _ in closure.extra_index_urls] == ["https://x/simple"]
    assert [(r.name, r.specifier) for r, _ in closure.constraints] == [("fastapi", "==0.110.0")]
    assert sorted(raw for raw, _ in closure.unresolved) == sorted(
        ["../../outside.txt", "/etc/passwd", "https://example.com/r.txt", "missing.txt"])
    assert sorted(raw for raw, _ in closure.cycles) == ["../base.txt", "prod.txt"]


# --- pyproject.toml ------------------------------------------------------------------------------

PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.18"]

[project]
name = "tts-service"
requires-python = ">=3.10"
dependencies = [
    "fastapi>=0.110",
    'uvicorn[standard]>=0.29',
    "kokoro>=0.9.4; sys_platform == 'linux'",
]

[project.optional-dependencies]
gpu = ["torch==2.3.0+cu121"]
cpu = ["torch==2.3.0"]

[dependency-groups]
dev = ["pytest>=8", {include-group = "lint"}]
lint = ["ruff"]

[tool.uv]
dev-dependencies = ["pytest>=8"]
extra-index-url = ["https://mirror.example/simple"]

[[tool.uv.index]]
name = "pytorch-cu121"
url = "https://download.pytorch.org/whl/cu121"
explicit = true

[tool.uv.sources]
torch = [{ index = "pytorch-cu121", extra = "gpu" }]
"""


def test_pyproject_dependencies_with_positions():
    document = parse(from_text("pyproject.toml", PYPROJECT), "pyproject")
    assert document.diagnostics == []
    assert (document.name, document.requires_python) == ("tts-service", ">=3.10")
    assert [(r.key, r.span) for r in document.dependencies] == [
        ("fastapi", Span("pyproject.toml", 8, 6, 8, 20)),
        ("uvicorn", Span("pyproject.toml", 9, 6, 9, 29)),
        ("kokoro", Span("pyproject.toml", 10, 6, 10, 44)),
    ]
    for requirement in document.dependencies:  # the span covers exactly the string's content
        line = document.source.line_text(requirement.span.line)
        assert line[requirement.span.column - 1:requirement.span.end_column - 1] == requirement.text
    assert document.dependencies[1].extras == ("standard",)
    assert document.dependencies[2].marker == 'sys_platform == "linux"'
    gpu = document.optional_dependencies["gpu"][0]
    assert gpu.local_version == "cu121" and gpu.span.line == 14
    assert document.optional_dependencies["cpu"][0].span.line == 15
    assert [(r.name, r.span.line) for r in document.dependency_groups["dev"]] == [("pytest", 18)]
    assert [(r.name, r.span.line) for r in document.dependency_groups["lint"]] == [("ruff", 19)]
    # the same string in another table maps to that table's line
    assert [(r.name, r.span.line) for r in document.uv_dev_dependencies] == [("pytest", 22)]
    assert [r.name for r in document.build_requires] == ["hatchling"]
    index = document.uv_indexes[0]
    assert index["name"] == "pytorch-cu121" and index["span"] == Span("pyproject.toml", 27, 8, 27, 46)
    assert document.uv_indexes[1]["url"] == "https://mirror.example/simple"
    assert document.uv_indexes[1]["span"].line == 23
    assert document.uv_sources["torch"] == [{"index": "pytorch-cu121", "extra": "gpu"}]
    assert len(document.all_requirements()) == 8  # build requirements are not included


def test_pyproject_poetry():
    text = """\
[tool.poetry]
name = "legacy"

[tool.poetry.dependencies]
python = "^3.10"
requests = "^2.31"
torch = { version = "2.3.0", source = "pytorch", markers = "sys_platform == 'linux'" }
mylib = { git = "https://github.com/org/mylib.git", tag = "v1" }

[tool.poetry.group.test.dependencies]
pytest = "*"

[tool.poetry.dev-dependencies]
black = "^24"
"""
    document = parse(from_text("pyproject.toml", text), "pyproject")
    assert document.diagnostics == []
    assert document.name == "legacy" and document.poetry_python == "^3.10"
    found = [(r.name, r.specifier, r.kind, r.span.line, r.span.column) for r in document.poetry_dependencies]
    assert found == [
        ("requests", "^2.31", "poetry", 6, 1), ("torch", "2.3.0", "poetry", 7, 1),
        ("mylib", "", "vcs", 8, 1)]
    torch = document.poetry_dependencies[1]
    assert torch.options["source"] == "pytorch" and torch.marker == "sys_platform == 'linux'"
    assert [(r.name, r.span.line) for r in document.poetry_groups["test"]] == [("pytest", 11)]
    assert [(r.name, r.span.line) for r in document.poetry_groups["dev"]] == [("black", 14)]


@pytest.mark.parametrize(("text", "line", "column"), [
    ("[project]\nname = \n", 2, 8),
    ("[project]\ndependencies = [\n  \"a\",\n", 4, 1),
    ("a = 1\na = 2\n", 2, 6),
])
def test_pyproject_bad_toml(text, line, column):
    document = parse(from_text("pyproject.toml", text), "pyproject")
    assert len(document.diagnostics) == 1
    finding = document.diagnostics[0]
    assert finding.rule == "DA001" and finding.message.startswith("invalid TOML")
    assert finding.span.line == line
    assert finding.span.column == column or line == 4


def test_pyproject_bad_dependency_entries():
    text = '[project]\ndependencies = ["ok", "not valid!"]\n'
    document = parse(from_text("pyproject.toml", text), "pyproject")
    assert [r.name for r in document.dependencies] == ["ok"]
    assert [(f.span.line, f.span.column) for f in document.diagnostics] == [(2, 24)]
    document = parse(from_text("pyproject.toml", '[project]\ndependencies = "fastapi"\n'), "pyproject")
    assert document.diagnostics[0].span.line == 2


# --- uv.lock -----------------------------------------------------------------------------------

UVLOCK = """\
version = 1
requires-python = ">=3.10"

[[package]]
name = "torch"
version = "2.3.0+cu121"
source = { registry = "https://download.pytorch.org/whl/cu121" }
dependencies = [
    { name = "filelock" },
    { name = "nvidia-cudnn-cu12", marker = "platform_machine == 'x86_64'" },
]
wheels = [
    { url = "https://download.pytorch.org/whl/cu121/torch-2.3.0%2Bcu121-cp311-cp311-linux_x86_64.whl", \
hash = "sha256:00" },
]

[[package]]
name = "filelock"
version = "3.13.1"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://files.pythonhosted.org/filelock-3.13.1.tar.gz", hash = "sha256:11" }

[[package]]
name = "app"
version = "0.1.0"
source = { editable = "." }

[package.optional-dependencies]
gpu = [{ name = "torch" }]

[[package]]
name = "mylib"
version = "1.0"
source = { git = "https://github.com/org/mylib?tag=v1#abc" }
"""


def test_uv_lock():
    document = parse(from_text("uv.lock", UVLOCK), "uvlock")
    assert document.diagnostics == []
    assert document.requires_python == ">=3.10" and document.lock_version == 1
    assert list(document.packages) == ["torch", "filelock", "app", "mylib"]
    torch = document.packages["torch"]
    assert torch.local_version == "cu121" and torch.index_url == "https://download.pytorch.org/whl/cu121"
    assert torch.dependencies == ["filelock", "nvidia-cudnn-cu12"]
    assert torch.span == Span("uv.lock", 5, 9, 5, 14)
    assert torch.wheel_urls[0].endswith("linux_x86_64.whl")
    filelock = document.packages["filelock"]
    assert filelock.sdist_url.endswith(".tar.gz") and filelock.local_version is None
    assert filelock.span.line == 17
    assert document.packages["app"].source == {"editable": "."}
    assert document.packages["app"].optional_dependencies == {"gpu": ["torch"]}
    assert document.packages["mylib"].source["git"].startswith("https://github.com/")


def test_uv_lock_same_name_twice_and_bad_toml():
    text = UVLOCK + ('\n[[package]]\nname = "torch"\nversion = "2.3.0"\n'
                     'source = { registry = "https://pypi.org/simple" }\n')
    document = parse(from_text("uv.lock", text), "uvlock")
    assert [p.version for p in document.all_packages if p.key == "torch"] == ["2.3.0+cu121", "2.3.0"]
    assert document.packages["torch"].version == "2.3.0+cu121"
    bad = parse(from_text("uv.lock", "version = 1\n[[package]\n"), "uvlock")
    assert bad.diagnostics[0].rule == "DA001" and bad.diagnostics[0].span.line == 2


# --- package.json ------------------------------------------------------------------------------

PACKAGE = """\
{
  "name": "listening-trainer",
  "scripts": {
    "build": "next build",
    "start": "next start"
  },
  "dependencies": {
    "next": "14.2.3",
    "@prisma/client": "^5.14.0",
    "next": "14.2.4"
  },
  "devDependencies": { "prisma": "^5.14.0" },
  "optionalDependencies": {},
  "peerDependencies": { "react": ">=18" },
  "engines": { "node": ">=18.17" },
  "nested": { "deep": [1, {"dependencies": {"x": "1"}}, "}"] }
}
"""


def test_package_json_positions():
    document = parse(from_text("package.json", PACKAGE), "packagejson")
    assert document.name == "listening-trainer"
    assert document.scripts == {"build": ("next build", Span("package.json", 4, 6, 4, 11)),
                                "start": ("next start", Span("package.json", 5, 6, 5, 11))}
    assert document.dependencies["@prisma/client"] == ("^5.14.0", Span("package.json", 9, 6, 9, 20))
    # a duplicate key: the last one wins (as JSON.parse), noted once
    assert document.dependencies["next"] == ("14.2.4", Span("package.json", 10, 6, 10, 10))
    assert document.dev_dependencies == {"prisma": ("^5.14.0", Span("package.json", 12, 25, 12, 31))}
    assert document.optional_dependencies == {}
    assert document.peer_dependencies["react"][0] == ">=18"
    assert document.engines == {"node": ">=18.17"}
    assert document.key_spans["engines"].line == 15
    assert len(document.diagnostics) == 1
    note = document.diagnostics[0]
    assert note.rule == "DA001" and note.severity == Severity.NOTE and note.span.line == 10
    assert "first at line 8" in note.message


@pytest.mark.parametrize(("text", "line", "column"), [
    ('{\n  "name": "x",\n  "dependencies": {\n    "a": "1",\n  }\n}\n', 5, 3),
    ('{"a": 1\n', 2, 1),
    ("", 1, 1),
])
def test_package_json_bad_json(text, line, column):
    document = parse(from_text("package.json", text), "packagejson")
    finding = document.diagnostics[0]
    assert finding.rule == "DA001" and finding.message.startswith("invalid JSON")
    assert (finding.span.line, finding.span.column) == (line, column)


def test_package_json_not_an_object():
    document = parse(from_text("package.json", "[1, 2]"), "packagejson")
    assert document.diagnostics[0].message == "package.json must be a JSON object"


def test_through_the_project(tmp_path):
    project = make(tmp_path, {"requirements.txt": "fastapi\nbroken line here\n",
                              "package.json": "{\n  oops\n}\n", "uv.lock": b"\x00\x01binary"})
    assert [r.name for r in project.requirements_files["requirements.txt"].requirements] == ["fastapi"]
    assert project.package_jsons["package.json"].diagnostics[0].span.line == 2
    assert project.uv_locks == {}
    rules = sorted(f.rule for f in project.diagnostics)
    assert rules == ["DA001", "DA001", "DA002"]


# --- properties --------------------------------------------------------------------------------

REQ_CHARS = st.sampled_from([*"ab=<>~!;[], @#\\\n-.'\"$", "-r ", "-e ", "--hash=", "${X}", "git+https://",
                             " #", "==1.0", "[x]", "é"])


@settings(max_examples=250, deadline=None)
@given(st.lists(REQ_CHARS, max_size=40).map("".join))
def test_property_requirements(text):
    document = requirements(text)
    source = document.source
    for requirement in document.requirements:
        assert inside(source, requirement.span)
    for _raw, span, _constraint in document.includes:
        assert inside(source, span)
    for finding in document.diagnostics:
        assert inside(source, finding.span)


TOML_CHARS = st.sampled_from([*"[]{}=\"',\n .#", "[project]", "dependencies", "name", "[[package]]",
                              "\"a>=1\"", "[tool.poetry.dependencies]", "é"])


@settings(max_examples=250, deadline=None)
@given(st.lists(TOML_CHARS, max_size=40).map("".join), st.sampled_from(["pyproject", "uvlock"]))
def test_property_toml(text, kind):
    document = parse(from_text("pyproject.toml" if kind == "pyproject" else "uv.lock", text), kind)
    source = document.source
    for finding in document.diagnostics:
        assert inside(source, finding.span)
    requirements_ = document.all_requirements() if kind == "pyproject" else []
    for requirement in requirements_:
        assert inside(source, requirement.span)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["dependencies", "scripts", "a", "é", "next", "\"q"]), children, max_size=3),
    max_leaves=12)


@settings(max_examples=250, deadline=None)
@given(JSON_VALUES, st.integers(min_value=0, max_value=3))
def test_property_package_json(value, indent):
    text = json.dumps(value, indent=indent or None, ensure_ascii=False)
    document = parse(from_text("package.json", text), "packagejson")
    source = document.source
    for section in (document.dependencies, document.scripts):
        for _value, span in section.values():
            assert inside(source, span)
    for finding in document.diagnostics:
        assert inside(source, finding.span)


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(blacklist_characters="\x00"), max_size=60))
def test_property_package_json_any_text(text):
    document = parse(from_text("package.json", text), "packagejson")
    for finding in document.diagnostics:
        assert inside(document.source, finding.span)

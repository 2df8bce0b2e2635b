"""Compose files: parsing with positions, hostile YAML, and assembling projects as compose does."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dockaudit.parse.compose import Node, _libyaml_parser, assemble, parse, parse_pure, plain
from dockaudit.project import Project
from dockaudit.source import from_text

from .conftest import write_tree


def compose(text: str, path: str = "compose.yaml"):
    return parse(from_text(path, text))


def project_of(tmp_path: Path, files: dict[str, str]) -> Project:
    write_tree(tmp_path, files)
    return Project(tmp_path)


def only_project(tmp_path: Path, files: dict[str, str]):
    projects = project_of(tmp_path, files).compose_projects
    assert len(projects) == 1, [p.files for p in projects]
    return projects[0]


def where(span) -> tuple:
    return (span.path, span.line, span.column)


# --- parsing ---------------------------------------------------------------------------------

SIMPLE = """\
services:
  app:
    image: "example/app:1.0"
    build:
      context: .
      target: runtime
    ports:
      - "3000:3000"
      - 9000
    environment:
      NAME: 中文值
"""


def test_positions_of_keys_and_values():
    document = compose(SIMPLE)
    assert not document.diagnostics
    assert where(document.span_of("services", "app")) == ("compose.yaml", 2, 3)
    target = document.span_of("services", "app", "build", "target")
    assert (target.line, target.column, target.end_column) == (6, 7, 13)
    value = document.value_span_of("services", "app", "build", "target")
    assert (value.line, value.column, value.end_column) == (6, 15, 22)
    quoted = document.value_span_of("services", "app", "image")
    assert (quoted.column, quoted.end_column) == (12, 29)
    assert where(document.span_of("services", "app", "ports", 1)) == ("compose.yaml", 9, 9)
    assert document.node_at("services", "app", "ports", 1).value == 9000


def test_missing_paths_fall_back_to_the_nearest_ancestor():
    document = compose(SIMPLE)
    assert where(document.span_of("services", "app", "build", "dockerfile")) == ("compose.yaml", 4, 5)
    assert where(document.span_of("services", "nope", "image")) == ("compose.yaml", 1, 1)
    assert where(document.span_of("volumes")) == ("compose.yaml", 1, 1)
    assert document.node_at("services", "app", "build", "dockerfile") is None


def test_chinese_values_round_trip_and_columns_count_characters():
    document = compose("services:\n  应用:\n    environment:\n      问候: 你好，世界 ${名字}\n")
    assert document.data == {"services": {"应用": {"environment": {"问候": "你好，世界 ${名字}"}}}}
    span = document.value_span_of("services", "应用", "environment", "问候")
    assert (span.line, span.column, span.end_column) == (4, 11, 22)


def test_scalar_types_follow_yaml_1_2():
    document = compose("a: 1\nb: 1.5\nc: true\nd: yes\ne: ~\nf:\ng: '1'\nh: 0x1F\ni: 22:22\n"
                       "j: !!str 12\nk: .inf\n")
    data = document.data
    assert data["a"] == 1 and data["b"] == 1.5 and data["c"] is True
    assert data["d"] == "yes" and data["e"] is None and data["f"] is None and data["g"] == "1"
    assert data["h"] == 31 and data["i"] == "22:22" and data["j"] == "12" and data["k"] == float("inf")


def test_empty_value_is_placed_after_its_key():
    document = compose("services:\n  app:\n    image:\n    build: .\n")
    span = document.value_span_of("services", "app", "image")
    assert (span.line, span.column) == (3, 11)


def test_duplicate_keys_are_reported_at_the_second_key_and_the_first_value_kept():
    document = compose("services:\n  app:\n    image: a\n    image: b\n  db:\n    image: c\n"
                       "  app:\n    image: d\n")
    findings = [(d.rule, d.span.line, d.span.column) for d in document.diagnostics]
    assert findings == [("DA201", 4, 5), ("DA201", 7, 3)]
    assert document.data["services"]["app"]["image"] == "a"
    assert document.data["services"]["db"]["image"] == "c"
    assert "line 3" in document.diagnostics[0].message
    assert document.diagnostics[0].related[0].span.line == 3


def test_merge_keys_and_anchors():
    text = """\
x-base: &base
  restart: always
  environment: &env
    TZ: UTC
services:
  api:
    <<: *base
    restart: "no"
    image: api
  worker:
    <<: [*base]
    environment: *env
"""
    document = compose(text)
    assert not document.diagnostics
    services = document.data["services"]
    assert services["api"] == {"restart": "no", "image": "api", "environment": {"TZ": "UTC"}}
    assert services["worker"] == {"environment": {"TZ": "UTC"}, "restart": "always"}
    # a merged key points at its definition in the anchor
    assert document.span_of("services", "api", "environment").line == 3
    assert document.span_of("services", "api", "restart").line == 8


def test_reset_and_override_tags_are_kept():
    document = compose("services:\n  app:\n    ports: !reset []\n    command: !override [a]\n"
                       "    healthcheck: !reset\n")
    app = document.node_at("services", "app")
    assert app.value["ports"].tag == "!reset"
    assert app.value["command"].tag == "!override"
    assert app.value["healthcheck"].tag == "!reset"


def test_anchor_lines_are_the_enclosing_keys():
    document = compose(SIMPLE)
    assert document.anchor_lines(6) == [6, 4, 2, 1]
    assert document.anchor_lines(8) == [7, 2, 1]
    assert document.anchor_lines(11) == [11, 10, 2, 1]


@pytest.mark.parametrize(("text", "line", "column", "words"), [
    ("services:\n  app:\n    image: [unclosed\n", 3, 12, "YAML syntax error"),
    ("services:\n\tapp:\n    image: x\n", 2, 1, "tabs"),
    ("services:\n  app:\n    image: x\n   bad: y\n", 4, 4, "YAML syntax error"),
    ("services:\n  app:\n    image: 'open\n", 3, 12, "YAML syntax error"),
    ("a: *nowhere\n", 1, 4, "not defined"),
    ("- just\n- a list\n", 1, 1, "top level"),
])
def test_syntax_errors_point_at_the_problem(text, line, column, words):
    document = compose(text)
    assert document.diagnostics, text
    finding = document.diagnostics[0]
    assert finding.rule == "DA001"
    assert (finding.span.line, finding.span.column) == (line, column), finding.message
    assert words in finding.message


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
services:
  app:
    image: nginx
    environment: *i
"""


def test_billion_laughs_is_refused_quickly(tmp_path):
    started = time.perf_counter()
    document = compose(BILLION_LAUGHS)
    assert time.perf_counter() - started < 2
    assert document.documents == []
    assert [d.rule for d in document.diagnostics] == ["DA001"]
    assert "too many aliases" in document.diagnostics[0].message
    # and the project as a whole survives it
    projects = project_of(tmp_path, {"compose.yaml": BILLION_LAUGHS}).compose_projects
    assert projects[0].services == {}


def test_modest_aliases_are_fine():
    text = "x: &x [1, 2, 3]\n" + "".join(f"k{i}: *x\n" for i in range(2000))
    document = compose(text)
    assert not document.diagnostics
    assert document.data["k1999"] == [1, 2, 3]


@pytest.mark.parametrize("text", [
    "".join("  " * i + f"k{i}:\n" for i in range(5000)),
    "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "a: " + "{b: " * 5000 + "}" * 5000 + "\n",
    "- " * 5000 + "x\n",
])
def test_deep_nesting_does_not_crash(text):
    started = time.perf_counter()
    document = compose(text)
    assert time.perf_counter() - started < 5
    assert [d.rule for d in document.diagnostics] == ["DA001"]
    assert "nested" in document.diagnostics[0].message


def test_multiple_documents_are_kept():
    document = compose("services:\n  a:\n    image: x\n---\nservices:\n  b:\n    image: y\n")
    assert len(document.documents) == 2
    assert document.data == {"services": {"a": {"image": "x"}}}


_YAML_PIECES = st.sampled_from([
    "services:", "\n", "  ", "app:", "image: x", "- ", "&a ", "*a", "<<: ", "[", "]", "{", "}", ", ",
    "'", '"', "#", "\t", "!reset ", "!override ", "${A:-b}", "$", "---\n", ": ", "中文", "|\n", ">\n", "? ",
    "key", "1", "~",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_YAML_PIECES, max_size=30).map("".join))
def test_parse_never_raises_and_spans_are_inside_the_file(text):
    source = from_text("compose.yaml", text)
    document = parse(source)
    lines = source.line_count

    def inside(span):
        assert span.path == "compose.yaml"
        assert 1 <= span.line <= span.end_line <= lines, (span, text)
        assert 1 <= span.column <= len(source.line_text(span.line)) + 1, (span, text)
        assert 1 <= span.end_column <= len(source.line_text(span.end_line)) + 1, (span, text)

    seen: set[int] = set()

    def walk(node: Node):
        if id(node) in seen:
            return
        seen.add(id(node))
        inside(node.span)
        if node.kind == "map":
            for key, child in node.value.items():
                inside(node.keys[key])
                walk(child)
        elif node.kind == "seq":
            for child in node.value:
                walk(child)

    for root in document.documents:
        walk(root)
    for finding in document.diagnostics:
        inside(finding.span)
    document.anchor_lines(1)


# --- libyaml and the pure parser give the same nodes ----------------------------------------------

needs_libyaml = pytest.mark.skipif(_libyaml_parser() is None, reason="ruamel.yaml.clib is not installed")


def _nodes(node: Node | None, path: tuple = (), out: list | None = None, seen: set | None = None) -> list:
    """Every node of a tree with all it carries, in order (aliases once per path)."""
    out = [] if out is None else out
    seen = set() if seen is None else seen
    if node is None:
        return out
    record = (path, node.kind, node.span, node.start, node.end, node.tag, node.style)
    if node.kind == "scalar":
        out.append((*record, repr(node.value)))
        return out
    if id(node) in seen:
        out.append((*record, "<cycle>"))
        return out
    seen.add(id(node))
    out.append((*record, sorted((node.keys or {}).items()) if node.kind == "map" else None))
    for key, child in (node.value.items() if node.kind == "map" else enumerate(node.value)):
        _nodes(child, (*path, key), out, seen)
    seen.discard(id(node))
    return out


def _composed(compose_file) -> tuple:
    return ([_nodes(document) for document in compose_file.documents],
            [(str(f.span), f.message, f.rule, [str(r.span) for r in f.related])
             for f in compose_file.diagnostics])


def _catalog_compose_texts() -> list:
    from dockaudit.catalog import load_catalog

    texts = {}
    for info in load_catalog().values():
        for example in info.examples:
            for name, text in example.files.items():
                if name.rsplit("/", 1)[-1].endswith((".yml", ".yaml")):
                    texts.setdefault(text, f"{info.id}:{name}")
    fixtures = Path(__file__).parent.parent / "fixtures"
    for path in sorted(fixtures.rglob("*.y*ml")):
        texts.setdefault(path.read_text(encoding="utf-8"), str(path.relative_to(fixtures)))
    return [pytest.param(text, id=name) for text, name in texts.items()]


@needs_libyaml
@pytest.mark.parametrize("text", _catalog_compose_texts())
def test_libyaml_and_pure_parser_agree_on_the_examples(text):
    source = from_text("compose.yaml", text)
    assert _composed(parse(source)) == _composed(parse_pure(source))


@needs_libyaml
@pytest.mark.parametrize("text", [
    "a:\nb: 1\n",                                     # empty values (placed after the colon)
    "a: # comment\n  b:\n# c\nc: [1, 2]\n",
    "x: &x {a: 1}\ny: *x\nz:\n  <<: *x\n  b: 2\n",     # anchors, aliases, merge keys
    "a: |\n  one\n  two\n\nb: >-\n  folded\n  text\n",
    "a: !reset []\nb: !override {c: d}\nc: !!int '3'\nd: !!str 4\n",
    "- a\n- b: 1\n  c: 2\n-\n  - d\n",
    "---\na: 1\n...\n---\nb: 2\n",
    "a: 1\na: 2\n",                                   # a duplicate key
    "a: 'it''s'\nb: \"\\u00e9\\t\"\nc: 中文\n",
    "a: [1, {b: c}, [d]]\ne: {f: [g, h], i: }\n",
    "a:\n  - b\n  # between\n  - c\nd: e",             # no newline at the end
    "",
    "# only a comment\n",
    "a: b: c\n",                                     # syntax errors: reported by the pure parser
    "a:\n\t- b\n",
    "a: [1, 2\n",
    "a: *missing\n",
    "%YAML 1.2\n---\na: 1\n",
    ": #\n: #",                                     # comments ruamel's scanner cannot place
    "|\n#",                                          # a top level that is not a mapping
    "---",
])
def test_libyaml_and_pure_parser_agree_on_tricky_yaml(text):
    source = from_text("compose.yaml", text)
    assert _composed(parse(source)) == _composed(parse_pure(source))


@needs_libyaml
@settings(max_examples=300, deadline=None)
@given(st.lists(_YAML_PIECES, max_size=30).map("".join))
def test_libyaml_and_pure_parser_agree_on_generated_yaml(text):
    # one known difference: a node with a tag and then an anchor (`!reset &a x`) starts at its
    # tag for libyaml (where its properties begin, as the YAML spec reads) and at the anchor for
    # ruamel; libyaml's place is kept
    assume(not re.search(r"!\S* +&", text))
    source = from_text("compose.yaml", text)
    assert _composed(parse(source)) == _composed(parse_pure(source))


# --- assembling: grouping ----------------------------------------------------------------------


def test_main_and_override_are_one_project(tmp_path):
    projects = project_of(tmp_path, {
        "compose.yaml": "services:\n  app:\n    image: app:1\n",
        "compose.override.yaml": "services:\n  app:\n    image: app:dev\n",
        "docker-compose.prod.yml": "services:\n  app:\n    image: app:2\n",
        "sub/docker-compose.yml": "services:\n  other:\n    image: other\n",
    }).compose_projects
    assert [p.files for p in projects] == [
        ["compose.yaml", "compose.override.yaml"], ["docker-compose.prod.yml"], ["sub/docker-compose.yml"]]
    assert projects[0].services["app"].image == "app:dev"
    assert projects[1].services["app"].image == "app:2"
    assert projects[2].directory == "sub"


def test_a_variant_without_image_or_build_is_merged_over_the_main_file(tmp_path):
    projects = project_of(tmp_path, {
        "docker-compose.yml": "services:\n  tts:\n    build: .\n    ports:\n      - '8000:8000'\n",
        "docker-compose.gpu.yml": ("services:\n  tts:\n    deploy:\n      resources:\n        reservations:\n"
                                   "          devices:\n            - capabilities: [gpu]\n"),
        "Dockerfile": "FROM python:3.12-slim\n",
    }).compose_projects
    assert [p.files for p in projects] == [
        ["docker-compose.yml"], ["docker-compose.yml", "docker-compose.gpu.yml"]]
    gpu = projects[1].services["tts"]
    assert gpu.build is not None and gpu.build.context == "."
    assert gpu.deploy["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert gpu.span_of("deploy").path == "docker-compose.gpu.yml"
    assert gpu.span.path == "docker-compose.yml"


def test_second_override_and_second_main_file(tmp_path):
    projects = project_of(tmp_path, {
        "compose.yaml": "services:\n  app:\n    image: app:1\n",
        "docker-compose.yml": "services:\n  legacy:\n    image: legacy\n",
        "compose.override.yml": "services:\n  app:\n    environment: [A=1]\n",
        "docker-compose.override.yaml": "services:\n  app:\n    environment: [B=2]\n",
    }).compose_projects
    assert [p.files for p in projects] == [
        ["compose.yaml", "compose.override.yml"], ["compose.yaml", "docker-compose.override.yaml"],
        ["docker-compose.yml"]]
    assert projects[1].services["app"].environment == {"B": "2"}


def test_compose_file_setting_in_dotenv(tmp_path):
    projects = project_of(tmp_path, {
        ".env": "COMPOSE_FILE=compose.yaml:compose.gpu.yaml\n",
        "compose.yaml": "services:\n  app:\n    image: app\n",
        "compose.gpu.yaml": "services:\n  app:\n    image: app-gpu\n",
    }).compose_projects
    assert [p.files for p in projects] == [["compose.yaml", "compose.gpu.yaml"]]
    assert projects[0].services["app"].image == "app-gpu"


# --- assembling: merging -----------------------------------------------------------------------

MAIN = """\
services:
  app:
    image: app:1
    command: ["serve", "--port", "80"]
    environment:
      - A=1
      - B=2
    ports:
      - "80:80"
      - "443:443"
    volumes:
      - ./data:/data
      - cache:/cache
    env_file: .env.common
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost"]
      interval: 30s
    labels:
      tier: web
    depends_on: [db]
  db:
    image: postgres:16
"""

OVERRIDE = """\
services:
  app:
    command: ["serve", "--reload"]
    environment:
      B: "20"
      C: "3"
    ports:
      - "443:443"
      - "8080:8080"
    volumes:
      - ./other:/data
    env_file:
      - path: .env.local
        required: false
    healthcheck:
      interval: 5s
    labels: !reset {}
    depends_on:
      db:
        condition: service_healthy
  db:
    ports: !override
      - "5432:5432"
"""


def test_override_merge_rules(tmp_path):
    cp = only_project(tmp_path, {"compose.yaml": MAIN, "compose.override.yaml": OVERRIDE})
    app = cp.services["app"]
    assert app.command == ["serve", "--reload"]
    assert app.environment == {"A": "1", "B": "20", "C": "3"}
    assert [(p.published, p.target) for p in app.ports] == [("80", "80"), ("443", "443"), ("8080", "8080")]
    assert [(v.source, v.target) for v in app.volumes] == [("./other", "/data"), ("cache", "/cache")]
    assert [(e.path, e.required) for e in app.env_files] == [(".env.common", True), (".env.local", False)]
    assert app.healthcheck == {"test": ["CMD", "curl", "-f", "http://localhost"], "interval": "5s"}
    assert "labels" not in app.data
    assert app.depends_on == {"db": {"condition": "service_healthy", "required": True}}
    assert [(p.published, p.target) for p in cp.services["db"].ports] == [("5432", "5432")]
    # positions follow the file each value came from
    assert where(app.span_of("command")) == ("compose.override.yaml", 3, 5)
    assert where(app.span_of("image")) == ("compose.yaml", 3, 5)
    assert where(app.span_of("environment", "B")) == ("compose.override.yaml", 5, 7)
    assert where(app.span_of("environment", "A")) == ("compose.yaml", 6, 9)
    assert where(app.span_of("healthcheck", "interval")) == ("compose.override.yaml", 16, 7)
    assert where(app.span_of("healthcheck", "test")) == ("compose.yaml", 16, 7)
    assert where(app.span) == ("compose.yaml", 2, 3)
    assert where(app.span_of("nope", "deeper")) == ("compose.yaml", 2, 3)
    assert cp.diagnostics == []


def test_reset_and_override_in_the_same_file_are_applied(tmp_path):
    cp = only_project(tmp_path, {"compose.yaml": "services:\n  app:\n    image: x\n    ports: !reset\n"})
    assert "ports" not in cp.services["app"].data


def test_override_with_another_type_is_a_load_error(tmp_path):
    cp = only_project(tmp_path, {
        "compose.yaml": "services:\n  app:\n    image: x\n    deploy:\n      replicas: 2\n",
        "compose.override.yaml": "services:\n  app:\n    deploy: [1]\n",
    })
    assert [(d.rule, d.span.path, d.span.line) for d in cp.diagnostics] == [
        ("DA206", "compose.override.yaml", 3)]


def test_null_in_override_keeps_the_base_value(tmp_path):
    cp = only_project(tmp_path, {
        "compose.yaml": "services:\n  app:\n    image: x\n    user: '1000'\n",
        "compose.override.yaml": "services:\n  app:\n    user:\n",
    })
    assert cp.services["app"].user == "1000"


# --- assembling: include and extends --------------------------------------------------------------


def test_include_forms(tmp_path):
    cp = only_project(tmp_path, {
        "compose.yaml": ("include:\n  - monitoring/compose.yaml\n"
                         "  - path: [db/compose.yaml, db/override.yaml]\n"
                         "    env_file: db/custom.env\n"
                         "services:\n  app:\n    image: app\n"),
        "monitoring/compose.yaml": "services:\n  prom:\n    image: prom/prometheus:${PROM_TAG:-v2}\n"
                                   "    volumes:\n      - ./prometheus.yml:/etc/prometheus/prometheus.yml\n",
        "monitoring/.env": "PROM_TAG=v3\n",
        "db/compose.yaml": "services:\n  db:\n    image: postgres:${PG:-15}\n    env_file: db.env\n",
        "db/override.yaml": "services:\n  db:\n    restart: always\n",
        "db/custom.env": "PG=16\n",
    })
    assert set(cp.services) == {"app", "prom", "db"}
    prom = cp.services["prom"]
    assert prom.image == "prom/prometheus:v3"
    assert prom.volumes[0].host_path == "monitoring/prometheus.yml"
    assert prom.span.path == "monitoring/compose.yaml"
    db = cp.services["db"]
    assert db.image == "postgres:16" and db.data["restart"] == "always"
    assert db.env_files[0].path == "db/db.env"
    assert cp.included == ["monitoring/compose.yaml", "db/compose.yaml", "db/override.yaml"]
    assert "include" not in cp.data


def test_missing_and_escaping_includes(tmp_path):
    cp = only_project(tmp_path, {
        "compose.yaml": "include:\n  - nope.yaml\n  - ../outside.yaml\nservices:\n  app:\n    image: app\n",
    })
    assert [(d.rule, d.span.line) for d in cp.diagnostics] == [("DA206", 2)]
    assert [(e.kind, e.raw, e.span.line) for e in cp.project_escapes] == [("include", "../outside.yaml", 3)]


def test_extends_same_file_and_other_file(tmp_path):
    cp = only_project(tmp_path, {
        "compose.yaml": """\
services:
  base:
    image: app
    environment:
      LEVEL: info
  worker:
    extends: base
    environment:
      ROLE: worker
  web:
    extends:
      file: common/web.yaml
      service: web
    ports:
      - "80:80"
""",
        "common/web.yaml": "services:\n  web:\n    build: ./site\n    env_file: web.env\n",
        "common/site/Dockerfile": "FROM nginx\n",
    })
    worker = cp.services["worker"]
    assert worker.image == "app"
    assert worker.environment == {"LEVEL": "info", "ROLE": "worker"}
    assert "extends" not in worker.data
    assert where(worker.span) == ("compose.yaml", 6, 3)
    assert where(worker.span_of("image")) == ("compose.yaml", 3, 5)
    web = cp.services["web"]
    # paths of an extended file resolve against that file's folder
    assert web.build.context == "common/site" and web.build.dockerfile == "common/site/Dockerfile"
    assert web.env_files[0].path == "common/web.env"
    assert [p.target for p in web.ports] == ["80"]
    assert cp.included == ["common/web.yaml"]
    assert cp.diagnostics == []


def test_extends_errors(tmp_path):
    cp = only_project(tmp_path, {"compose.yaml": """\
services:
  a:
    extends: missing
  b:
    extends: c
    image: b
  c:
    extends: b
  d:
    extends:
      file: nope.yaml
      service: x
"""})
    messages = sorted((d.span.line, d.message) for d in cp.diagnostics)
    assert [line for line, _ in messages] == [3, 8, 11]
    assert "not defined" in messages[0][1]
    assert "itself" in messages[1][1] or "cycle" in messages[1][1]
    assert "does not exist" in messages[2][1]
    assert all(d.rule == "DA206" for d in cp.diagnostics)


# --- assembling: interpolation ---------------------------------------------------------------------


def test_interpolation_uses_the_dotenv_beside_the_compose_file_only(tmp_path, monkeypatch):
    monkeypatch.setenv("FROM_SHELL", "should-not-be-used")
    cp = only_project(tmp_path, {
        "deploy/compose.yaml": """\
services:
  app:
    image: "${REGISTRY}/app:${TAG:-latest}"
    environment:
      SHELL_VALUE: $FROM_SHELL
      LITERAL: $$HOME
      SCRIPT: |
        echo ${GREETING:-hi}
        echo $TAG
    command: 'run ${TAG}'
""",
        "deploy/.env": "REGISTRY=ghcr.io/example\nTAG=1.2.3\n",
    })
    app = cp.services["app"]
    assert cp.dotenv == "deploy/.env"
    assert app.image == "ghcr.io/example/app:1.2.3"
    assert app.environment["SHELL_VALUE"] == ""
    assert app.environment["LITERAL"] == "$HOME"
    assert app.environment["SCRIPT"] == "echo hi\necho 1.2.3\n"
    assert app.command == "run 1.2.3"
    uses = [(v.name, v.span.line, v.span.column, v.span.end_column, v.defined, v.required)
            for v in cp.variables]
    assert uses == [
        ("REGISTRY", 3, 13, 24, True, True),
        ("TAG", 3, 29, 43, True, False),
        ("FROM_SHELL", 5, 20, 31, False, True),
        ("GREETING", 8, 14, 29, False, False),
        ("TAG", 9, 14, 18, True, True),
        ("TAG", 10, 19, 25, True, True),
    ]


def test_interpolation_errors_are_positioned(tmp_path):
    cp = only_project(tmp_path, {"compose.yaml": "services:\n  app:\n    image: 'x:${TAG:latest}'\n"
                                                 "    command: echo ${\n"})
    found = sorted((d.rule, d.span.line, d.span.column) for d in cp.diagnostics)
    assert found == [("DA205", 3, 15), ("DA205", 4, 19)]


def test_project_name(tmp_path):
    assert only_project(tmp_path, {"compose.yaml": "name: ${N:-demo}\nservices: {}\n"}).name == "demo"


def test_project_name_from_dotenv(tmp_path):
    cp = only_project(tmp_path, {"compose.yaml": "services: {}\n", ".env": "COMPOSE_PROJECT_NAME=fromenv\n"})
    assert cp.name == "fromenv"


# --- assembling: service details -------------------------------------------------------------------


def test_build_forms(tmp_path):
    cp = only_project(tmp_path, {"svc/compose.yaml": """\
services:
  short:
    build: ./app
  long:
    build:
      context: ..
      dockerfile: docker/Dockerfile.gpu
      target: runtime
      args:
        - PY=3.12
        - EMPTY
  mapargs:
    build:
      context: .
      args:
        TORCH: 2.5.1
        FLAG: true
        NONE:
  remote:
    build: https://github.com/example/repo.git#main
  outside:
    build: ../../elsewhere
  inline:
    build:
      dockerfile_inline: |
        FROM alpine
"""})
    s = cp.services
    assert (s["short"].build.context, s["short"].build.dockerfile) == ("svc/app", "svc/app/Dockerfile")
    assert s["short"].build.dockerfile_raw is None
    long = s["long"].build
    assert (long.context, long.dockerfile, long.target) == (".", "docker/Dockerfile.gpu", "runtime")
    assert long.args == {"PY": "3.12", "EMPTY": None}
    assert where(long.span) == ("svc/compose.yaml", 5, 5)
    assert s["mapargs"].build.args == {"TORCH": "2.5.1", "FLAG": "true", "NONE": None}
    assert s["remote"].build.remote and s["remote"].build.context is None
    assert s["outside"].build.outside and s["outside"].build.context is None
    assert [(e.kind, e.raw) for e in cp.project_escapes] == [("build context", "../../elsewhere")]
    assert s["inline"].build.dockerfile_inline == "FROM alpine\n" and s["inline"].build.dockerfile is None


def test_volumes_ports_and_other_fields(tmp_path):
    cp = only_project(tmp_path, {"compose.yaml": """\
services:
  app:
    image: app
    volumes:
      - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro
      - models:/models
      - /srv/data:/data:rw,z
      - /anonymous
      - ~/cache:/cache
      - type: bind
        source: ./src
        target: /app/src
        read_only: true
      - type: tmpfs
        target: /tmp
    ports:
      - 3000
      - "127.0.0.1:8080:80"
      - "[::1]:9000:9000/udp"
      - "8000-8010:8000-8010"
      - target: 443
        published: "8443"
        protocol: tcp
    expose: [9090, "9091"]
    networks: [front, back]
    extra_hosts:
      - "host.docker.internal:host-gateway"
    gpus: all
    runtime: nvidia
    user: 1000
    working_dir: /app
    profiles: [gpu]
    network_mode: host
volumes:
  models:
"""})
    app = cp.services["app"]
    assert [(v.type, v.source, v.host_path, v.target, v.read_only) for v in app.volumes] == [
        ("bind", "./nginx/nginx.conf", "nginx/nginx.conf", "/etc/nginx/nginx.conf", True),
        ("volume", "models", None, "/models", False),
        ("bind", "/srv/data", None, "/data", False),
        ("volume", None, None, "/anonymous", False),
        ("bind", "~/cache", None, "/cache", False),
        ("bind", "./src", "src", "/app/src", True),
        ("tmpfs", None, None, "/tmp", False),
    ]
    assert [(p.host_ip, p.published, p.target, p.protocol) for p in app.ports] == [
        (None, None, "3000", "tcp"),
        ("127.0.0.1", "8080", "80", "tcp"),
        ("::1", "9000", "9000", "udp"),
        (None, "8000-8010", "8000-8010", "tcp"),
        (None, "8443", "443", "tcp"),
    ]
    assert where(app.ports[1].span) == ("compose.yaml", 18, 9)
    assert app.expose == ["9090", "9091"]
    assert app.networks == {"front": {}, "back": {}}
    assert app.extra_hosts == ["host.docker.internal:host-gateway"]
    assert (app.gpus, app.runtime, app.user, app.working_dir, app.network_mode) == (
        "all", "nvidia", "1000", "/app", "host")
    assert app.profiles == ["gpu"]
    assert cp.project_escapes == []
    assert cp.data["volumes"] == {"models": None}


def test_env_file_forms_resolve_against_the_compose_folder(tmp_path):
    cp = only_project(tmp_path, {"deploy/compose.yaml": """\
services:
  a:
    image: a
    env_file: .env.a
  b:
    image: b
    env_file:
      - ../shared.env
      - path: ./optional.env
        required: false
      - /etc/app.env
      - ../../escape.env
"""})
    assert [(e.path, e.required) for e in cp.services["a"].env_files] == [("deploy/.env.a", True)]
    refs = cp.services["b"].env_files
    assert [(e.path, e.raw, e.required, e.outside) for e in refs] == [
        ("shared.env", "../shared.env", True, False),
        ("deploy/optional.env", "./optional.env", False, False),
        (None, "/etc/app.env", True, True),
        (None, "../../escape.env", True, True),
    ]
    assert where(refs[1].span) == ("deploy/compose.yaml", 9, 15)
    assert [(e.kind, e.raw) for e in cp.project_escapes] == [("env_file", "../../escape.env")]


def test_assemble_directly_and_acceptance_project():
    root = Path("/work/shared/acceptance/listening-trainer")
    if not root.is_dir():
        pytest.skip("acceptance project not available")
    projects = assemble(Project(root))
    assert len(projects) == 1
    cp = projects[0]
    assert cp.name == "english-listening-trainer"
    migrate = cp.services["migrate"]
    assert migrate.build.target == "deps" and migrate.build.dockerfile == "Dockerfile"
    assert where(migrate.value_span_of("build", "target")) == ("docker-compose.gpu.yml", 9, 15)
    kokoro = [v for v in cp.variables if v.name == "KOKORO_DEVICE"]
    assert len(kokoro) == 1 and kokoro[0].required and not kokoro[0].defined
    assert (kokoro[0].span.line, kokoro[0].span.column) == (23, 23)
    assert plain(cp.node)["services"]["nginx"]["image"] == "nginx:1.27-alpine"


# --- the rules ---------------------------------------------------------------------------------


def test_rules_on_a_broken_stack(scan):
    result = scan({
        "compose.yaml": """\
services:
  api:
    build:
      context: ./api
      target: Prod
  web:
    build: ./web
  job:
    image: alpine:3.20
    command: echo ${1}
    env_file: ../outside.env
""",
        "api/Dockerfile": "FROM python:3.12-slim AS base\nFROM base AS prod\n",
        "web/README.md": "no Dockerfile here\n",
    }, select=("DA2",))
    found = sorted((f.rule, f.span.line, f.span.column) for f in result.findings)
    assert found == [("DA203", 7, 5), ("DA204", 11, 15), ("DA205", 10, 19)]


def test_rule_target_unknown_lists_stages(scan):
    result = scan({
        "compose.yaml": "services:\n  api:\n    build:\n      context: .\n      target: runtim\n",
        "Dockerfile": "FROM python:3.12-slim AS base\nFROM base AS runtime\n",
    }, select=("DA202",))
    (finding,) = result.findings
    assert (finding.span.line, finding.span.column) == (5, 15)
    assert "base, runtime" in finding.message and "did you mean 'runtime'" in finding.message
    assert [r.span.path for r in finding.related] == ["Dockerfile", "Dockerfile"]


def test_rule_suppression_on_the_service_key(scan):
    result = scan({
        "compose.yaml": ("services:\n  # dockaudit: ignore=DA203 built elsewhere\n  api:\n    build:\n"
                         "      context: ./missing\n"),
    }, select=("DA203",))
    (finding,) = result.findings
    assert finding.suppression is not None and finding.suppression.reason == "built elsewhere"


_COMPOSE_PIECES = st.sampled_from([
    "services:\n", "  app:\n", "  db:\n", "    image: x\n", "    build: .\n", "    build:\n",
    "      context: ..\n", "      target: t\n", "      dockerfile: D\n", "      args: [A=1, B]\n",
    "    ports: [80, '1:2', {target: 3}]\n",
    "    volumes: ['./a:/a', {type: bind, source: ../x, target: /x}, 7]\n", "    environment: [A=1]\n",
    "    environment: {A: 1, B: null}\n", "    env_file: [a.env, {path: b.env, required: false}, 3]\n",
    "    extends: db\n", "    extends: {file: other.yaml, service: app}\n", "    extends: app\n",
    "    command: !reset\n", "    ports: !override [1]\n", "    depends_on: [db]\n", "    networks: [n]\n",
    "include: [other.yaml, ../x.yaml]\n", "include:\n  - path: sub/compose.yaml\n",
    "    image: ${A:-${B}}\n", "    image: ${\n", "    healthcheck: [1]\n", "    deploy: 3\n",
    "x-a: &a {image: y}\n", "    <<: *a\n", "    extra_hosts: {h: 1.2.3.4}\n",
    "    build: {context: https://x/y.git}\n", "  other: 5\n", "name: ${N}\n",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(_COMPOSE_PIECES, max_size=14).map("".join),
       st.lists(_COMPOSE_PIECES, max_size=8).map("".join))
def test_assemble_never_raises(main_text, override_text):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_tree(root, {"compose.yaml": main_text, "compose.override.yaml": override_text,
                          "other.yaml": main_text, "sub/compose.yaml": override_text, ".env": "A=1\n"})
        project = Project(root)
        for cp in project.compose_projects:
            for service in cp.services.values():
                service.span_of("build", "target")
                service.value_span_of("ports", 0)
            for use in cp.variables:
                assert use.span.line >= 1

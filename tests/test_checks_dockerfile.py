"""Edge cases of the Dockerfile rules DA101–DA104 beyond their catalog examples."""

from __future__ import annotations

from dockaudit.findings import Severity


def hits(result, rule_id: str):
    return [f for f in result.findings if f.rule == rule_id and f.suppression is None]


def where(findings) -> list[tuple[int, int, str]]:
    return [(f.span.line, f.span.column, f.severity.label) for f in findings]


# --- DA101 ------------------------------------------------------------------------------------


def test_da101_every_repeat_is_reported(scan):
    result = scan({"Dockerfile": "FROM a AS x\nFROM b AS X\nFROM c AS y\nFROM d AS x\n"}, select=("DA101",))
    found = hits(result, "DA101")
    assert where(found) == [(2, 11, "error"), (4, 11, "error")]
    assert found[0].related[0].span.line == 1


# --- DA102 ------------------------------------------------------------------------------------


def test_da102_names_images_and_case(scan):
    text = ("FROM golang:1.23 AS Build\nFROM alpine:3.20\n"
            "COPY --from=build /a /a\nCOPY --from=BUILD /b /b\nCOPY --from=alpine /c /c\n"
            "COPY --from=ghcr.io/org/tool:1 /d /d\nCOPY --from=0 /e /e\n"
            "RUN --mount=type=cache,target=/root/.cache \\\n"
            "    --mount=type=bind,from=build,target=/src go version\n")
    assert hits(scan({"Dockerfile": text}, select=("DA102",)), "DA102") == []


def test_da102_mount_problems(scan):
    text = ("FROM golang:1.23 AS build\nARG SRC=later\n"
            "RUN --mount=type=bind,from=0,target=/src ls\n"
            "RUN --mount=type=bind,from=${SRC},target=/x ls\n"
            "RUN --mount=from=build,target=/y ls\n"
            "FROM alpine AS later\n")
    found = hits(scan({"Dockerfile": text}, select=("DA102",)), "DA102")
    assert [f.span.line for f in found] == [3, 4, 5]
    assert "stage indexes" in found[0].message and "`from=build`" in found[0].fix
    assert "defined later" in found[1].message
    assert "the stage this instruction is in" in found[2].message


def test_da102_variable_and_indexes(scan):
    text = ("ARG BUILDER=golang:1.23\nFROM alpine AS a\nCOPY --from=${BUILDER} /x /x\nCOPY --from=1 /y /y\n"
            "FROM alpine AS b\nCOPY --from=7 /z /z\n")
    found = hits(scan({"Dockerfile": text}, select=("DA102",)), "DA102")
    assert [(f.span.line, f.span.column) for f in found] == [(3, 6), (4, 6), (6, 6)]
    assert "does not expand variables" in found[0].message
    assert "defined later" in found[1].message
    assert "no stage 7" in found[2].message


def test_da102_typo_is_a_warning_and_short_names_are_left_alone(scan):
    text = ("FROM node:20 AS frontend\nFROM node:20 AS api\n"
            "COPY --from=fronted /dist /dist\nCOPY --from=ap /x /x\nCOPY --from=node /y /y\n")
    found = hits(scan({"Dockerfile": text}, select=("DA102",)), "DA102")
    assert where(found) == [(3, 6, "warning")]
    assert "'frontend'" in found[0].message


# --- DA103 ------------------------------------------------------------------------------------


def test_da103_builtins_defaults_and_empty_values(scan):
    text = ('ARG VARIANT=""\nARG TAG=3.12\n'
            "FROM --platform=$BUILDPLATFORM python:${TAG}${VARIANT} AS build\n"
            "FROM --platform=${TARGETPLATFORM} python:${TAG:-3.12}-slim\n"
            "FROM python:${TAG}-${TARGETARCH}\n")
    assert hits(scan({"Dockerfile": text}, select=("DA103",)), "DA103") == []


def test_da103_severities_and_positions(scan):
    text = ("ARG NODEFAULT\n"
            "FROM ${REGISTRY:-docker.io}/python:3.12\n"
            "FROM python:3.12${SUFFIX:+-slim}\n"
            "FROM python:${PY_VERSION}\n"
            "FROM --platform=$PLATFORM alpine\n"
            "FROM ${NODEFAULT:-alpine}\n"
            "FROM alpine:${NODEFAULT}\n")
    found = hits(scan({"Dockerfile": text}, select=("DA103",)), "DA103")
    # line 7: an ARG without default that no compose build passes is only a note (a script may pass it)
    assert where(found) == [(2, 6, "warning"), (3, 17, "warning"), (4, 13, "error"), (5, 6, "error"),
                            (7, 13, "note")]
    assert "cannot change it" in found[0].message
    assert "always expands to nothing" in found[1].message
    assert "python:" in found[2].message
    assert found[3].span.end_column == 26  # the whole --platform flag


def test_da103_suggests_builtin_spelling(scan):
    result = scan({"Dockerfile": "FROM --platform=$BUILDPLATFROM golang:1.23\n"}, select=("DA103",))
    found = hits(result, "DA103")
    assert "did you mean BUILDPLATFORM" in found[0].message


# --- DA104 ------------------------------------------------------------------------------------


def test_da104_arg_is_a_warning(scan):
    found = hits(scan({"Dockerfile": "ARG PY=3.12 # default python\nFROM python:${PY}\n"}, select=("DA104",)),
                 "DA104")
    assert where(found) == [(1, 13, "warning")]
    assert "`#`, `default`, `python`" in found[0].message
    assert found[0].severity is Severity.WARNING


def test_da104_not_reported(scan):
    text = ('FROM alpine\nENV COLOR=#fff A="x # y" B=\'# z\'\nLABEL maintainer=a#b\n'
            "ENV LEGACY #value\nARG X=1\n# ENV A=1 # whole-line comment\nRUN echo x # shell comment\n"
            "ENV C=1 \\\n    # a comment line inside the continuation\n    D=2\n")
    assert hits(scan({"Dockerfile": text}, select=("DA104",)), "DA104") == []


def test_da104_on_a_continuation_line_and_suppression(scan):
    text = ("FROM alpine\nENV A=1 \\\n    B=2   # second value\n"
            "# dockaudit: ignore=DA104 kept on purpose for the demo\n"
            "ENV C=1 \\\n    D=2 # suppressed\n")
    result = scan({"Dockerfile": text}, select=("DA104",))
    active = hits(result, "DA104")
    assert where(active) == [(3, 11, "error")]
    assert active[0].span.end_line == 3 and active[0].span.end_column == 25
    suppressed = [f for f in result.findings if f.rule == "DA104" and f.suppression is not None]
    assert [f.span.line for f in suppressed] == [6]
    assert suppressed[0].suppression.reason == "kept on purpose for the demo"


def test_da104_seed_case_message(scan):
    text = "FROM python:3.11-slim\nENV USE_HF_MIRROR=false  # 国内镜像\n"
    result = scan({"Dockerfile": text}, select=("DA104", "DA001"))
    [finding] = hits(result, "DA104")
    assert (finding.span.line, finding.span.column) == (2, 26)
    assert "fails the build" in finding.message
    assert "# 国内镜像" in finding.fix and "ENV USE_HF_MIRROR=false`" in finding.fix
    assert hits(result, "DA001") == []


def test_parse_errors_surface_as_da001(scan):
    result = scan({"Dockerfile": "FROM alpine\nRUN <<EOF\necho\n", "app/Containerfile": "FROM x\nFOO bar\n"},
                  select=("DA001",))
    found = sorted((f.span.path, f.span.line, f.span.column) for f in hits(result, "DA001"))
    assert found == [("Dockerfile", 2, 5), ("app/Containerfile", 2, 1)]


def test_da103_arg_without_default_judged_by_compose_builds(scan):
    dockerfile = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN true\n"
    passing = scan({
        "Dockerfile": dockerfile,
        "compose.yaml": "services:\n  app:\n    build:\n      context: .\n      args:\n"
                        "        BASE_IMAGE: python:3.12-slim\n",
    }, select=("DA103",))
    assert hits(passing, "DA103") == []


def test_da103_arg_without_default_not_passed_by_compose(scan):
    found = hits(scan({
        "Dockerfile": "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN true\n",
        "compose.yaml": "services:\n  app:\n    build: .\n",
    }, select=("DA103",)), "DA103")
    assert [(f.span.line, f.severity.label) for f in found] == [(2, "warning")]

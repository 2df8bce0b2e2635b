"""The Dockerfile parser: splitting, positions, heredocs, flags, forms, stages, ARG/ENV scope."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockaudit.parse.dockerfile import (
    Dockerfile,
    expand,
    parse,
    parse_heredoc_marker,
    split_words,
    variable_references,
)
from dockaudit.source import SourceFile, Span, decode, from_text


def df(text: str, path: str = "Dockerfile") -> Dockerfile:
    return parse(from_text(path, text))


def only(document: Dockerfile, keyword: str):
    found = [i for i in document.instructions if i.keyword == keyword]
    assert len(found) == 1, found
    return found[0]


def errors(document: Dockerfile) -> list[str]:
    return [f"{f.span.line}:{f.span.column} {f.message}" for f in document.diagnostics]


def text_at(document: Dockerfile, span: Span) -> str:
    """The source text a single-line or multi-line span covers."""
    src = document.source
    start = src.offset(span.line, span.column)
    end = src.offset(span.end_line, span.end_column)
    return src.text[start:end]


# --- basic splitting and positions ------------------------------------------------------------


def test_simple_instructions_and_positions():
    d = df("FROM python:3.12-slim AS app\nWORKDIR /app\n  RUN pip install x\n")
    assert [i.keyword for i in d.instructions] == ["FROM", "WORKDIR", "RUN"]
    run = d.instructions[2]
    assert run.span == Span("Dockerfile", 3, 3, 3, 20)
    assert run.keyword_span == Span("Dockerfile", 3, 3, 3, 6)
    assert run.value == "pip install x"
    assert text_at(d, run.value_span()) == "pip install x"
    assert run.raw == "RUN pip install x"
    assert not d.diagnostics


def test_lower_case_keywords():
    d = df("from alpine:3.20 as base\nrun echo hi\ncopy a b\n")
    assert [i.keyword for i in d.instructions] == ["FROM", "RUN", "COPY"]
    assert d.instructions[1].written_keyword == "run"
    assert d.stages[0].name == "base"
    assert not d.diagnostics


def test_comments_and_blank_lines_are_skipped():
    d = df("# a comment\n\nFROM alpine\n   # indented comment\nRUN echo 'x # not a comment'\n")
    assert [i.keyword for i in d.instructions] == ["FROM", "RUN"]
    assert d.instructions[1].value == "echo 'x # not a comment'"


def test_continuation_joined_like_docker():
    d = df("FROM alpine\nRUN apt-get update \\\n && apt-get install -y \\\n    curl\n")
    run = only(d, "RUN")
    assert run.value == "apt-get update  && apt-get install -y     curl"
    assert run.span == Span("Dockerfile", 2, 1, 4, 9)
    assert run.raw.endswith("    curl")


def test_blank_and_comment_lines_inside_continuation_are_skipped():
    d = df("FROM alpine\nRUN apk add \\\n\n    # the http client\n    curl \\\n"
           "    # and git\n    git\nCMD sh\n")
    run = only(d, "RUN")
    assert run.value == "apk add     curl     git"
    assert run.span.end_line == 7
    assert only(d, "CMD").span.line == 8


def test_trailing_escape_at_eof_keeps_the_instruction():
    d = df("FROM alpine\nRUN echo a \\")
    run = only(d, "RUN")
    assert run.value == "echo a"
    d = df("FROM alpine\nRUN echo a \\\n")
    assert only(d, "RUN").value == "echo a"
    d = df("FROM alpine\nRUN echo a \\\n   \n  # only a comment\n")
    assert only(d, "RUN").value == "echo a"


def test_escaped_escape_at_line_end_is_not_a_continuation():
    d = df("FROM alpine\nRUN echo a\\\\\nCMD x\n")
    assert only(d, "RUN").value == "echo a\\\\"
    assert only(d, "CMD").value == "x"


def test_continuation_with_trailing_spaces_after_escape():
    d = df("FROM alpine\nRUN echo a \\  \t\n  b\n")
    assert only(d, "RUN").value == "echo a   b"


def test_bom_and_crlf():
    data = "\ufeffFROM alpine:3.20\r\nRUN echo a \\\r\n  b\r\n".encode()
    d = parse(decode("Dockerfile", data))
    assert [i.keyword for i in d.instructions] == ["FROM", "RUN"]
    assert d.instructions[0].keyword_span == Span("Dockerfile", 1, 1, 1, 5)
    assert only(d, "RUN").value == "echo a   b"
    assert not d.diagnostics


def test_bom_in_undecoded_text_is_skipped():
    d = parse(SourceFile("Dockerfile", "\ufeff# syntax=docker/dockerfile:1\nFROM alpine\n"))
    assert d.directives == {"syntax": "docker/dockerfile:1"}
    assert d.instructions[0].keyword == "FROM"


def test_crlf_in_undecoded_text():
    d = parse(SourceFile("Dockerfile", "FROM alpine\r\nRUN echo a \\\r\n  b\r\n"))
    assert only(d, "RUN").value == "echo a   b"


def test_chinese_text_columns_count_code_points():
    d = df("FROM python:3.12-slim\nLABEL 描述=\"语音服务\" version=1\nENV 提示=你好 PORT=8000\n")
    label = only(d, "LABEL")
    pairs = label.key_values
    assert [p.key for p in pairs] == ["描述", "version"]
    assert pairs[1].key_span == Span("Dockerfile", 2, 17, 2, 24)
    env = only(d, "ENV")
    assert env.key_values[1].span == Span("Dockerfile", 3, 11, 3, 20)
    assert d.stages[0].env == {"提示": "你好", "PORT": "8000"}


# --- directives and escape --------------------------------------------------------------------


def test_parser_directives():
    d = df("# syntax=docker/dockerfile:1.7\n# check=skip=JSONArgsRecommended\n#escape=\\\nFROM alpine\n")
    assert d.directives == {"syntax": "docker/dockerfile:1.7", "check": "skip=JSONArgsRecommended",
                            "escape": "\\"}
    assert d.escape == "\\"


def test_directives_only_at_the_top():
    d = df("FROM alpine\n# escape=`\nRUN echo a \\\n  b\n")
    assert d.directives == {}
    assert only(d, "RUN").value == "echo a   b"
    d = df("\n# syntax=docker/dockerfile:1\nFROM alpine\n")
    assert d.directives == {}
    d = df("# hello\n# syntax=docker/dockerfile:1\nFROM alpine\n")
    assert d.directives == {}


def test_duplicate_or_invalid_directive_is_an_error():
    d = df("# syntax=a\n# syntax=b\nFROM alpine\n")
    assert d.directives == {"syntax": "a"}
    assert errors(d) == ["2:1 only one `syntax` parser directive can be used"]
    d = df("# escape=x\nFROM alpine\n")
    assert d.escape == "\\"
    assert len(d.diagnostics) == 1 and "escape" in d.diagnostics[0].message


def test_backtick_escape():
    text = ("# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\n"
            "COPY C:\\src\\ C:\\dst\\\nRUN powershell -Command `\n    Write-Host hi\n")
    d = df(text)
    assert d.escape == "`"
    assert only(d, "COPY").value == "C:\\src\\ C:\\dst\\"
    run = only(d, "RUN")
    assert run.value == "powershell -Command     Write-Host hi"
    assert run.span.end_line == 5
    assert run.locate("Write-Host") == Span("Dockerfile", 5, 5, 5, 15)


def test_backtick_escape_in_env_values():
    d = df('# escape=`\nFROM alpine\nENV A="x`"y" B=C:\\path\n')
    assert d.stages[0].env == {"A": 'x"y', "B": "C:\\path"}


# --- flags, forms -----------------------------------------------------------------------------


def test_flags():
    d = df("FROM --platform=$BUILDPLATFORM golang:1.23 AS build\n"
           "RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=secret,id=netrc "
           "--network=none --security=insecure go build ./...\n"
           "COPY --chown=1000:1000 --chmod=644 --link --from=build /out/app /app\n"
           "COPY --from=\"build\" -- --weird-name /dst\n")
    stage = d.stages[0]
    assert stage.platform == "$BUILDPLATFORM"
    run = only(d, "RUN")
    assert run.flag_all("mount") == ["type=cache,target=/root/.cache/go-build", "type=secret,id=netrc"]
    assert run.flag("network") == "none" and run.flag("--security") == "insecure"
    assert run.value == "go build ./..."
    assert text_at(d, run.flags[1].span) == "--mount=type=secret,id=netrc"
    copy = d.instructions[2]
    assert copy.flag("link") == "" and copy.flag("chown") == "1000:1000" and copy.flag("from") == "build"
    assert copy.flag("missing") is None
    assert copy.value == "/out/app /app"
    quoted = d.instructions[3]
    assert quoted.flag("from") == "build"
    assert quoted.value == "--weird-name /dst"


def test_flag_span_on_continuation_line():
    d = df("FROM alpine\nRUN \\\n  --mount=type=cache,target=/var/cache/apk \\\n  apk add curl\n")
    run = only(d, "RUN")
    assert run.flags[0].span == Span("Dockerfile", 3, 3, 3, 43)
    assert run.value == "apk add curl"
    assert run.value_span() == Span("Dockerfile", 4, 3, 4, 15)


def test_json_and_shell_forms():
    d = df('FROM alpine\nCMD ["python", "-m", "app"]\nENTRYPOINT [ "tini", "--" ]\n'
           'RUN [echo, hi]\nCMD python -m app\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\n'
           'HEALTHCHECK --interval=30s CMD ["curl", "-f", "http://localhost/"]\n'
           'COPY ["a b.txt", "/dst/"]\nVOLUME ["/data"]\n')
    cmd, entry, run, cmd2, shell, health, copy, volume = d.instructions[1:]
    assert cmd.json_args == ["python", "-m", "app"] and cmd.is_exec_form
    assert entry.json_args == ["tini", "--"]
    assert run.json_args is None and run.value == "[echo, hi]"  # invalid JSON: shell form
    assert cmd2.json_args is None
    assert shell.json_args == ["/bin/bash", "-o", "pipefail", "-c"]
    assert health.json_args == ["curl", "-f", "http://localhost/"] and health.flag("interval") == "30s"
    assert copy.args == ["a b.txt", "/dst/"]
    assert volume.json_args == ["/data"]
    assert not d.diagnostics


def test_json_array_of_non_strings_is_an_error():
    d = df('FROM alpine\nCMD ["sleep", 5]\n')
    assert errors(d) == ["2:5 CMD: when using JSON array syntax, arrays must be comprised of strings only"]


def test_shell_requires_json():
    d = df("FROM alpine\nSHELL /bin/bash -c\n")
    assert "SHELL requires a JSON array" in d.diagnostics[0].message


def test_json_with_continuation():
    d = df('FROM alpine\nCMD ["python", \\\n     "-m", "app"]\n')
    assert only(d, "CMD").json_args == ["python", "-m", "app"]


# --- heredocs ---------------------------------------------------------------------------------


def test_run_heredoc():
    d = df("FROM alpine\nRUN <<EOF\napk add curl\necho done\nEOF\nCMD sh\n")
    run = only(d, "RUN")
    assert run.value == "<<EOF"
    [heredoc] = run.heredocs
    assert heredoc.delimiter == "EOF" and not heredoc.quoted and not heredoc.strip_tabs
    assert heredoc.body == "apk add curl\necho done\n"
    assert heredoc.span == Span("Dockerfile", 3, 1, 5, 4)
    assert heredoc.marker_span == Span("Dockerfile", 2, 5, 2, 10)
    assert run.span == Span("Dockerfile", 2, 1, 5, 4)
    assert only(d, "CMD").span.line == 6
    assert not d.diagnostics


def test_heredoc_lines_that_look_like_instructions_are_body():
    d = df("FROM alpine\nCOPY <<EOF /etc/app.conf\nRUN rm -rf /\n# not a comment\nEOF\n")
    assert [i.keyword for i in d.instructions] == ["FROM", "COPY"]
    assert d.instructions[1].heredocs[0].body == "RUN rm -rf /\n# not a comment\n"


def test_several_heredocs_on_one_line():
    d = df("FROM alpine\nRUN <<FILE1 cat > /a && <<FILE2 cat > /b\none\nFILE1\ntwo\nFILE2\nRUN echo next\n")
    run = d.instructions[1]
    assert [h.delimiter for h in run.heredocs] == ["FILE1", "FILE2"]
    assert [h.body for h in run.heredocs] == ["one\n", "two\n"]
    assert run.span.end_line == 6
    assert d.instructions[2].span.line == 7


def test_heredoc_strip_tabs_and_quoted_delimiters():
    d = df('FROM alpine\nRUN <<-"EOT" bash\n\techo "$HOME"\n\t\tindented\n\tEOT\n'
           "COPY <<'CONF' /etc/x.conf\nvalue=$NOT_EXPANDED\nCONF\n")
    run, copy = d.instructions[1], d.instructions[2]
    [h] = run.heredocs
    assert h.strip_tabs and h.quoted and h.delimiter == "EOT"
    assert h.body == 'echo "$HOME"\nindented\n'
    assert h.source_offset(h.body.index("indented")) == d.source.offset(4, 3)
    [c] = copy.heredocs
    assert c.quoted and not c.strip_tabs and c.body == "value=$NOT_EXPANDED\n"


def test_heredoc_only_in_run_copy_add_shell_form():
    d = df('FROM alpine\nCMD cat <<EOF\nENV X=1\nRUN ["cat", "<<EOF"]\nENV Y=2\n')
    assert [i.keyword for i in d.instructions] == ["FROM", "CMD", "ENV", "RUN", "ENV"]
    assert all(not i.heredocs for i in d.instructions)


def test_heredoc_after_continuation_and_flags():
    d = df("FROM alpine\nRUN --mount=type=cache,target=/root/.cache \\\n    <<EOF\npip install x\nEOF\n")
    run = d.instructions[1]
    assert run.flag("mount") == "type=cache,target=/root/.cache"
    assert run.value == "<<EOF"
    assert run.heredocs[0].body == "pip install x\n"
    assert run.heredocs[0].marker_span == Span("Dockerfile", 3, 5, 3, 10)


def test_onbuild_heredoc():
    d = df("FROM alpine\nONBUILD RUN <<EOF\necho hi\nEOF\n")
    assert d.instructions[1].heredocs[0].body == "echo hi\n"


def test_not_heredocs():
    d = df("FROM alpine\nRUN echo '<<EOF' && cat<<EOF2 file\nCMD x\n")
    assert not d.instructions[1].heredocs
    assert d.instructions[2].keyword == "CMD"


def test_unterminated_heredoc_is_da001_at_the_marker():
    d = df("FROM alpine\nRUN <<EOF\napk add curl\n")
    [finding] = d.diagnostics
    assert finding.rule == "DA001"
    assert finding.span == Span("Dockerfile", 2, 5, 2, 10)
    assert "unterminated heredoc" in finding.message
    run = d.instructions[1]
    assert run.heredocs[0].body == "apk add curl\n" and not run.heredocs[0].terminated


def test_parse_heredoc_marker():
    assert parse_heredoc_marker("<<EOF") == ("EOF", False, False)
    assert parse_heredoc_marker("<<-EOF") == ("EOF", False, True)
    assert parse_heredoc_marker("<<'EOF'") == ("EOF", True, False)
    assert parse_heredoc_marker('<<"E O"') is None
    assert parse_heredoc_marker("<< EOF") == ("EOF", False, False)
    assert parse_heredoc_marker("2<<EOF") == ("EOF", False, False)
    assert parse_heredoc_marker("<<") is None
    assert parse_heredoc_marker("cat<<EOF") is None


# --- errors -----------------------------------------------------------------------------------


def test_unknown_instruction_is_reported_and_parsing_goes_on():
    d = df("FROM alpine\nRUN apt-get update\n    && apt-get install -y curl\nEXPOSED 80\nCMD sh\n")
    assert [i.keyword for i in d.instructions] == ["FROM", "RUN", "&&", "EXPOSED", "CMD"]
    msgs = errors(d)
    assert msgs[0].startswith("3:5 unknown instruction `&&`") and "missing" in msgs[0]
    assert msgs[1] == "4:1 unknown instruction `EXPOSED`; did you mean `EXPOSE`?"
    assert all(f.rule == "DA001" for f in d.diagnostics)


def test_instruction_before_from():
    d = df("ARG V=1\nRUN echo hi\nFROM alpine\n")
    assert errors(d) == ["2:1 RUN before the first FROM: only ARG may come before FROM "
                         "(Docker: no build stage in current context)"]
    assert d.instructions[1].stage == -1


def test_no_from_and_empty_file():
    assert "no FROM" in df("ARG X=1\n").diagnostics[0].message
    assert "no instructions" in df("# only a comment\n").diagnostics[0].message
    assert "no instructions" in df("").diagnostics[0].message


def test_bad_from_lines():
    d = df("FROM\nFROM alpine AS\nFROM alpine AS 1bad\nFROM alpine AS ok\n")
    msgs = errors(d)
    assert msgs[0].startswith("1:1 FROM requires at least one argument")
    assert msgs[1].startswith("2:6 FROM takes an image")
    assert msgs[2].startswith("3:16 invalid stage name '1bad'")
    assert len(d.stages) == 4


def test_missing_arguments_and_env_syntax():
    d = df("FROM alpine\nCOPY onlyone\nENV KEY\nENV A=1 B\nWORKDIR\n")
    msgs = errors(d)
    assert msgs[0].startswith("2:6 COPY requires at least two arguments")
    assert msgs[1].startswith("3:1 ENV KEY has no value")
    assert msgs[2].startswith("4:9 ENV expects name=value pairs; `B` has no `=`")
    assert msgs[3].startswith("5:1 WORKDIR requires at least one argument")


# --- ENV / LABEL / ARG ------------------------------------------------------------------------


def test_key_values_forms():
    d = df('FROM alpine\nENV A=1 B="two words" C=\'$lit\' D=\nENV LEGACY some value here\n'
           'ARG NAME\nARG X=1 Y\nLABEL a.b="c d" e=f\n')
    env1, env2, arg1, arg2, label = d.instructions[1:]
    assert [(p.key, p.value) for p in env1.key_values] == [("A", "1"), ("B", '"two words"'),
                                                           ("C", "'$lit'"), ("D", "")]
    assert env2.key_values[0].legacy and env2.key_values[0].value == "some value here"
    assert [(p.key, p.value) for p in arg1.key_values] == [("NAME", None)]
    assert [(p.key, p.value) for p in arg2.key_values] == [("X", "1"), ("Y", None)]
    assert [(p.key, p.value) for p in label.key_values] == [("a.b", '"c d"'), ("e", "f")]
    assert d.stages[0].env == {"A": "1", "B": "two words", "C": "$lit", "D": "", "LEGACY": "some value here"}


def test_split_words():
    assert [w for w, _, _ in split_words('A="x y" B=\'1 2\' C=a\\ b')] == ['A="x y"', "B='1 2'", "C=a\\ b"]
    assert split_words("  a  b") == [("a", 2, 3), ("b", 5, 6)]
    assert [w for w, _, _ in split_words("A=`x y`", escape="`")] == ["A=`x", "y`"]


def test_key_value_span_on_continuation_line():
    d = df("FROM alpine\nENV A=1 \\\n    KOKORO_DEVICE=cuda \\\n    B=2\n")
    kv = only(d, "ENV").key_values[1]
    assert kv.key == "KOKORO_DEVICE"
    assert kv.span == Span("Dockerfile", 3, 5, 3, 23)
    assert kv.value_span == Span("Dockerfile", 3, 19, 3, 23)


# --- locate -----------------------------------------------------------------------------------


def test_locate_on_continuation_lines():
    d = df("FROM debian:12\nRUN apt-get update \\\n && apt-get install -y --no-install-recommends \\\n"
           "      espeak-ng \\\n      espeak \\\n && rm -rf /var/lib/apt/lists/*\n")
    run = only(d, "RUN")
    assert run.locate("espeak") == Span("Dockerfile", 5, 7, 5, 13)
    assert run.locate("espeak-ng") == Span("Dockerfile", 4, 7, 4, 16)
    assert run.locate("apt-get install") == Span("Dockerfile", 3, 5, 3, 20)
    assert run.locate("lists") == Span("Dockerfile", 6, 25, 6, 30)  # `/` is a word boundary
    assert run.locate("nothing-here") == run.keyword_span
    assert run.locate("RUN") == run.keyword_span


def test_locate_across_a_line_break_and_in_heredoc():
    d = df("FROM alpine\nRUN pip install \\\n    torch==2.3.0\nRUN <<EOF\n  npm ci\nEOF\n")
    first, second = d.instructions[1], d.instructions[2]
    assert first.locate("install torch") == Span("Dockerfile", 2, 9, 3, 10)
    assert first.locate("torch") == Span("Dockerfile", 3, 5, 3, 10)
    assert second.locate("npm ci") == Span("Dockerfile", 5, 3, 5, 9)


def test_locate_whole_words_only():
    d = df("FROM alpine\nRUN pip3 install pip-tools pip\n")
    run = only(d, "RUN")
    assert run.locate("pip") == Span("Dockerfile", 2, 28, 2, 31)


# --- stages -----------------------------------------------------------------------------------


def test_stages_parents_and_lookup():
    d = df("ARG PY=3.12\nFROM python:${PY}-slim AS Base\nFROM base AS deps\nFROM deps\nFROM Base AS other\n"
           "FROM scratch AS empty\n")
    base, deps, third, other, empty = d.stages
    assert base.base == "python:${PY}-slim" and base.base_image == "python:3.12-slim"
    assert base.base_span == Span("Dockerfile", 2, 6, 2, 23)
    assert base.name_span == Span("Dockerfile", 2, 27, 2, 31)
    assert deps.parent is base and third.parent is deps
    assert third.ancestors() == [deps, base]
    assert other.parent is None  # Docker: `FROM Base` is an image reference, stage names are lower-case
    assert base.uses_external_image and not deps.uses_external_image
    assert empty.is_scratch and not empty.uses_external_image
    assert third.external_image == "python:3.12-slim"
    assert d.stage("BASE") is base and d.stage(1) is deps and d.stage("2") is third
    assert d.stage("nope") is None and d.stage(9) is None
    assert d.final_stage is empty
    assert [i.stage for i in d.instructions] == [-1, 0, 1, 2, 3, 4]
    assert d.global_args == [d.instructions[0]]


def test_stage_env_user_workdir_inherited():
    d = df("FROM node:20 AS base\nENV NODE_ENV=production PATH=/app/bin:$PATH\nWORKDIR /app\nUSER node\n"
           "FROM base AS build\nWORKDIR src\nENV NODE_ENV=development\n"
           "FROM node:20\n")
    base, build, fresh = d.stages
    assert base.env == {"NODE_ENV": "production", "PATH": "/app/bin:"}
    assert base.workdir == "/app" and base.user == "node"
    assert build.env["NODE_ENV"] == "development" and build.workdir == "/app/src" and build.user == "node"
    assert build.env_definitions["PATH"] is d.instructions[1]
    assert fresh.env == {} and fresh.workdir == "/" and fresh.user is None


def test_arg_scope_rules():
    d = df("ARG VERSION=1.0\nARG ONLY_GLOBAL=g\nARG NODEFAULT\n"
           "FROM alpine:${VERSION}\n"
           "RUN echo before\n"
           "ARG VERSION\nARG LOCAL=${VERSION}-x\nARG NODEFAULT\n"
           "ENV VERSION=env-wins FROM_ARG=$LOCAL\n"
           "RUN echo after\n")
    stage = d.stages[0]
    assert d.global_arg_defaults == {"VERSION": "1.0", "ONLY_GLOBAL": "g", "NODEFAULT": None}
    assert stage.base_image == "alpine:1.0"
    before = stage.env_at(d.instructions[4])
    assert before == {}  # global ARGs are not visible in the stage until re-declared
    after = stage.env_at(d.instructions[-1])
    assert after["VERSION"] == "env-wins"
    assert after["LOCAL"] == "1.0-x" and after["FROM_ARG"] == "1.0-x"
    assert after["NODEFAULT"] is None
    assert "ONLY_GLOBAL" not in after
    assert stage.args == {"VERSION": "1.0", "LOCAL": "1.0-x", "NODEFAULT": None}
    assert stage.env_at(stage.from_instruction)["ONLY_GLOBAL"] == "g"


def test_env_in_one_instruction_sees_previous_values():
    d = df("FROM alpine\nENV A=old\nENV A=new B=$A\n")
    assert d.stages[0].env == {"A": "new", "B": "old"}


def test_build_args_override_defaults():
    d = df("ARG BASE=python:3.11-slim\nFROM ${BASE}\nARG MODE=dev\nENV MODE=$MODE\n")
    stage = d.stages[0]
    assert stage.resolve_base({"BASE": "python:3.12-slim"}) == "python:3.12-slim"
    assert stage.resolve_base() == "python:3.11-slim"
    assert stage.env_at(None, {"MODE": "prod"})["MODE"] == "prod"
    assert stage.env["MODE"] == "dev"


def test_anchor_lines():
    d = df("FROM alpine\nRUN apk add \\\n    curl\n\nRUN <<EOF\necho\nEOF\n")
    assert d.anchor_lines(3) == [2]
    assert d.anchor_lines(6) == [5]
    assert d.anchor_lines(4) == []
    assert d.instruction_at(7) is d.instructions[2]


# --- expansion --------------------------------------------------------------------------------


VARS = {"SET": "value", "EMPTY": "", "UNSET": None, "PATH": "/usr/bin"}


@pytest.mark.parametrize(("text", "expected"), [
    ("$SET", "value"),
    ("${SET}", "value"),
    ("pre-${SET}-post", "pre-value-post"),
    ("$SET_x", ""),
    ("${SET}_x", "value_x"),
    ("$MISSING", ""),
    ("$UNSET", ""),
    ("${SET:-d}", "value"), ("${EMPTY:-d}", "d"), ("${UNSET:-d}", "d"), ("${MISSING:-d}", "d"),
    ("${SET-d}", "value"), ("${EMPTY-d}", ""), ("${UNSET-d}", "d"),
    ("${SET:+alt}", "alt"), ("${EMPTY:+alt}", ""), ("${UNSET:+alt}", ""),
    ("${SET+alt}", "alt"), ("${EMPTY+alt}", "alt"), ("${UNSET+alt}", ""),
    ("${SET:?err}", "value"), ("${UNSET:?err}", ""), ("${EMPTY?err}", ""),
    ("${UNSET:-${SET}}", "value"), ("${UNSET:-${MISSING:-deep}}", "deep"),
    ("${UNSET:-a b}", "a b"), ('${UNSET:-"q}"}', "q}"),
    ("\\$SET", "$SET"), ("a\\ b", "a b"),
    ("'$SET'", "$SET"), ('"$SET"', "value"), ('"\\$SET"', "$SET"), ('"a\\b"', "a\\b"),
    ("$", "$"), ("a$ b", "a$ b"), ("$1", ""), ("${", ""), ("${}", ""), ("${:x}", ""),
    ("${SET:0:2}", ""),
    ("${PATH#/usr}", "/bin"), ("${PATH##*/}", "bin"), ("${PATH%/*}", "/usr"), ("${PATH%%/*}", ""),
    ("${PATH/usr/opt}", "/opt/bin"), ("${SET//a/A}", "vAlue"),
    ("'unterminated", "unterminated"), ('"unterminated $SET', "unterminated value"),
])
def test_expand(text, expected):
    assert expand(text, VARS) == expected


def test_expand_without_dequoting():
    assert expand("'$SET' \"$SET\" \\$SET", VARS, dequote=False) == "'$SET' \"value\" \\$SET"


def test_expand_with_backtick_escape():
    assert expand("`$SET", VARS, escape="`") == "$SET"
    assert expand("C:\\dir", VARS, escape="`") == "C:\\dir"


def test_variable_references():
    refs = variable_references("a/${REG:-docker.io}/$IMG:${TAG} '$NOT' \\$NOT2 ${A:-$B}")
    assert [(r.name, r.modifier, r.depth) for r in refs] == [
        ("REG", ":-", 0), ("IMG", "", 0), ("TAG", "", 0), ("A", ":-", 0), ("B", "", 1)]
    first = refs[0]
    assert (first.start, first.end) == (2, 19) and first.has_default


# --- property: never raises, spans inside the file ---------------------------------------------

_PIECES = st.sampled_from([
    "FROM ", "RUN ", "COPY ", "ENV ", "ARG ", "LABEL ", "run ", "ONBUILD ", "HEALTHCHECK CMD ", "CMD ",
    "alpine", " AS x", "\\", "\\\n", "`", "\n", "\r\n", " ", "\t", "#", "# escape=`\n", "# syntax=x\n",
    "<<EOF", "<<-EOF", "<<'EOF'", "EOF", "\tEOF", "--from=", "--mount=type=cache,target=/x", "$", "${",
    "${A:-b}", "}", "=", "\"", "'", "[", "]", '["a", "b"]', '["a", 1]', "语音", "\ufeff", "&&", "x=1",
])


def _assert_span_inside(source: SourceFile, span: Span) -> None:
    assert span.path == source.path
    assert 1 <= span.line <= span.end_line <= source.line_count
    assert 1 <= span.column <= len(source.line_text(span.line)) + 1
    assert 1 <= span.end_column <= len(source.line_text(span.end_line)) + 1
    if span.line == span.end_line:
        assert span.column <= span.end_column


def _all_spans(document: Dockerfile):
    for inst in document.instructions:
        yield inst.span
        yield inst.keyword_span
        yield inst.value_span()
        yield inst.locate("a")
        for flag in inst.flags:
            yield flag.span
        for heredoc in inst.heredocs:
            yield heredoc.span
            if heredoc.marker_span:
                yield heredoc.marker_span
        for kv in inst.key_values:
            yield kv.span
            yield kv.key_span
            if kv.value_span:
                yield kv.value_span
    for stage in document.stages:
        yield stage.base_span
        if stage.name_span:
            yield stage.name_span
    for finding in document.diagnostics:
        yield finding.span


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), st.lists(_PIECES, max_size=60).map("".join)))
def test_parse_never_raises_and_spans_are_inside_the_file(text):
    # SourceFile directly: also lone "\r", NUL and a BOM character that decode() would remove
    source = SourceFile("Dockerfile", text)
    document = parse(source)
    for span in _all_spans(document):
        _assert_span_inside(source, span)
    for stage in document.stages:
        stage.env_at(None)
        _ = stage.workdir, stage.user, stage.args
    for inst in document.instructions:
        document.anchor_lines(inst.span.line)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.dictionaries(st.sampled_from(["A", "B", "SET"]),
                                             st.one_of(st.none(), st.text(max_size=5))))
def test_expand_never_raises(text, variables):
    expand(text, variables)
    expand(text, variables, "`", dequote=False)
    variable_references(text)

"""DA701-DA704: system packages that Python dependencies need, across Dockerfile stages and manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockaudit.findings import Severity

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
IDS = ("DA701", "DA702", "DA703", "DA704")


def hits(result, rule=None):
    wanted = IDS if rule is None else (rule,)
    return [f for f in result.findings if f.rule in wanted and f.suppression is None]


def run(scan, files):
    return hits(scan(files, select=IDS))


# --- the review-report project and the projects that do it right ------------------------------


def test_listening_trainer_kokoro_needs_espeak(tmp_path):
    from .conftest import scan_tree

    files = {p.relative_to(FIXTURES / "listening-trainer").as_posix(): p.read_bytes()
             for p in (FIXTURES / "listening-trainer").rglob("*") if p.is_file()}
    result = scan_tree(tmp_path, files, select=IDS)
    found = hits(result)
    assert len(found) == 1
    finding = found[0]
    assert finding.rule == "DA701"
    assert finding.severity == Severity.ERROR
    assert finding.span.path == "kokoro-local/requirements.txt"
    assert finding.span.line == 3
    assert "`espeak-ng`" in finding.message
    assert "stage runtime (line 37)" in finding.message
    assert "apt-get install in Dockerfile stage base (line 6)" in finding.message
    related = {(r.span.path, r.span.line) for r in finding.related}
    assert ("Dockerfile", 37) in related  # the runtime stage's FROM
    assert ("Dockerfile", 41) in related  # COPY --from=deps of the venv
    assert ("Dockerfile", 30) in related  # the pip install


@pytest.mark.parametrize("name", ["gpu-tts-good", "uv-api-good"])
def test_good_fixtures_stay_quiet(tmp_path, name):
    from .conftest import scan_tree

    files = {p.relative_to(FIXTURES / name).as_posix(): p.read_bytes()
             for p in (FIXTURES / name).rglob("*") if p.is_file()}
    assert hits(scan_tree(tmp_path, files, select=IDS)) == []


# --- DA701 ---------------------------------------------------------------------------------------


def test_command_line_package_is_located_on_its_word(scan):
    found = run(scan, {"Dockerfile": (
        "FROM python:3.12-slim-bookworm\n"
        "RUN pip install --no-cache-dir fastapi \\\n"
        "    pytesseract==0.3.13 uvicorn\n")})
    located = [(f.rule, f.span.path, f.span.line, f.span.column) for f in found]
    assert located == [("DA701", "Dockerfile", 3, 5)]
    assert "`tesseract-ocr`" in found[0].message
    assert "apt-get install -y --no-install-recommends tesseract-ocr" in found[0].message


def test_requirements_include_is_followed(scan):
    found = run(scan, {
        "Dockerfile": "FROM python:3.12-slim\nWORKDIR /srv\nCOPY requirements/ requirements/\n"
                      "RUN pip install -r requirements/prod.txt\n",
        "requirements/prod.txt": "-r base.txt\ngunicorn\n",
        "requirements/base.txt": "flask\npdf2image==1.17.0\n",
    })
    assert [(f.span.path, f.span.line) for f in found] == [("requirements/base.txt", 2)]
    assert "`poppler-utils`" in found[0].message


def test_cd_and_bind_mount_locate_the_requirements(scan):
    files = {
        "Dockerfile": (
            "FROM python:3.12-slim\n"
            "COPY services/api /opt/api\n"
            "RUN cd /opt/api && pip install -r requirements.txt\n"
            "RUN --mount=type=bind,source=extra/req.txt,target=/tmp/req.txt pip install -r /tmp/req.txt\n"),
        "services/api/requirements.txt": "openai-whisper\n",
        "extra/req.txt": "phonemizer==3.3.0\n",
    }
    found = run(scan, files)
    assert sorted((f.span.path, f.span.line) for f in found) == [
        ("extra/req.txt", 1), ("services/api/requirements.txt", 1)]


def test_activated_venv_is_followed_into_the_runtime(scan):
    files = {
        "Dockerfile": (
            "FROM debian:bookworm-slim AS builder\n"
            "RUN apt-get update && apt-get install -y python3 python3-venv\n"
            "WORKDIR /w\n"
            "COPY requirements.txt .\n"
            "RUN python3 -m venv venv && . venv/bin/activate && pip install -r requirements.txt\n"
            "FROM debian:bookworm-slim\n"
            "RUN apt-get update && apt-get install -y python3\n"
            "COPY --from=builder /w/venv /w/venv\n"),
        "requirements.txt": "openai-whisper==20240930\n",
    }
    found = run(scan, files)
    assert [(f.rule, f.span.path) for f in found] == [("DA701", "requirements.txt")]


def test_venv_on_path_and_user_site_are_followed(scan):
    files = {
        "Dockerfile": (
            "FROM python:3.12-slim AS a\n"
            "RUN python -m venv /opt/venv\n"
            "ENV PATH=/opt/venv/bin:$PATH\n"
            "RUN pip install pdf2image\n"
            "FROM python:3.12-slim AS b\n"
            "RUN pip install --user pytesseract\n"
            "FROM python:3.12-slim\n"
            "COPY --from=a /opt/venv /opt/venv\n"
            "COPY --from=b /root/.local /root/.local\n"),
    }
    found = run(scan, files)
    assert sorted(f.span.line for f in found) == [4, 6]


def test_copy_that_does_not_carry_the_environment_is_ignored(scan):
    files = {"Dockerfile": (
        "FROM python:3.12-slim AS build\n"
        "RUN pip install --prefix=/install openai-whisper\n"
        "RUN mkdir /dist && echo hi > /dist/app\n"
        "FROM python:3.12-slim\n"
        "COPY --from=build /dist /dist\n")}
    assert run(scan, files) == []


@pytest.mark.parametrize("runtime", [
    # a static ffmpeg downloaded in the stage
    "RUN apt-get update && apt-get install -y curl xz-utils \\\n"
    " && curl -L https://johnvansickle.com/ffmpeg/releases/ffmpeg-release-amd64-static.tar.xz | tar -xJ\n",
    # copied from an ffmpeg image
    "COPY --from=mwader/static-ffmpeg:7.1 /ffmpeg /usr/local/bin/\n",
    # packages from a variable we cannot resolve
    "ARG EXTRA_PACKAGES\nRUN apt-get update && apt-get install -y $EXTRA_PACKAGES\n",
    # a script we cannot see
    "COPY scripts/ /scripts/\nRUN /scripts/install-system-deps.sh\n",
    # conda brings ffmpeg
    "RUN conda install -y -c conda-forge ffmpeg\n",
])
def test_installs_we_cannot_see_keep_it_quiet(scan, runtime):
    files = {"Dockerfile": "FROM python:3.12-slim\n" + runtime + "RUN pip install openai-whisper\n"}
    assert run(scan, files) == []


def test_build_arg_package_list_is_expanded(scan):
    files = {"Dockerfile": (
        "FROM python:3.12-slim\n"
        'ARG DEPENDENCIES="curl ffmpeg"\n'
        "RUN apt-get update && apt-get install -y ${DEPENDENCIES}\n"
        "RUN pip install openai-whisper pydub\n")}
    assert run(scan, files) == []


def test_unknown_base_image_and_scratch_stay_quiet(scan):
    files = {"Dockerfile": "ARG BASE=python:3.12-slim\nFROM ${BASE}-custom\nRUN pip install openai-whisper\n"}
    assert run(scan, files) == []
    files = {"Dockerfile": "FROM registry.internal/ml/base:7\nRUN pip install openai-whisper\n"}
    assert run(scan, files) == []


def test_opencv_variants(scan):
    # headless needs nothing; the GUI wheel needs libGL and GLib at import time
    base = "FROM python:3.12-slim-bookworm\n"
    assert run(scan, {"Dockerfile": base + "RUN pip install opencv-python-headless\n"}) == []
    found = run(scan, {"Dockerfile": base + "RUN pip install opencv-python\n"})
    assert len(found) == 1
    assert "`libgl1`, `libglib2.0-0`" in found[0].message
    assert "libsm6" not in found[0].message  # only the Qt xcb plugin (cv2.imshow) needs X11 libraries


def test_opencv_swapped_for_headless_is_quiet(scan):
    files = {
        "Dockerfile": ("FROM python:3.12-slim\nCOPY requirements.txt .\n"
                       "RUN pip install -r requirements.txt && pip uninstall -y opencv-python "
                       "&& pip install opencv-python-headless\n"),
        "requirements.txt": "opencv-python\nultralytics\n",
    }
    assert run(scan, files) == []
    files["Dockerfile"] = ("FROM python:3.12-slim\nCOPY requirements.txt .\n"
                           "RUN pip install -r requirements.txt\n")
    files["requirements.txt"] = "opencv-python\nopencv-python-headless\n"
    assert run(scan, files) == []


def test_ffmpeg_brings_libgl_on_debian(scan):
    files = {"Dockerfile": ("FROM python:3.11-slim\n"
                            "RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg\n"
                            "RUN pip install opencv-python openai-whisper\n")}
    assert run(scan, files) == []


def test_markers_that_exclude_linux(scan):
    files = {
        "Dockerfile": "FROM python:3.12-slim\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n",
        "requirements.txt": 'pytesseract==0.3.13; sys_platform == "win32"\nfastapi\n',
    }
    assert run(scan, files) == []


def test_ubuntu_noble_names_and_t64(scan):
    base = "FROM ubuntu:24.04\nRUN apt-get update && apt-get install -y python3-pip python3-venv"
    found = run(scan, {"Dockerfile": base + "\nRUN pip install --break-system-packages opencv-python\n"})
    assert len(found) == 1 and "`libglib2.0-0t64`" in found[0].message
    quiet = base + " libgl1 libglib2.0-0t64\nRUN pip install --break-system-packages opencv-python\n"
    assert run(scan, {"Dockerfile": quiet}) == []


def test_pydub_is_a_warning(scan):
    found = run(scan, {"Dockerfile": "FROM python:3.12-slim\nRUN pip install pydub\n"})
    assert [(f.rule, f.severity) for f in found] == [("DA701", Severity.WARNING)]


def test_soundfile_needs_libsndfile_only_on_musl(scan):
    assert run(scan, {"Dockerfile": "FROM python:3.12-slim\nRUN pip install soundfile\n"}) == []
    found = run(scan, {"Dockerfile": "FROM python:3.12-alpine\nRUN pip install soundfile\n"})
    assert len(found) == 1 and "apk add --no-cache libsndfile" in found[0].message


def test_suppression_on_the_requirement_line(scan):
    files = {
        "Dockerfile": "FROM python:3.12-slim\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n",
        "requirements.txt": "openai-whisper  # dockaudit: ignore=DA701 ffmpeg comes from a sidecar\n",
    }
    result = scan(files, select=IDS)
    assert [f.suppression is not None for f in result.findings if f.rule == "DA701"] == [True]


def test_compose_targets_pick_the_deployed_stage(scan):
    files = {
        "compose.yaml": "services:\n  api:\n    build:\n      context: .\n      target: api\n",
        "Dockerfile": ("FROM python:3.12-slim AS api\nRUN pip install fastapi\n"
                       "FROM python:3.12-slim AS tools\nRUN pip install openai-whisper\n"),
    }
    assert run(scan, files) == []  # `tools` is neither a target nor the final stage of a compose build


def test_uv_sync_groups_and_extras(scan):
    files = {
        "Dockerfile": ("FROM python:3.12-slim\nCOPY --from=ghcr.io/astral-sh/uv:0.5 /uv /bin/\nWORKDIR /app\n"
                       "COPY pyproject.toml uv.lock ./\nRUN uv sync --frozen --no-dev --extra ocr\n"),
        "pyproject.toml": ('[project]\nname = "x"\nversion = "1"\ndependencies = ["fastapi"]\n'
                           '[project.optional-dependencies]\nocr = ["pytesseract"]\npdf = ["pdf2image"]\n'
                           '[dependency-groups]\ndev = ["openai-whisper"]\n'),
    }
    found = run(scan, files)
    assert [(f.span.path, f.span.line) for f in found] == [("pyproject.toml", 6)]


def test_test_stage_built_on_runtime_is_not_a_builder(scan):
    files = {"Dockerfile": ("FROM python:3.12-slim AS runtime\nRUN pip install openai-whisper\n"
                            "FROM runtime AS test\nRUN apt-get update && apt-get install -y ffmpeg\n"
                            "FROM runtime AS final\n")}
    found = run(scan, files)
    assert [f.rule for f in found] == ["DA701"]


# --- DA702 ---------------------------------------------------------------------------------------


def test_psycopg2_build_dependencies(scan):
    found = run(scan, {"Dockerfile": "FROM python:3.12-slim\nRUN pip install psycopg2==2.9.10\n"})
    assert [f.rule for f in found] == ["DA702"]
    assert "`gcc`, `libpq-dev`" in found[0].message
    assert "psycopg2-binary" in found[0].message
    assert "python3-dev" not in found[0].message  # the python image ships the headers


def test_build_dependencies_after_the_install_do_not_count(scan):
    files = {"Dockerfile": ("FROM python:3.12-slim\nRUN pip install psycopg2\n"
                            "RUN apt-get update && apt-get install -y libpq-dev gcc\n")}
    assert [f.rule for f in run(scan, files)] == ["DA702"]


def test_distribution_python_needs_headers(scan):
    files = {"Dockerfile": ("FROM debian:bookworm-slim\n"
                            "RUN apt-get update && apt-get install -y python3-pip gcc libpq-dev\n"
                            "RUN pip install --break-system-packages psycopg2\n")}
    found = run(scan, files)
    assert [f.rule for f in found] == ["DA702"] and "`python3-dev`" in found[0].message


def test_prebuilt_wheels_and_full_image(scan):
    assert run(scan, {"Dockerfile": "FROM python:3.12\nRUN pip install psycopg2 mysqlclient\n"}) == []
    files = {"Dockerfile": "FROM python:3.12-slim\nRUN pip install --no-index --find-links /w psycopg2\n"}
    assert run(scan, files) == []


def test_lxml_and_pillow_have_musl_wheels(scan):
    assert run(scan, {"Dockerfile": "FROM python:3.12-alpine\nRUN pip install lxml Pillow\n"}) == []


# --- DA703 / DA704 -----------------------------------------------------------------------------


def test_runtime_library_versus_builder_only(scan):
    files = {"Dockerfile": (
        "FROM python:3.12-slim AS builder\n"
        "RUN apt-get update && apt-get install -y gcc libpq-dev espeak-ng\n"
        "RUN pip install --prefix=/install psycopg2 phonemizer\n"
        "FROM python:3.12-slim\n"
        "COPY --from=builder /install /usr/local\n")}
    found = {f.rule: f for f in run(scan, files)}
    assert set(found) == {"DA703", "DA704"}
    assert "`libpq5`" in found["DA703"].message
    assert "`espeak-ng`" in found["DA704"].message
    assert any(r.span.line == 2 and "only in stage builder" in r.message for r in found["DA704"].related)


def test_chained_copies(scan):
    files = {"Dockerfile": (
        "FROM python:3.12-slim AS build\n"
        "RUN apt-get update && apt-get install -y gcc libpq-dev\n"
        "RUN python -m venv /venv && /venv/bin/pip install psycopg2\n"
        "FROM python:3.12-slim AS assemble\n"
        "COPY --from=build /venv /opt/app/venv\n"
        "FROM python:3.12-slim\n"
        "RUN apt-get update && apt-get install -y postgresql-client\n"
        "COPY --from=assemble /opt/app /opt/app\n")}
    assert run(scan, files) == []  # postgresql-client depends on libpq5


def test_never_crashes_on_odd_input(scan):
    files = {
        "Dockerfile": ("FROM python:3.12-slim AS a\nCOPY --from=a / /\nRUN pip install -r\n"
                       "RUN pip install 'not a requirement' ./missing[gpu] -e .\n"
                       "COPY ../outside.txt /x\nRUN pip install -r ../../etc/passwd\n"
                       "FROM a\nCOPY --from=nonexistent /venv /venv\n"),
        "pyproject.toml": "[project\n",
    }
    result = scan(files, select=IDS)
    assert not [f for f in result.findings if f.rule == "DA000"]


# --- DA705 ---------------------------------------------------------------------------------------


def test_canvas_on_alpine_with_yarn_and_explicit_install(scan):
    files = {
        "Dockerfile": ("FROM node:20-alpine\nWORKDIR /app\nCOPY package.json yarn.lock ./\n"
                       "RUN yarn install --frozen-lockfile --production\n"
                       "RUN npm install -g canvas@2.11.2\n"),
        "package.json": '{"dependencies": {"canvas": "^2.11.2"}, "devDependencies": {"jest": "^29"}}\n',
    }
    found = hits(scan(files, select=("DA705",)), "DA705")
    assert sorted((f.span.path, f.span.line) for f in found) == [("Dockerfile", 5), ("package.json", 1)]
    assert all(f.severity == Severity.WARNING for f in found)
    assert "cairo-dev" in found[0].message


def test_canvas_dev_dependency_omitted_and_ignore_scripts(scan):
    files = {
        "Dockerfile": ("FROM node:20-alpine\nWORKDIR /app\nCOPY package.json ./\nRUN npm ci --omit=dev\n"
                       "RUN npm ci --ignore-scripts\n"),
        "package.json": '{"devDependencies": {"canvas": "^2.11.2"}}\n',
    }
    assert hits(scan(files, select=("DA705",)), "DA705") == []


def test_dev_dockerfile_next_to_a_compose_built_one_is_skipped(scan):
    files = {
        "compose.yaml": "services:\n  tts:\n    build: .\n",
        "Dockerfile": "FROM python:3.12-slim\nRUN apt-get update && apt-get install -y espeak-ng\n"
                      "RUN pip install kokoro\n",
        "Dockerfile.dev": "FROM python:3.12-slim\nRUN pip install kokoro\n",
        "gpu.Dockerfile": "FROM python:3.12-slim\nRUN pip install kokoro\n",
    }
    assert [f.span.path for f in run(scan, files)] == ["gpu.Dockerfile"]

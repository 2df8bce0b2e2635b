"""Edge cases of the model-baking and build-setting rules DA840–DA845."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockaudit.checks.models import _python_downloads, cache_path, secret_name

IDS = ("DA840", "DA841", "DA842", "DA843", "DA844", "DA845")
ROOT = Path(__file__).resolve().parent.parent


def hits(result, rule_id: str):
    return [f for f in result.findings if f.rule == rule_id and f.suppression is None]


@pytest.mark.parametrize("fixture", ["uv-api-good", "gpu-tts-good"])
def test_good_fixtures_are_quiet(fixture):
    from dockaudit.audit import Options, audit

    result = audit([str(ROOT / "fixtures" / fixture)], Options(select=IDS))
    assert [f"{f.rule} {f.span}" for f in result.active()] == []


# --- helpers ---------------------------------------------------------------------------------


def test_cache_path_follows_the_libraries():
    assert cache_path("hub", {}, None) == "/root/.cache/huggingface/hub"
    assert cache_path("hub", {"HF_HOME": "/m"}, "app") == "/m/hub"
    assert cache_path("hub", {"HF_HUB_CACHE": "/c", "HF_HOME": "/m"}, None) == "/c"
    assert cache_path("hub", {"XDG_CACHE_HOME": "/x"}, None) == "/x/huggingface/hub"
    assert cache_path("hub", {}, "app") is None  # the home of a non-root user is not known
    assert cache_path("hub", {"HOME": "/home/app"}, "app") == "/home/app/.cache/huggingface/hub"
    assert cache_path("transformers", {"TRANSFORMERS_CACHE": "/t", "HF_HOME": "/m"}, None) == "/t"
    assert cache_path("modelscope", {}, "root") == "/root/.cache/modelscope/hub"
    assert cache_path("torch", {"TORCH_HOME": "/th"}, None) == "/th"


def test_python_downloads_are_read_not_run():
    code = (
        "from modelscope import snapshot_download\n"
        "from huggingface_hub import hf_hub_download\n"
        "snapshot_download('iic/SenseVoiceSmall', local_dir='/models/sv')\n"
        "hf_hub_download('org/m', 'model.bin', cache_dir='/c')\n"
        "import whisper\nwhisper.load_model('small')\n"
    )
    calls = [(c.kind, c.dest_type, c.dest) for c in _python_downloads(code)]
    assert calls == [("modelscope", "local", "/models/sv"), ("hub", "cache_dir", "/c"),
                     ("whisper", "cache", None)]
    saved = _python_downloads("m = AutoModel.from_pretrained('x')\nm.save_pretrained('/models/x')\n")
    assert [(c.dest_type, c.dest) for c in saved] == [("local", "/models/x")]
    assert _python_downloads("def broken(:\n") is None


@pytest.mark.parametrize(("name", "secret"), [
    ("HF_TOKEN", True), ("DB_PASSWORD", True), ("OPENAI_API_KEY", True), ("AWS_SECRET_ACCESS_KEY", True),
    ("api_key", True), ("NEXTAUTH_SECRET", True), ("root_password", True),
    ("DB_PASSWORD_FILE", False), ("TOKENIZERS_PARALLELISM", False), ("ACCESS_TOKEN_EXPIRE_MINUTES", False),
    ("GPG_KEY", False), ("AWS_ACCESS_KEY_ID", False), ("TOKEN_URL", False), ("PWD", False),
    ("SECRET_KEY_BASE_DUMMY", False), ("PASSWORD_LENGTH", False),
])
def test_secret_names(name, secret):
    assert secret_name(name) is secret


# --- DA840 -----------------------------------------------------------------------------------


def test_da840_consistent_cache_without_offline_is_a_warning_and_names_the_mirror(scan):
    files = {"Dockerfile": ("FROM python:3.12-slim\nENV HF_HOME=/models HF_ENDPOINT=https://hf-mirror.com\n"
                            "RUN hf download BAAI/bge-m3\nCMD [\"python\", \"-m\", \"app\"]\n")}
    (finding,) = hits(scan(files, select=("DA840",)), "DA840")
    assert finding.severity.label == "warning" and "hf-mirror.com" in finding.message
    assert finding.span.line == 3 and finding.span.column == 5


def test_da840_unreadable_env_file_makes_it_a_note(scan):
    files = {
        "Dockerfile": "FROM python:3.12-slim\nENV HF_HOME=/models\nRUN huggingface-cli download org/m\n",
        "compose.yaml": "services:\n  app:\n    build: .\n    env_file: .env\n",
    }
    (finding,) = hits(scan(files, select=("DA840",)), "DA840")
    assert finding.severity.label == "note"
    files[".env"] = "HF_HUB_OFFLINE=1\n"
    assert hits(scan(files, select=("DA840",)), "DA840") == []


def test_da840_env_file_changing_the_cache_is_related(scan):
    files = {
        "Dockerfile": "FROM python:3.12-slim\nENV HF_HOME=/models HF_HUB_OFFLINE=1\nRUN hf download org/m\n",
        "compose.yaml": "services:\n  app:\n    build: .\n    env_file: app.env\n",
        "app.env": "HF_HOME=/data/hf\n",
    }
    (finding,) = hits(scan(files, select=("DA840",)), "DA840")
    assert "/data/hf/hub" in finding.message and "fails to find them" in finding.message
    assert finding.related[0].span.path == "app.env"


def test_da840_script_by_name_only_is_a_note_and_output_dir_is_local(scan):
    files = {"Dockerfile": "FROM python:3.12-slim\nRUN python scripts/download_models.py\n"}
    (finding,) = hits(scan(files, select=("DA840",)), "DA840")
    assert finding.severity.label == "note" and "script's name" in finding.message
    files["Dockerfile"] = "FROM python:3.12-slim\nRUN python download_model.py --output /models\n"
    assert hits(scan(files, select=("DA840",)), "DA840") == []


def test_da840_download_only_in_a_build_stage_is_not_judged(scan):
    files = {"Dockerfile": ("FROM python:3.12-slim AS dl\nRUN hf download org/m\n"
                            "FROM python:3.12-slim\nCOPY --from=dl /root/.cache/huggingface "
                            "/root/.cache/huggingface\n")}
    assert hits(scan(files, select=("DA840",)), "DA840") == []


def test_da840_shell_assignment_and_export_count_for_the_download(scan):
    files = {"Dockerfile": ("FROM python:3.12-slim\nENV HF_HUB_OFFLINE=1\n"
                            "RUN export HF_HOME=/tmp/hf && hf download org/m\n")}
    (finding,) = hits(scan(files, select=("DA840",)), "DA840")
    assert "/tmp/hf/hub" in finding.message


# --- DA841 / DA842 ---------------------------------------------------------------------------


def test_da841_env_file_and_arg(scan):
    files = {"Dockerfile": "FROM python:3.12-slim\nARG PYTORCH_TRANSFORMERS_CACHE=/c\n",
             ".env.example": "TRANSFORMERS_CACHE=/models\n"}
    found = hits(scan(files, select=("DA841",)), "DA841")
    assert sorted((f.span.path, f.span.line) for f in found) == [(".env.example", 1), ("Dockerfile", 2)]


def test_da842_named_volume_over_models_is_a_note_and_code_volume_too(scan):
    files = {
        "Dockerfile": ("FROM python:3.12-slim\nWORKDIR /app\n"
                       "RUN hf download org/m --local-dir /app/models/m\nCOPY app/ ./app/\n"),
        "app/main.py": "",
        "compose.yaml": ("services:\n  s:\n    build: .\n    volumes:\n      - models:/app/models\n"
                         "      - code:/app/app\n      - /app/data\nvolumes:\n  models:\n  code:\n"),
    }
    found = hits(scan(files, select=("DA842",)), "DA842")
    assert [(f.span.line, f.severity.label) for f in found] == [(5, "note"), (6, "note")]
    assert "old ones" in found[0].message and "old code" in found[1].message


# --- DA843 -----------------------------------------------------------------------------------


def test_da843_compose_target_and_credentials(scan):
    files = {
        "Dockerfile": ("FROM python:3.12-slim AS base\nENV PIP_INDEX_URL=https://user:pw@pypi.example.com/simple\n"
                       "FROM base AS api\nFROM python:3.12-slim AS other\nENV GOPROXY=https://goproxy.cn\n"),
        "compose.yaml": "services:\n  api:\n    build: {context: ., target: api}\n",
    }
    (finding,) = hits(scan(files, select=("DA843",)), "DA843")
    assert finding.span.line == 2 and finding.severity.label == "error"
    assert "credentials" in finding.message and finding.related[0].span.line == 3


# --- DA844 / DA845 ---------------------------------------------------------------------------


def test_da844_severities(scan):
    files = {"Dockerfile": ("FROM node:22-alpine AS build\nENV NPM_TOKEN=npm_abcdefghijklmnopqrstuvwxyz\n"
                            "FROM node:22-alpine\nENV JWT_SECRET=changeme\nENV SESSION_SECRET=Zk29xLq7Pw\n"
                            "ENV EMPTY_PASSWORD=\n")}
    found = hits(scan(files, select=("DA844",)), "DA844")
    assert [(f.span.line, f.severity.label) for f in found] == [(2, "warning"), (4, "warning"), (5, "error")]
    assert "build stage" in found[0].message and "placeholder" in found[1].message


def test_da845_global_and_stage_args(scan):
    files = {"Dockerfile": "ARG GITHUB_TOKEN\nFROM alpine:3.21\nARG GITHUB_TOKEN\nARG VERSION=1\n"}
    found = hits(scan(files, select=("DA845",)), "DA845")
    assert [f.span.line for f in found] == [1, 3]

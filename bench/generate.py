"""Generate a synthetic, deterministic monorepo of container services for benchmarks.

The tree looks like a real deployment repository of Python/Node services, many of them GPU
services (TTS, ASR, LLM serving), run with docker compose behind nginx::

    README.md  Makefile  .gitignore  .dockaudit.toml  docs/  scripts/  .github/workflows/
    stacks/<stack>/                       one group of services
        compose.yaml (+ compose.gpu.yaml)  build targets, args, env_file, ports, GPU reservations
        .env.example                       variables the compose file interpolates
        nginx/nginx.conf  nginx/conf.d/*.conf  nginx/templates/*.conf.template
        <service>/                         or services/<service>/ at the top, for "shared" stacks
            Dockerfile (+ Dockerfile.dev)  .dockerignore  .env.example
            requirements*.txt | pyproject.toml + uv.lock | pyproject.toml + poetry.lock | package.json
            app code, tests, README, non-nginx *.conf files (discovery noise)

Services come in kinds: python slim + pip, python + uv (multi-stage, cache mounts), python +
poetry, node alpine + npm (multi-stage), CUDA images with torch (TTS, ASR, LLM). Dockerfiles use
``# syntax=`` lines, ``ARG`` before ``FROM``, multi-stage builds, heredocs (``RUN <<EOF``,
``COPY <<EOF``, ``python3 <<'PY'``), apt installs, cache mounts.

A few defects from the seed documents are planted (probability ``--defect-rate`` per service and
per stack); each one is listed with its path and line in ``BENCH_MANIFEST.json`` at the root,
together with the count of files of each kind.

The output depends only on the arguments: every service draws from its own ``random.Random``
seeded with ``(seed, index)``, so service N is the same in a small and a large tree (only the
grouping into stacks may differ where a small ``--files`` budget shortens a stack). With
``--files`` the tree has exactly that many files: whole stacks while they fit (about 90 %), then
documentation pages, as real monorepos have.

Usage::

    python bench/generate.py bench/out/tree --files 2000          # 2,000 files in total
    python bench/generate.py /tmp/tree --services 40 --seed 7
    python bench/generate.py /tmp/tree --files 30 --force          # replace an earlier tree
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "BENCH_MANIFEST.json"

#: service kind -> relative weight
SERVICE_KINDS = {
    "py-pip": 24,
    "py-uv": 18,
    "py-poetry": 9,
    "node": 24,
    "gpu-tts": 9,
    "gpu-asr": 8,
    "gpu-llm": 8,
}

DOMAINS = ["billing", "auth", "search", "catalog", "notify", "media", "orders", "profile", "report",
           "ingest", "voice", "speech", "chat", "lesson", "quiz", "upload", "metrics", "admin",
           "feed", "translate", "summary", "score", "vision"]
ROLES = {
    "py-pip": ["api", "worker", "svc", "jobs"],
    "py-uv": ["api", "service", "worker", "backend"],
    "py-poetry": ["api", "etl", "scheduler"],
    "node": ["web", "frontend", "bff", "admin-ui", "gateway"],
    "gpu-tts": ["tts", "tts-worker"],
    "gpu-asr": ["asr", "whisper"],
    "gpu-llm": ["llm", "embedder", "reranker"],
}

PY_WEB = [("fastapi", "0.115.5"), ("uvicorn[standard]", "0.32.1"), ("pydantic", "2.10.3"),
          ("pydantic-settings", "2.6.1"), ("sqlalchemy", "2.0.36"), ("alembic", "1.14.0"),
          ("redis", "5.2.1"), ("httpx", "0.28.1"), ("celery", "5.4.0"), ("python-multipart", "0.0.19"),
          ("orjson", "3.10.12"), ("structlog", "24.4.0"), ("gunicorn", "23.0.0"),
          ("prometheus-client", "0.21.1"), ("tenacity", "9.0.0"), ("boto3", "1.35.80"),
          ("pillow", "11.0.0"), ("jinja2", "3.1.4"), ("python-jose[cryptography]", "3.3.0"),
          ("passlib[bcrypt]", "1.7.4")]
PY_DB = [("psycopg2-binary", "2.9.10"), ("psycopg[binary]", "3.2.3"), ("asyncpg", "0.30.0"),
         ("pymysql", "1.1.1")]
PY_ML = [("numpy", "1.26.4"), ("scipy", "1.14.1"), ("soundfile", "0.12.1"), ("librosa", "0.10.2"),
         ("transformers", "4.46.3"), ("accelerate", "1.2.0"), ("huggingface-hub", "0.26.5"),
         ("sentencepiece", "0.2.0"), ("safetensors", "0.4.5"), ("onnxruntime-gpu", "1.20.1")]
GPU_EXTRA = {
    "gpu-tts": [("kokoro", "0.9.4"), ("misaki[en]", "0.9.4"), ("phonemizer", "3.3.0"),
                ("pydub", "0.25.1")],
    "gpu-asr": [("faster-whisper", "1.1.0"), ("ctranslate2", "4.5.0"), ("pyannote.audio", "3.3.2"),
                ("webrtcvad", "2.0.10")],
    "gpu-llm": [("vllm", "0.6.4.post1"), ("sentence-transformers", "3.3.1"), ("tiktoken", "0.8.0"),
                ("xformers", "0.0.28.post3")],
}
PY_DEV = [("pytest", "8.3.4"), ("pytest-asyncio", "0.24.0"), ("ruff", "0.8.3"), ("mypy", "1.13.0"),
          ("coverage", "7.6.9"), ("respx", "0.21.1")]
NODE_DEPS = [("express", "^4.21.2"), ("next", "14.2.20"), ("react", "^18.3.1"), ("react-dom", "^18.3.1"),
             ("@prisma/client", "^5.22.0"), ("pino", "^9.5.0"), ("zod", "^3.24.1"), ("axios", "^1.7.9"),
             ("dotenv", "^16.4.7"), ("ioredis", "^5.4.1"), ("bullmq", "^5.34.2"), ("sharp", "^0.33.5"),
             ("jsonwebtoken", "^9.0.2"), ("bcrypt", "^5.1.1")]
NODE_DEV = [("typescript", "^5.7.2"), ("eslint", "^9.16.0"), ("vitest", "^2.1.8"), ("prisma", "^5.22.0"),
            ("@types/node", "^22.10.2"), ("tsx", "^4.19.2")]

PY_BASES = ["python:3.12-slim", "python:3.11-slim", "python:3.12.8-slim-bookworm", "python:3.10-slim",
            "python:3.11-slim-bookworm"]
NODE_BASES = ["node:20-alpine", "node:22-alpine", "node:20.18.1-alpine3.20", "node:18-alpine"]
CUDA_BASES = [
    ("nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04", "cu121", "2.3.1"),
    ("nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04", "cu124", "2.5.1"),
    ("nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04", "cu118", "2.3.1"),
    ("nvidia/cuda:12.1.1-runtime-ubuntu22.04", "cu121", "2.4.1"),
]
APT_COMMON = ["curl", "ca-certificates", "tini", "git", "libpq5", "dumb-init"]
APT_AUDIO = ["ffmpeg", "libsndfile1", "sox", "espeak-ng"]

#: defect id -> what it is (the same words appear in BENCH_MANIFEST.json)
DEFECTS = {
    "env-inline-comment": "ENV value followed by '# comment' (not a comment in a Dockerfile)",
    "hf-endpoint-runtime": "HF_ENDPOINT mirror set with ENV and kept at runtime",
    "transformers-cache": "TRANSFORMERS_CACHE is deprecated (use HF_HOME)",
    "copy-before-deps": "COPY . . before the dependency install busts the cache on every change",
    "apt-no-clean": "apt-get install without --no-install-recommends and without removing lists",
    "latest-base": "floating base image tag",
    "missing-espeak": "kokoro/phonemizer installed but espeak-ng is not in the image",
    "torch-cpu-wheel": "torch from the default index on a CUDA image (CPU or mismatched wheel)",
    "dockerignore-thin": ".dockerignore does not exclude .git/.venv/node_modules",
    "missing-target": "compose build target names a stage the Dockerfile lacks",
    "target-without-tool": "compose service builds a stage without the tool its command runs",
    "nginx-loopback-upstream": "nginx upstream points at 127.0.0.1 while the app is a compose service",
    "env-missing-var": "compose interpolates a variable that .env.example does not define",
    "weak-secret": ".env.example ships a weak default secret",
    "env-file-missing": "compose env_file names a file that does not exist (required)",
    "duplicate-key": "compose file has a duplicate mapping key (parse error)",
    "trailing-backslash": "Dockerfile ends with a line continuation",
    "cache-mount-mismatch": "cache mount target differs from UV_CACHE_DIR",
    "proxy-timeout-short": "TTS location keeps nginx's 60 s proxy_read_timeout",
    "root-user": "final stage runs as root",
}


@dataclass
class Service:
    index: int
    name: str
    kind: str
    port: int
    stack: str
    dir: str                      # root-relative folder of the service
    gpu: bool
    stages: list[str] = field(default_factory=list)
    final_stage: str = "runtime"
    command: list[str] = field(default_factory=list)
    env_vars: list[str] = field(default_factory=list)
    defects: set[str] = field(default_factory=set)


class Tree:
    """The files being generated, by root-relative path, with the kind each was written as."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        self.defects: list[dict] = []

    def add(self, path: str, text: str, kind: str = "other") -> None:
        if path in self.files:
            raise ValueError(f"generated twice: {path}")
        self.files[path] = text
        self.kinds[path] = kind

    def defect(self, defect: str, path: str, needle: str) -> None:
        text = self.files[path]
        line = 1
        position = text.find(needle)
        if position >= 0:
            line = text.count("\n", 0, position) + 1
        self.defects.append({"defect": defect, "path": path, "line": line, "what": DEFECTS[defect]})

    def __len__(self) -> int:
        return len(self.files)

    def mark(self) -> tuple[int, int]:
        return len(self.files), len(self.defects)

    def revert(self, mark: tuple[int, int]) -> None:
        """Forget everything added since ``mark`` (dicts keep insertion order)."""
        for path in list(self.files)[mark[0]:]:
            del self.files[path]
            del self.kinds[path]
        del self.defects[mark[1]:]


def _pick_weighted(rng: random.Random, weights: dict[str, int]) -> str:
    names = list(weights)
    return rng.choices(names, weights=[weights[n] for n in names], k=1)[0]


def _sha(*parts: object) -> str:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()


def _dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# --- per-service files ---------------------------------------------------------------------------


def _py_requirements(rng: random.Random, svc: Service) -> list[tuple[str, str]]:
    reqs = rng.sample(PY_WEB, rng.randint(5, 10)) + rng.sample(PY_DB, 1)
    if svc.gpu:
        reqs += rng.sample(PY_ML, rng.randint(4, 7)) + GPU_EXTRA[svc.kind][: rng.randint(2, 4)]
    if "missing-espeak" in svc.defects and svc.kind != "gpu-tts":
        reqs.append(("phonemizer", "3.3.0"))
    return sorted(set(reqs))


def _requirements_txt(rng: random.Random, reqs: list[tuple[str, str]], header: str, gpu: bool) -> str:
    lines = [f"# {header}", "# generated by bench/generate.py (pinned for reproducible builds)"]
    for name, version in reqs:
        op = rng.choice(["==", "==", "==", ">="])
        extra = "  # pinned: see docs/upgrades.md" if rng.random() < 0.1 else ""
        lines.append(f"{name}{op}{version}{extra}")
    if not gpu and rng.random() < 0.2:
        lines += ["", "--extra-index-url https://download.pytorch.org/whl/cpu", "torch==2.5.1+cpu"]
    return "\n".join(lines) + "\n"


def _pyproject_uv(svc: Service, reqs: list[tuple[str, str]], dev: list[tuple[str, str]]) -> str:
    text = _dedent(f"""
        [project]
        name = "{svc.name}"
        version = "0.{svc.index % 9}.{svc.index % 13}"
        description = "{svc.name} service"
        requires-python = ">=3.10"
        dependencies = [
        @DEPS@
        ]

        [dependency-groups]
        dev = [
        @DEV@
        ]

        [tool.uv]
        package = false

        [tool.ruff]
        line-length = 100
        """)
    return (text.replace("@DEPS@", "\n".join(f'    "{n}>={v}",' for n, v in reqs))
            .replace("@DEV@", "\n".join(f'    "{n}>={v}",' for n, v in dev)))


def _uv_lock(rng: random.Random, svc: Service, reqs: list[tuple[str, str]]) -> str:
    """A uv.lock-shaped TOML file: the direct dependencies plus a spread of transitive ones."""
    transitive = [("anyio", "4.7.0"), ("certifi", "2024.12.14"), ("charset-normalizer", "3.4.0"),
                  ("click", "8.1.7"), ("h11", "0.14.0"), ("idna", "3.10"), ("packaging", "24.2"),
                  ("sniffio", "1.3.1"), ("starlette", "0.41.3"), ("typing-extensions", "4.12.2"),
                  ("urllib3", "2.2.3"), ("annotated-types", "0.7.0"), ("pydantic-core", "2.27.1"),
                  ("greenlet", "3.1.1"), ("markupsafe", "3.0.2"), ("pyyaml", "6.0.2"),
                  ("filelock", "3.16.1"), ("fsspec", "2024.10.0"), ("jinja2", "3.1.4"),
                  ("networkx", "3.4.2"), ("sympy", "1.13.1"), ("tqdm", "4.67.1"), ("regex", "2024.11.6")]
    packages = sorted({(n.split("[")[0], v) for n, v in reqs}
                      | set(rng.sample(transitive, rng.randint(8, 20))))
    if svc.gpu:
        packages = sorted(set(packages) | {("torch", "2.5.1"), ("nvidia-cudnn-cu12", "9.1.0.70"),
                                           ("nvidia-cublas-cu12", "12.4.5.8"), ("triton", "3.1.0")})
    out = ["version = 1", "revision = 1", 'requires-python = ">=3.10"', ""]
    out += ["[[package]]", f'name = "{svc.name}"', f'version = "0.{svc.index % 9}.{svc.index % 13}"',
            'source = { virtual = "." }', "dependencies = ["]
    out += [f'    {{ name = "{n}" }},' for n, _ in packages[:12]]
    out += ["]", ""]
    for name, version in packages:
        out += ["[[package]]", f'name = "{name}"', f'version = "{version}"',
                'source = { registry = "https://pypi.org/simple" }']
        deps = rng.sample(packages, min(len(packages), rng.randint(0, 3)))
        deps = [d for d in deps if d[0] != name]
        if deps:
            out.append("dependencies = [")
            out += [f'    {{ name = "{d}" }},' for d, _ in deps]
            out.append("]")
        out.append(f'sdist = {{ url = "https://files.pythonhosted.org/packages/{_sha(name, version)[:2]}/'
                   f'{name}-{version}.tar.gz", hash = "sha256:{_sha(name, version, "sdist")}", '
                   f"size = {rng.randint(20_000, 900_000)} }}")
        out.append("wheels = [")
        for tag in rng.sample(["cp310-cp310-manylinux_2_17_x86_64", "cp311-cp311-manylinux_2_17_x86_64",
                               "cp312-cp312-manylinux_2_17_x86_64", "py3-none-any",
                               "cp312-cp312-macosx_11_0_arm64"], rng.randint(1, 4)):
            out.append(f'    {{ url = "https://files.pythonhosted.org/packages/{_sha(name, tag)[:2]}/'
                       f'{name}-{version}-{tag}.whl", hash = "sha256:{_sha(name, version, tag)}", '
                       f"size = {rng.randint(20_000, 9_000_000)} }},")
        out += ["]", ""]
    return "\n".join(out)


def _pyproject_poetry(svc: Service, reqs: list[tuple[str, str]], dev: list[tuple[str, str]]) -> str:
    deps = "\n".join(f'{n.split("[")[0]} = "^{v}"' for n, v in reqs)
    devs = "\n".join(f'{n} = "^{v}"' for n, v in dev)
    return _dedent(f"""
        [tool.poetry]
        name = "{svc.name}"
        version = "1.{svc.index % 7}.0"
        description = "{svc.name} service"
        authors = ["Platform Team <platform@example.com>"]
        packages = [{{ include = "app" }}]

        [tool.poetry.dependencies]
        python = "^3.10"
        {{deps}}

        [tool.poetry.group.dev.dependencies]
        {{devs}}

        [build-system]
        requires = ["poetry-core>=1.8"]
        build-backend = "poetry.core.masonry.api"
        """).replace("{deps}", deps).replace("{devs}", devs)


def _poetry_lock(rng: random.Random, reqs: list[tuple[str, str]]) -> str:
    out = ["# This file is automatically @generated by Poetry 1.8.4 and should not be changed by hand.", ""]
    for name, version in reqs:
        base = name.split("[")[0]
        out += ["[[package]]", f'name = "{base}"', f'version = "{version}"', f'description = "{base}"',
                'optional = false', 'python-versions = ">=3.8"', "files = [",
                f'    {{file = "{base}-{version}-py3-none-any.whl", hash = "sha256:{_sha(base, version)}"}},',
                "]", ""]
    out += ["[metadata]", 'lock-version = "2.0"', 'python-versions = "^3.10"',
            f'content-hash = "{_sha(rng.random())}"', ""]
    return "\n".join(out)


def _package_json(rng: random.Random, svc: Service) -> str:
    deps = dict(sorted(rng.sample(NODE_DEPS, rng.randint(5, 10))))
    dev = dict(sorted(rng.sample(NODE_DEV, rng.randint(2, 5))))
    uses_next = "next" in deps
    data = {
        "name": f"@acme/{svc.name}",
        "version": f"1.{svc.index % 10}.0",
        "private": True,
        "type": "module" if not uses_next else "commonjs",
        "engines": {"node": ">=18"},
        "scripts": {
            "dev": "next dev" if uses_next else "tsx watch src/index.ts",
            "build": "next build" if uses_next else "tsc -p .",
            "start": "next start" if uses_next else "node dist/index.js",
            "test": "vitest run",
            "lint": "eslint .",
            **({"migrate": "prisma migrate deploy"} if "prisma" in dev else {}),
        },
        "dependencies": deps,
        "devDependencies": dev,
    }
    return json.dumps(data, indent=2) + "\n"


def _package_lock(svc: Service, package_json: str) -> str:
    data = json.loads(package_json)
    packages: dict[str, dict] = {"": {"name": data["name"], "version": data["version"],
                                      "dependencies": data["dependencies"]}}
    for name, spec in {**data["dependencies"], **data["devDependencies"]}.items():
        version = spec.lstrip("^~")
        packages[f"node_modules/{name}"] = {
            "version": version,
            "resolved": f"https://registry.npmjs.org/{name}/-/{name.split('/')[-1]}-{version}.tgz",
            "integrity": "sha512-" + _sha(name, version)[:86] + "==",
        }
    return json.dumps({"name": data["name"], "version": data["version"], "lockfileVersion": 3,
                       "requires": True, "packages": packages}, indent=2) + "\n"


def _dockerignore(rng: random.Random, svc: Service) -> str:
    if "dockerignore-thin" in svc.defects:
        return "*.log\ntmp/\n"
    lines = ["# keep the build context small", ".git", ".gitignore", "**/__pycache__", "*.pyc", ".venv",
             ".env", ".env.*", "!.env.example", "node_modules", "dist", "coverage", "*.log", "tests/",
             "docs/", "Dockerfile*", ".dockerignore"]
    if svc.gpu:
        lines += ["models/", "checkpoints/", "*.safetensors", "*.bin", "data/"]
    if rng.random() < 0.3:
        lines += ["# editor files", ".idea", ".vscode", "*.swp"]
    return "\n".join(lines) + "\n"


def _service_env_example(rng: random.Random, svc: Service) -> str:
    lines = ["# Copy to .env and fill in.", f"SERVICE_NAME={svc.name}", f"PORT={svc.port}",
             "LOG_LEVEL=info"]
    if svc.kind == "node":
        lines += ["NODE_ENV=production", "DATABASE_URL=postgresql://app:app@postgres:5432/app",
                  'NEXT_PUBLIC_API_BASE="/api"']
    else:
        lines += ["DATABASE_URL=postgresql+psycopg://app:app@postgres:5432/app",
                  "REDIS_URL=redis://redis:6379/0", "WORKERS=2"]
    if svc.gpu:
        lines += ["", "# GPU", "NVIDIA_VISIBLE_DEVICES=all", "CUDA_VISIBLE_DEVICES=0",
                  "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True", "HF_HOME=/models/hf",
                  "HF_HUB_OFFLINE=1", f"MODEL_ID=acme/{svc.name}-base"]
        if svc.kind == "gpu-tts":
            lines += ["KOKORO_DEVICE=cuda", "KOKORO_TTS_MAX_CONCURRENCY=4"]
    if "weak-secret" in svc.defects:
        lines += ["JWT_SECRET=changeme", "ADMIN_PASSWORD=admin"]
    else:
        lines += ["JWT_SECRET=", "# openssl rand -hex 32"]
    if rng.random() < 0.3:
        lines += ["export SENTRY_DSN=", 'GREETING="hello # not a comment"', "FEATURE_FLAGS='a,b'"]
    svc.env_vars = [ln.split("=", 1)[0].removeprefix("export ") for ln in lines if "=" in ln and
                    not ln.startswith("#")]
    return "\n".join(lines) + "\n"


def _apt(rng: random.Random, packages: list[str], clean: bool = True, alpine: bool = False) -> str:
    if alpine:
        return "RUN apk add --no-cache " + " ".join(packages)
    if not clean:
        return "RUN apt-get update && apt-get install -y " + " ".join(packages)
    body = " \\\n    ".join(sorted(packages))
    return ("RUN apt-get update \\\n && apt-get install -y --no-install-recommends \\\n    "
            f"{body} \\\n && rm -rf /var/lib/apt/lists/*")


def _heredoc_apt(packages: list[str]) -> str:
    return "\n".join(["RUN <<EOF", "set -eux", "apt-get update",
                      "apt-get install -y --no-install-recommends " + " ".join(sorted(packages)),
                      "rm -rf /var/lib/apt/lists/*", "EOF"])


def _user_block(svc: Service, alpine: bool = False) -> str:
    if "root-user" in svc.defects:
        return "# TODO: drop root"
    if alpine:
        return "USER node"
    return "RUN useradd --create-home --uid 10001 app && chown -R app /app\nUSER app"


def _dockerfile_py_pip(rng: random.Random, svc: Service, base: str) -> str:
    apt = rng.sample(APT_COMMON, rng.randint(1, 3))
    parts = []
    if rng.random() < 0.5 and not base.endswith(":latest"):
        version = base.split(":")[1].split("-")[0]
        parts += [f"ARG PYTHON_VERSION={version}", "FROM python:${PYTHON_VERSION}-slim AS runtime"]
    else:
        parts.append(f"FROM {base} AS runtime")
    parts += ["", "ENV PYTHONDONTWRITEBYTECODE=1 \\", "    PYTHONUNBUFFERED=1 \\",
              "    PIP_NO_CACHE_DIR=1", "WORKDIR /app", ""]
    parts.append(_apt(rng, apt, clean="apt-no-clean" not in svc.defects))
    if "copy-before-deps" in svc.defects:
        parts += ["COPY . .", "RUN pip install -r requirements.txt"]
    else:
        parts += ["COPY requirements.txt ./", "RUN pip install --no-cache-dir -r requirements.txt",
                  "COPY . ."]
    if "env-inline-comment" in svc.defects:
        parts.append("ENV USE_HF_MIRROR=false  # set true inside the firewall")
    parts += ["", _user_block(svc), f"EXPOSE {svc.port}",
              "HEALTHCHECK --interval=30s --timeout=3s "
              f"CMD curl -fsS http://localhost:{svc.port}/health || exit 1",
              f'CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "{svc.port}"]']
    svc.stages = ["runtime"]
    svc.final_stage = "runtime"
    return "\n".join(parts) + "\n"


def _dockerfile_py_uv(rng: random.Random, svc: Service, base: str) -> str:
    uv = rng.choice(["0.5.11", "0.5.4", "0.4.30"])
    cache_target = "/root/.cache/uv" if "cache-mount-mismatch" not in svc.defects else "/tmp/uv-cache"
    text = f"""
        # syntax=docker/dockerfile:1.7
        FROM ghcr.io/astral-sh/uv:{uv} AS uv

        FROM {base} AS base
        ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \\
            UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_CACHE_DIR=/root/.cache/uv
        WORKDIR /app

        FROM base AS deps
        COPY --from=uv /uv /uvx /bin/
        COPY pyproject.toml uv.lock ./
        RUN --mount=type=cache,target={cache_target} \\
            uv sync --frozen --no-dev --no-install-project

        FROM deps AS test
        RUN --mount=type=cache,target={cache_target} uv sync --frozen
        COPY . .
        RUN uv run pytest -q

        FROM base AS runtime
        COPY --from=deps /app/.venv /app/.venv
        COPY app ./app
        ENV PATH="/app/.venv/bin:$PATH"
        {{user}}
        EXPOSE {svc.port}
        CMD ["gunicorn", "app.main:app", "-k", "uvicorn.workers.UvicornWorker", "-b", "0.0.0.0:{svc.port}"]
        """
    svc.stages = ["uv", "base", "deps", "test", "runtime"]
    svc.final_stage = "runtime"
    return _dedent(text).replace("{user}", _user_block(svc))


def _dockerfile_py_poetry(rng: random.Random, svc: Service, base: str) -> str:
    text = f"""
        FROM {base} AS builder
        RUN pip install --no-cache-dir poetry==1.8.4 poetry-plugin-export==1.8.0
        WORKDIR /src
        COPY pyproject.toml poetry.lock ./
        RUN poetry export --without-hashes --only main -f requirements.txt -o requirements.txt
        RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt

        FROM {base} AS runtime
        WORKDIR /app
        COPY --from=builder /wheels /wheels
        RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
        COPY app ./app
        {{user}}
        CMD ["python", "-m", "app.main"]
        """
    svc.stages = ["builder", "runtime"]
    svc.final_stage = "runtime"
    return _dedent(text).replace("{user}", _user_block(svc))


def _dockerfile_node(rng: random.Random, svc: Service, base: str) -> str:
    if "latest-base" in svc.defects:
        base = "node:alpine"
    text = f"""
        # syntax=docker/dockerfile:1
        FROM {base} AS deps
        WORKDIR /app
        RUN apk add --no-cache libc6-compat
        COPY package.json package-lock.json ./
        RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev

        FROM deps AS builder
        RUN npm ci
        COPY . .
        RUN npm run build

        FROM {base} AS runtime
        ENV NODE_ENV=production
        WORKDIR /app
        COPY --from=deps /app/node_modules ./node_modules
        COPY --from=builder /app/dist ./dist
        COPY package.json ./
        {{user}}
        EXPOSE {svc.port}
        CMD ["node", "dist/index.js"]
        """
    svc.stages = ["deps", "builder", "runtime"]
    svc.final_stage = "runtime"
    return _dedent(text).replace("{user}", _user_block(svc, alpine=True))


def _dockerfile_gpu(rng: random.Random, svc: Service) -> str:
    base, cu, torch = rng.choice(CUDA_BASES)
    if "latest-base" in svc.defects:
        base = "nvidia/cuda:latest"
    audio = svc.kind in ("gpu-tts", "gpu-asr")
    apt = ["python3", "python3-pip", "python3-venv", *rng.sample(APT_COMMON, 2)]
    if audio:
        apt += [p for p in APT_AUDIO if not (p == "espeak-ng" and "missing-espeak" in svc.defects)]
    torch_install = (f"pip install torch=={torch} torchaudio=={torch}" if "torch-cpu-wheel" in svc.defects
                     else f"pip install torch=={torch} torchaudio=={torch} "
                          f"--index-url https://download.pytorch.org/whl/{cu}")
    lines = ["# syntax=docker/dockerfile:1.7", f"ARG CUDA_IMAGE={base}", "FROM ${CUDA_IMAGE} AS base",
             "ENV DEBIAN_FRONTEND=noninteractive \\", "    PYTHONUNBUFFERED=1 \\",
             "    VIRTUAL_ENV=/opt/venv \\", '    PATH="/opt/venv/bin:$PATH"']
    if "hf-endpoint-runtime" in svc.defects:
        lines.append("ENV HF_ENDPOINT=https://hf-mirror.com")
    if "transformers-cache" in svc.defects:
        lines.append("ENV TRANSFORMERS_CACHE=/models/cache")
    else:
        lines.append("ENV HF_HOME=/models/hf")
    if rng.random() < 0.5 and "apt-no-clean" not in svc.defects:
        lines += [_heredoc_apt(apt)]
    else:
        lines += [_apt(rng, apt, clean="apt-no-clean" not in svc.defects)]
    lines += ["RUN python3 -m venv /opt/venv", "WORKDIR /app", "", "FROM base AS deps",
              "RUN --mount=type=cache,target=/root/.cache/pip \\", f"    {torch_install}",
              "COPY requirements.txt ./",
              "RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt", "",
              "FROM deps AS models", "COPY scripts/download_models.py ./scripts/",
              "RUN python3 <<'PY'", "import os", "from pathlib import Path",
              "Path(os.environ.get('HF_HOME', '/models/hf')).mkdir(parents=True, exist_ok=True)",
              "print('model cache ready')", "PY", "", "FROM deps AS runtime",
              "COPY --from=models /models /models", "COPY <<EOF /app/gunicorn.conf.py",
              "bind = '0.0.0.0:" + str(svc.port) + "'", "workers = 1", "timeout = 180", "EOF",
              "COPY app ./app"]
    if "env-inline-comment" in svc.defects:
        lines.append("ENV USE_HF_MIRROR=false  # comment")
    lines += [_user_block(svc), f"EXPOSE {svc.port}",
              "HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \\",
              f"  CMD python3 -c \"import urllib.request; urllib.request.urlopen('http://localhost:{svc.port}/health')\"",
              'CMD ["gunicorn", "-c", "/app/gunicorn.conf.py", "app.main:app"]']
    svc.stages = ["base", "deps", "models", "runtime"]
    svc.final_stage = "runtime"
    text = "\n".join(lines) + "\n"
    if "trailing-backslash" in svc.defects:
        text += "RUN echo done \\\n"
    return text


def _dockerfile_dev(svc: Service) -> str:
    if svc.kind == "node":
        return 'FROM node:20-alpine\nWORKDIR /app\nCOPY . .\nRUN npm install\nCMD ["npm", "run", "dev"]\n'
    return _dedent(f"""
        FROM python:3.12-slim
        WORKDIR /app
        COPY . .
        RUN pip install -r requirements.txt -r requirements-dev.txt || pip install -e .
        CMD ["uvicorn", "app.main:app", "--reload", "--host", "0.0.0.0", "--port", "{svc.port}"]
        """)


def _py_source_files(rng: random.Random, svc: Service, tree: Tree) -> None:
    d = svc.dir
    routes = rng.sample(["health", "items", "users", "jobs", "audio", "admin", "search", "events", "files"],
                        rng.randint(2, 5))
    tree.add(f"{d}/app/__init__.py", f'"""{svc.name}."""\n__version__ = "0.1.0"\n', "source")
    main = _dedent(f'''
        """Entry point of {svc.name}."""
        from fastapi import FastAPI

        from app.config import settings
        @IMPORTS@

        app = FastAPI(title="{svc.name}", version="0.1.0")
        @INCLUDES@


        @app.get("/health")
        def health() -> dict:
            return {{"status": "ok", "service": settings.service_name}}
        ''')
    main = main.replace("@IMPORTS@", "\n".join(f"from app.routes import {r}" for r in routes))
    main = main.replace("@INCLUDES@", "\n".join(f"app.include_router({r}.router)" for r in routes))
    tree.add(f"{d}/app/main.py", main, "source")
    tree.add(f"{d}/app/config.py", _dedent(f'''
        """Settings from the environment."""
        from pydantic_settings import BaseSettings


        class Settings(BaseSettings):
            service_name: str = "{svc.name}"
            port: int = {svc.port}
            database_url: str = "sqlite:///./local.db"
            log_level: str = "info"


        settings = Settings()
        '''), "source")
    tree.add(f"{d}/app/routes/__init__.py", "", "source")
    for route in routes:
        steps = range(rng.randint(3, 25))
        body = "\n".join(f"    # step {i}: validate, load, transform, respond" for i in steps)
        tree.add(f"{d}/app/routes/{route}.py", _dedent(f'''
            """Routes for /{route}."""
            from fastapi import APIRouter

            router = APIRouter(prefix="/{route}", tags=["{route}"])


            @router.get("/")
            def list_{route}() -> list[dict]:
            @BODY@
                return []
            ''').replace("@BODY@", body), "source")
    layers = ["storage", "queue", "cache", "audit", "mailer", "billing", "tokens"]
    for name in rng.sample(layers, rng.randint(1, 4)):
        tree.add(f"{d}/app/services/{name}.py",
                 f'"""{name} service layer."""\n\n\ndef run() -> None:\n    pass\n',
                 "source")
    tree.add(f"{d}/app/models.py", '"""Data models."""\nfrom pydantic import BaseModel\n\n\n'
             "class Item(BaseModel):\n    id: int\n    name: str\n", "source")
    if svc.gpu:
        tree.add(f"{d}/app/inference.py", _dedent('''
            """Model loading and inference (weights are baked into the image under HF_HOME)."""
            import os

            import torch

            DEVICE = os.environ.get("DEVICE", "cuda" if torch.cuda.is_available() else "cpu")


            def load():
                return None
            '''), "source")
        tree.add(f"{d}/scripts/download_models.py", '"""Fetch model weights at build time."""\n', "source")
    tree.add(f"{d}/tests/__init__.py", "", "source")
    for route in routes[: rng.randint(1, len(routes))]:
        tree.add(f"{d}/tests/test_{route}.py",
                 f"def test_{route}_list(client):\n    assert client.get('/{route}/').status_code == 200\n",
                 "source")
    tree.add(f"{d}/tests/conftest.py", "import pytest\n\n\n@pytest.fixture\ndef client():\n    ...\n",
             "source")
    if rng.random() < 0.35:
        # a non-nginx .conf: discovery has to sniff it and let it go
        tree.add(f"{d}/logging.conf", "[loggers]\nkeys=root\n\n[handlers]\nkeys=console\n\n"
                 "[formatters]\nkeys=plain\n\n[logger_root]\nlevel=INFO\nhandlers=console\n", "source")
    if rng.random() < 0.25:
        tree.add(f"{d}/supervisord.conf", "[supervisord]\nnodaemon=true\n\n[program:app]\n"
                 "command=uvicorn app.main:app\nautorestart=true\n", "source")


def _node_source_files(rng: random.Random, svc: Service, tree: Tree) -> None:
    d = svc.dir
    routes = rng.sample(["health", "users", "lessons", "audio", "auth", "admin", "stats", "uploads"],
                        rng.randint(2, 5))
    imports = "\n".join(f"import {r} from './routes/{r}.js';" for r in routes)
    uses = "\n".join(f"app.use('/{r}', {r});" for r in routes)
    tree.add(f"{d}/src/index.ts", f"import express from 'express';\n{imports}\n\nconst app = express();\n"
             f"{uses}\napp.listen(Number(process.env.PORT ?? {svc.port}));\n", "source")
    for route in routes:
        tree.add(f"{d}/src/routes/{route}.ts",
                 "import { Router } from 'express';\n\nconst router = Router();\n"
                 "router.get('/', (_req, res) => res.json([]));\n\nexport default router;\n", "source")
    for lib in rng.sample(["db", "logger", "cache", "queue", "auth", "config"], rng.randint(2, 4)):
        tree.add(f"{d}/src/lib/{lib}.ts", f"// {lib} helpers\nexport const {lib} = {{}};\n", "source")
    for route in routes[: rng.randint(1, len(routes))]:
        tree.add(f"{d}/test/{route}.test.ts",
                 f"import {{ test }} from 'vitest';\n\ntest('{route}', () => {{}});\n",
                 "source")
    for component in rng.sample(["Header", "Footer", "Player", "Upload", "Table", "Chart", "Login"],
                                rng.randint(1, 5)):
        tree.add(f"{d}/src/components/{component}.tsx",
                 f"export function {component}() {{\n  return null;\n}}\n", "source")
    tree.add(f"{d}/tsconfig.json", json.dumps({"compilerOptions": {"target": "ES2022", "module": "NodeNext",
                                                                  "outDir": "dist", "strict": True}},
                                                 indent=2) + "\n", "source")
    tree.add(f"{d}/.eslintrc.json", '{\n  "root": true,\n  "extends": ["eslint:recommended"]\n}\n', "source")
    tree.add(f"{d}/public/robots.txt", "User-agent: *\nDisallow:\n", "source")
    if rng.random() < 0.3:
        # an installed node_modules folder: discovery must skip it (it is counted as files, not read)
        tree.add(f"{d}/node_modules/left-pad/package.json", '{"name": "left-pad", "version": "1.3.0"}\n',
                 "source")
        tree.add(f"{d}/node_modules/left-pad/index.js", "module.exports = (s) => s;\n", "source")


def generate_service(tree: Tree, svc: Service, seed: int) -> None:
    rng = random.Random(f"{seed}:service:{svc.index}")
    d = svc.dir
    kind = svc.kind
    if kind == "node":
        pj = _package_json(rng, svc)
        tree.add(f"{d}/package.json", pj, "packagejson")
        tree.add(f"{d}/package-lock.json", _package_lock(svc, pj), "other")
        tree.add(f"{d}/Dockerfile", _dockerfile_node(rng, svc, rng.choice(NODE_BASES)), "dockerfile")
        svc.command = ["npm", "run", "migrate"] if '"migrate"' in pj else []
        _node_source_files(rng, svc, tree)
    else:
        reqs = _py_requirements(rng, svc)
        dev = rng.sample(PY_DEV, rng.randint(2, 5))
        if kind == "py-uv":
            tree.add(f"{d}/pyproject.toml", _pyproject_uv(svc, reqs, dev), "pyproject")
            tree.add(f"{d}/uv.lock", _uv_lock(rng, svc, reqs), "uvlock")
            tree.add(f"{d}/Dockerfile", _dockerfile_py_uv(rng, svc, rng.choice(PY_BASES)), "dockerfile")
        elif kind == "py-poetry":
            tree.add(f"{d}/pyproject.toml", _pyproject_poetry(svc, reqs, dev), "pyproject")
            tree.add(f"{d}/poetry.lock", _poetry_lock(rng, reqs), "other")
            tree.add(f"{d}/Dockerfile", _dockerfile_py_poetry(rng, svc, rng.choice(PY_BASES)), "dockerfile")
        else:
            tree.add(f"{d}/requirements.txt", _requirements_txt(rng, reqs, f"{svc.name} runtime", svc.gpu),
                     "requirements")
            if rng.random() < 0.5:
                tree.add(f"{d}/requirements-dev.txt", "-r requirements.txt\n" + "\n".join(
                    f"{n}=={v}" for n, v in dev) + "\n", "requirements")
            if svc.gpu:
                tree.add(f"{d}/Dockerfile", _dockerfile_gpu(rng, svc), "dockerfile")
            else:
                base = "python:latest" if "latest-base" in svc.defects else rng.choice(PY_BASES)
                tree.add(f"{d}/Dockerfile", _dockerfile_py_pip(rng, svc, base), "dockerfile")
        _py_source_files(rng, svc, tree)
    if rng.random() < 0.2:
        tree.add(f"{d}/Dockerfile.dev", _dockerfile_dev(svc), "dockerfile")
    tree.add(f"{d}/.dockerignore", _dockerignore(rng, svc), "dockerignore")
    tree.add(f"{d}/.env.example", _service_env_example(rng, svc), "env")
    tree.add(f"{d}/README.md", f"# {svc.name}\n\nKind: {kind}. Port {svc.port}.\n\n"
             "## Run\n\n```sh\ndocker compose up --build\n```\n", "source")
    dockerfile = f"{d}/Dockerfile"
    needles = {
        "env-inline-comment": "ENV USE_HF_MIRROR", "hf-endpoint-runtime": "HF_ENDPOINT",
        "transformers-cache": "TRANSFORMERS_CACHE", "copy-before-deps": "COPY . .",
        "apt-no-clean": "apt-get install -y ", "latest-base": "latest", "missing-espeak": "apt-get install",
        "torch-cpu-wheel": "pip install torch", "trailing-backslash": "RUN echo done",
        "cache-mount-mismatch": "/tmp/uv-cache", "root-user": "TODO: drop root",
    }
    for defect in sorted(svc.defects):
        if defect == "dockerignore-thin":
            tree.defect(defect, f"{d}/.dockerignore", "*.log")
        elif defect == "weak-secret":
            tree.defect(defect, f"{d}/.env.example", "JWT_SECRET=changeme")
        elif defect == "latest-base" and kind == "node":
            tree.defect(defect, dockerfile, "node:alpine")
        elif defect == "missing-espeak":
            path = f"{d}/requirements.txt"
            needle = "kokoro" if kind == "gpu-tts" else "phonemizer"
            tree.defect(defect, path if path in tree.files else dockerfile, needle)
        elif defect in needles:
            tree.defect(defect, dockerfile, needles[defect])


# --- per-stack files -----------------------------------------------------------------------------


def _possible_defects(kind: str) -> list[str]:
    common = ["dockerignore-thin", "weak-secret", "root-user", "latest-base"]
    if kind == "py-pip":
        return [*common, "env-inline-comment", "copy-before-deps", "apt-no-clean", "missing-espeak"]
    if kind == "py-uv":
        return [*common[:3], "cache-mount-mismatch"]
    if kind == "py-poetry":
        return common[:3]
    if kind == "node":
        return common
    return [*common, "env-inline-comment", "hf-endpoint-runtime", "transformers-cache", "torch-cpu-wheel",
            "trailing-backslash", "apt-no-clean"] + (["missing-espeak"] if kind == "gpu-tts" else [])


def _compose(rng: random.Random, stack: str, services: list[Service], defects: set[str],
             base: str) -> tuple[str, str | None]:
    """The main compose file and (for stacks with GPU services) a GPU override file."""
    lines = [f"name: {stack}", "", "x-logging: &default-logging", "  driver: json-file", "  options:",
             '    max-size: "10m"', '    max-file: "3"', "", "services:"]
    gpu_override: list[str] = []
    # a migration job that builds the first stage of a multi-stage Python image (no alembic there)
    first_python = next((s for s in services if s.kind in ("py-uv", "py-poetry")), None)
    for svc in services:
        context = svc.dir[len(base) + 1:] if svc.dir.startswith(base + "/") else "../../" + svc.dir
        target = svc.final_stage
        if "missing-target" in defects and svc is services[0]:
            target = "production"
        shown = context if context.startswith("..") else f"./{context}"
        lines += [f"  {svc.name}:", "    build:", f"      context: {shown}", "      dockerfile: Dockerfile",
                  f"      target: {target}"]
        if svc.kind.startswith("gpu") or rng.random() < 0.3:
            lines += ["      args:", '        BUILD_VERSION: "${BUILD_VERSION:-dev}"']
        if rng.random() < 0.3:
            lines += ["      cache_from:",
                      f"        - type=registry,ref=registry.example.com/{stack}/{svc.name}:cache"]
        lines.append(f"    image: registry.example.com/{stack}/{svc.name}:${{TAG:-latest}}")
        if "env-file-missing" in defects and svc is services[-1]:
            lines += ["    env_file:", f"      - ./{context}/.env.production"]
        elif rng.random() < 0.5:
            lines += ["    env_file:", f"      - path: ./{context}/.env", "        required: false"]
        else:
            lines += [f"    env_file: ./{context}/.env.example"] if not context.startswith("..") else [
                "    env_file:", f"      - {context}/.env.example"]
        lines += ["    environment:", "      LOG_LEVEL: ${LOG_LEVEL:-info}", f"      PORT: \"{svc.port}\""]
        if svc.gpu:
            lines += ["      NVIDIA_VISIBLE_DEVICES: ${NVIDIA_VISIBLE_DEVICES:-all}",
                      "      HF_HOME: /models/hf"]
        if "env-missing-var" in defects and svc is services[0]:
            lines.append("      SENTRY_DSN: ${SENTRY_DSN_MISSING}")
        if rng.random() < 0.4:
            lines += ["    ports:", f'      - "127.0.0.1:{10000 + svc.index}:{svc.port}"']
        else:
            lines += ["    expose:", f'      - "{svc.port}"']
        lines += ["    depends_on:", "      postgres:", "        condition: service_healthy"]
        if svc.gpu:
            block = ["    deploy:", "      resources:", "        reservations:", "          devices:",
                     "            - driver: nvidia"]
            block += ["              count: 1"] if rng.random() < 0.6 else ['              device_ids: ["0"]']
            block += ["              capabilities: [gpu]"]
            if rng.random() < 0.5:
                gpu_override += [f"  {svc.name}:", *block, "    volumes:", "      - models:/models"]
            else:
                lines += [*block, "    volumes:", "      - models:/models"]
        lines += ["    restart: unless-stopped", "    logging: *default-logging"]
        if svc.kind != "node" and rng.random() < 0.5:
            lines += ["    healthcheck:", f'      test: ["CMD", "curl", "-fsS", "http://localhost:{svc.port}/health"]',
                      "      interval: 30s", "      timeout: 5s", "      retries: 3"]
    if "target-without-tool" in defects and first_python is not None:
        folder = first_python.dir
        ctx = folder[len(base) + 1:] if folder.startswith(base + "/") else "../../" + folder
        lines += ["  migrate:", "    build:",
                  f"      context: {'./' if not ctx.startswith('..') else ''}{ctx}",
                  f"      target: {first_python.stages[0]}", '    command: ["alembic", "upgrade", "head"]',
                  "    depends_on: [postgres]"]
    lines += ["  nginx:", "    image: nginx:1.27-alpine", "    ports:", '      - "80:80"',
              '      - "443:443"',
              "    volumes:", "      - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro",
              "      - ./nginx/conf.d:/etc/nginx/conf.d:ro",
              "      - ./nginx/templates:/etc/nginx/templates:ro",
              "    environment:", "      NGINX_HOST: ${NGINX_HOST:-localhost}",
              "      NGINX_ENVSUBST_OUTPUT_DIR: /etc/nginx/conf.d",
              "    depends_on:"]
    lines += [f"      - {s.name}" for s in services]
    lines += ["  postgres:", "    image: postgres:16.6-alpine", "    environment:",
              "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}",
              "      POSTGRES_DB: app",
              "    volumes:", "      - pgdata:/var/lib/postgresql/data", "    healthcheck:",
              '      test: ["CMD-SHELL", "pg_isready -U postgres"]', "      interval: 10s"]
    if "duplicate-key" in defects:
        lines += ["    restart: always", "    restart: unless-stopped"]
    lines += ["  redis:", "    image: redis:7.4-alpine",
              '    command: ["redis-server", "--appendonly", "yes"]',
              "", "volumes:", "  pgdata:", "  models:"]
    override = None
    if gpu_override:
        override = "\n".join(["# GPU hosts: docker compose -f compose.yaml -f compose.gpu.yaml up -d",
                              "services:", *gpu_override]) + "\n"
    return "\n".join(lines) + "\n", override


def _nginx(rng: random.Random, stack: str, services: list[Service], defects: set[str]) -> dict[str, str]:
    files: dict[str, str] = {}
    upstreams = []
    for svc in services:
        host = "127.0.0.1" if "nginx-loopback-upstream" in defects and svc is services[0] else svc.name
        upstreams.append(f"    upstream {svc.name.replace('-', '_')} {{\n        server {host}:{svc.port};\n"
                         "        keepalive 16;\n    }\n")
    files["nginx/nginx.conf"] = (
        "user nginx;\nworker_processes auto;\npid /var/run/nginx.pid;\n\n"
        "events {\n    worker_connections 1024;\n}\n\n"
        "http {\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
        "    sendfile on;\n    keepalive_timeout 65;\n    server_tokens off;\n"
        "    log_format main '$remote_addr - $remote_user [$time_local] \"$request\" $status';\n"
        "    access_log /var/log/nginx/access.log main;\n"
        "    limit_req_zone $binary_remote_addr zone=api:10m rate=10r/s;\n\n"
        + "\n".join(upstreams)
        + "\n    include /etc/nginx/conf.d/*.conf;\n}\n")
    files["nginx/conf.d/gzip.conf"] = ("gzip on;\ngzip_comp_level 5;\ngzip_min_length 256;\n"
                                       "gzip_types text/plain text/css application/json "
                                       "application/javascript;\n")
    locations = []
    for svc in services:
        timeout = "" if ("proxy-timeout-short" in defects and svc.kind == "gpu-tts") else (
            "        proxy_read_timeout 180s;\n" if svc.gpu else "")
        locations.append(
            f"    location /{svc.name}/ {{\n        limit_req zone=api burst=20 nodelay;\n"
            f"        proxy_pass http://{svc.name.replace('-', '_')}/;\n        proxy_http_version 1.1;\n"
            "        proxy_set_header Connection \"\";\n        proxy_set_header Host $host;\n"
            "        proxy_set_header X-Real-IP $remote_addr;\n"
            "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "        proxy_set_header X-Forwarded-Proto $scheme;\n"
            f"{timeout}        client_max_body_size {rng.choice(['1m', '10m', '50m'])};\n    }}\n")
    files["nginx/conf.d/app.conf"] = (
        "server {\n    listen 80;\n    server_name _;\n\n"
        "    location = /healthz {\n        return 200 'ok';\n    }\n\n"
        + "\n".join(locations) + "}\n")
    if rng.random() < 0.5:
        files["nginx/conf.d/security-headers.conf"] = (
            "add_header X-Content-Type-Options nosniff always;\nadd_header X-Frame-Options DENY always;\n"
            "add_header Referrer-Policy strict-origin-when-cross-origin always;\n")
    files["nginx/templates/default.conf.template"] = (
        "server {\n    listen 443 ssl;\n    http2 on;\n    server_name ${NGINX_HOST};\n"
        "    ssl_certificate /etc/nginx/certs/${NGINX_HOST}/fullchain.pem;\n"
        "    ssl_certificate_key /etc/nginx/certs/${NGINX_HOST}/privkey.pem;\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n\n    location / {\n"
        f"        proxy_pass http://{services[0].name.replace('-', '_')};\n"
        "        proxy_set_header Host $host;\n"
        "    }\n}\n")
    return files


def generate_stack(tree: Tree, stack_index: int, services: list[Service], base: str, seed: int,
                   defect_rate: float) -> None:
    rng = random.Random(f"{seed}:stack:{stack_index}")
    stack = base.rsplit("/", 1)[-1]
    defects: set[str] = set()
    for defect in ["missing-target", "target-without-tool", "nginx-loopback-upstream", "env-missing-var",
                   "env-file-missing", "proxy-timeout-short", "duplicate-key"]:
        if rng.random() < defect_rate / 2:
            defects.add(defect)
    compose, override = _compose(rng, stack, services, defects, base)
    tree.add(f"{base}/compose.yaml", compose, "compose")
    if override:
        tree.add(f"{base}/compose.gpu.yaml", override, "compose")
    env_lines = ["# docker compose reads this as .env; copy it and fill in the blanks", "TAG=latest",
                 "LOG_LEVEL=info", "NGINX_HOST=localhost", "POSTGRES_PASSWORD=", "BUILD_VERSION=dev",
                 "NVIDIA_VISIBLE_DEVICES=all"]
    tree.add(f"{base}/.env.example", "\n".join(env_lines) + "\n", "env")
    for path, text in _nginx(rng, stack, services, defects).items():
        tree.add(f"{base}/{path}", text, "nginx")
    tree.add(f"{base}/README.md", f"# {stack}\n\nServices: " + ", ".join(s.name for s in services) + "\n",
             "source")
    needles = {"missing-target": ("compose.yaml", "target: production"),
               "target-without-tool": ("compose.yaml", "  migrate:"),
               "nginx-loopback-upstream": ("nginx/nginx.conf", "127.0.0.1"),
               "env-missing-var": ("compose.yaml", "SENTRY_DSN_MISSING"),
               "env-file-missing": ("compose.yaml", ".env.production"),
               "proxy-timeout-short": ("nginx/conf.d/app.conf", "-tts"),
               "duplicate-key": ("compose.yaml", "restart: unless-stopped\n  redis")}
    for defect in sorted(defects):
        path, needle = needles[defect]
        if defect == "proxy-timeout-short" and not any(s.kind == "gpu-tts" for s in services):
            continue
        if defect == "target-without-tool" and "  migrate:" not in tree.files[f"{base}/{path}"]:
            continue
        tree.defect(defect, f"{base}/{path}", needle)


# --- the whole repository ------------------------------------------------------------------------


def _root_files(tree: Tree, gpu_driver: bool) -> None:
    tree.add("README.md", "", "source")  # written at the end, when the stacks are known
    tree.add(".gitignore", ".env\n.venv/\nnode_modules/\n__pycache__/\n*.log\ndist/\n", "source")
    tree.add("Makefile", "up:\n\tdocker compose -f stacks/stack-000/compose.yaml up -d\n\n"
             "lint:\n\tdockaudit .\n", "source")
    tree.add(".github/workflows/ci.yml", "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
             "    steps:\n      - uses: actions/checkout@v4\n      - run: make lint\n", "source")
    tree.add(".github/workflows/images.yml", "name: images\non:\n  push:\n    tags: ['v*']\njobs:\n  build:\n"
             "    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n"
             "      - uses: docker/build-push-action@v6\n", "source")
    tree.add("scripts/deploy.sh", "#!/bin/sh\nset -eu\nfor f in stacks/*/compose.yaml; do\n"
             "  docker compose -f \"$f\" pull\ndone\n", "source")
    if gpu_driver:
        tree.add(".dockaudit.toml", '# servers these stacks deploy to\n[gpu]\ndriver = "525.147.05"\n'
                 'devices = ["Tesla P40", "NVIDIA A10"]\n', "config")


def _noise(tree: Tree, count: int, seed: int) -> None:
    """Plain documentation files to bring the tree to the requested size."""
    rng = random.Random(f"{seed}:noise")
    topics = ["deploy", "gpu", "nginx", "onboarding", "incident", "runbook", "adr", "security", "release"]
    for i in range(count):
        topic = rng.choice(topics)
        paragraphs = "\n\n".join(f"Section {j}: notes about {topic}." for j in range(rng.randint(2, 12)))
        tree.add(f"docs/{topic}/{topic}-{i:04d}.md", f"# {topic.title()} note {i}\n\n{paragraphs}\n",
                 "source")


def build(files: int | None = None, services: int | None = None, seed: int = 1, defect_rate: float = 0.15,
          stack_size: tuple[int, int] = (2, 6), dockaudit_config: bool = True) -> Tree:
    """The whole tree in memory: ``services`` services, or as many as fit in ``files`` files.

    With ``files``, stacks are added while they fit; the rest is filled with documentation, so the
    tree has exactly ``files`` files (a tree too small for one whole service gets at least one).
    """
    if files is None and services is None:
        files = 2000
    tree = Tree()
    layout_rng = random.Random(f"{seed}:layout")
    planned: list[tuple[str, list[Service]]] = []
    index = 0
    stack_index = 0
    _root_files(tree, dockaudit_config)
    budget = None if files is None else files - 1  # the manifest is the last file
    while True:
        size = layout_rng.randint(*stack_size)
        if services is not None:
            size = min(size, services - index)
            if size <= 0:
                break
        if budget is not None:
            size = max(1, min(size, (budget - len(tree)) // 25))  # about 25 files per service
        shared = layout_rng.random() < 0.3
        stack = f"stack-{stack_index:03d}"
        base = f"stacks/{stack}"
        group: list[Service] = []
        mark = tree.mark()
        for _ in range(size):
            srng = random.Random(f"{seed}:plan:{index}")
            kind = _pick_weighted(srng, SERVICE_KINDS)
            name = f"{srng.choice(DOMAINS)}-{srng.choice(ROLES[kind])}-{index:03d}"
            folder = f"services/{name}" if shared else f"{base}/{name}"
            port = 3000 if kind == "node" else 8000 + index % 1000
            svc = Service(index=index, name=name, kind=kind, port=port,
                          stack=stack, dir=folder, gpu=kind.startswith("gpu"))
            svc.defects = {d for d in _possible_defects(kind) if srng.random() < defect_rate / 3}
            generate_service(tree, svc, seed)
            group.append(svc)
            index += 1
        generate_stack(tree, stack_index, group, base, seed, defect_rate)
        if budget is not None and len(tree) > budget:
            if planned:
                tree.revert(mark)  # this stack does not fit: fill the rest with documentation
                break
            _trim(tree, len(tree) - budget)  # the only stack: drop plain source files instead
        planned.append((stack, group))
        stack_index += 1
        if budget is not None and len(tree) >= 0.9 * budget:
            break  # about a tenth of a real monorepo is docs and scripts
    tree.files["README.md"] = ("# acme platform\n\nA monorepo of services deployed with docker compose.\n\n"
                               + "\n".join(f"- `stacks/{s}`" for s, _ in planned) + "\n")
    if budget is not None and len(tree) < budget:
        _noise(tree, budget - len(tree), seed)
    counts: dict[str, int] = {}
    for kind in tree.kinds.values():
        counts[kind] = counts.get(kind, 0) + 1
    counts["source"] = counts.get("source", 0) + 1  # the manifest itself
    manifest = {
        "generator": "bench/generate.py",
        "seed": seed,
        "services": sum(len(g) for _, g in planned),
        "stacks": len(planned),
        "files": len(tree) + 1,
        "kinds": dict(sorted(counts.items())),
        "service_kinds": {k: sum(1 for _, g in planned for s in g if s.kind == k) for k in SERVICE_KINDS},
        "defects": tree.defects,
    }
    tree.add(MANIFEST, json.dumps(manifest, indent=2) + "\n", "source")
    return tree


#: plain files that may go when a tiny tree must shrink, most expendable first
_TRIM_ORDER = ("/node_modules/", "/tests/test_", "/test/", "/public/", "/src/lib/", ".eslintrc.json",
               "logging.conf", "supervisord.conf", "/tests/", "/routes/", "/README.md", ".github/",
               "scripts/deploy.sh", "Makefile")


def _trim(tree: Tree, count: int) -> None:
    for pattern in _TRIM_ORDER:
        for path in [p for p in tree.files if pattern in p and tree.kinds[p] == "source"]:
            if count <= 0:
                return
            del tree.files[path]
            del tree.kinds[path]
            count -= 1


def write(tree: Tree, out: Path, force: bool = False) -> None:
    if out.exists() and any(out.iterdir()):
        if not force:
            raise SystemExit(f"generate: {out} is not empty (use --force to replace an earlier tree)")
        if not (out / MANIFEST).is_file():
            raise SystemExit(f"generate: refusing to delete {out}: it has no {MANIFEST}, so it is not ours")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    for path, text in tree.files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write (created; must be empty unless --force)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--files", type=int, help="about this many files in total (default 2000)")
    size.add_argument("--services", type=int, help="exactly this many services (no padding)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--defect-rate", type=float, default=0.15,
                        help="chance of planting defects per service / stack (default 0.15)")
    parser.add_argument("--no-config", action="store_true", help="do not write .dockaudit.toml ([gpu] fleet)")
    parser.add_argument("--force", action="store_true", help="replace an earlier generated tree in OUT")
    parser.add_argument("--quiet", "-q", action="store_true")
    args = parser.parse_args(argv)
    if args.files is not None and args.files < 10:
        parser.error("--files must be at least 10")
    tree = build(files=args.files, services=args.services, seed=args.seed, defect_rate=args.defect_rate,
                 dockaudit_config=not args.no_config)
    write(tree, args.out, force=args.force)
    if not args.quiet:
        manifest = json.loads(tree.files[MANIFEST])
        config = sum(v for k, v in manifest["kinds"].items() if k not in ("source", "other"))
        sys.stdout.write(
            f"generated {manifest['files']} files in {args.out}: {manifest['services']} services in "
            f"{manifest['stacks']} stacks, {config} config files "
            f"({100 * config / manifest['files']:.0f}%), {len(manifest['defects'])} planted defects\n")
        sys.stdout.write("  kinds: " + ", ".join(f"{k}={v}" for k, v in manifest["kinds"].items()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

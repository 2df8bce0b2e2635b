"""Walk a root once and classify the files dockaudit reads.

Symlinked directories are never followed; a symlinked file is read only when it resolves inside
the root. Tool and dependency folders (``.git``, ``node_modules``, virtual environments, caches)
are not descended into, but their presence is recorded, because build-context rules need to know
that they exist.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from dockaudit.globs import compile_globs

#: folders never descended into; their presence is still recorded in ``Tree.skipped``
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", ".idea", ".vscode",
    ".next", ".nuxt", ".cache", ".terraform", "site-packages", ".eggs", ".gradle", ".dockaudit-cache",
})

_DOCKERFILE = re.compile(
    r"(?i)^(?:dockerfile|containerfile)(?:[.-][\w.-]+)?$|^[\w.-]+\.(?:dockerfile|containerfile)$"
)
_COMPOSE = re.compile(r"(?i)^(?:docker-)?compose(?:[.-][\w.-]+)?\.ya?ml$")
_ENV = re.compile(
    r"^(?:\.env(?:\.[\w.-]+)?|[\w.-]+\.env(?:\.[\w.-]+)?|env\.(?:example|sample|template|dist))$"
)
_REQUIREMENTS = re.compile(r"(?i)^(?:[\w.-]*requirements[\w.-]*|constraints[\w.-]*)\.(?:txt|in)$")
_NGINX_NAME = re.compile(
    r"(?i)^(?:nginx[\w.-]*\.conf(?:\.[\w-]+)*"
    r"|[\w.-]+\.conf\.(?:template|example|sample|tmpl|j2)"
    r"|[\w.-]+\.nginx(?:\.conf)?)$"
)
_NGINX_DIRS = frozenset({"nginx", "conf.d", "sites-available", "sites-enabled", "snippets", "templates"})
_NGINX_SNIFF = re.compile(
    r"(?m)^[ \t]*(?:server|upstream|http|events)[ \t]*\{"
    r"|^[ \t]*location[ \t]+[^;{\n]*\{"
    r"|^[ \t]*(?:proxy_pass|server_name|fastcgi_pass|uwsgi_pass)[ \t]+[^;\n]*;"
)

#: ``Dockerfile.<suffix>`` names that are code, documents or templates rendered before a build
_NOT_DOCKERFILE_SUFFIXES = (
    ".md", ".rst", ".txt", ".json", ".yml", ".yaml", ".toml", ".sh", ".ps1", ".py", ".go", ".rs", ".js",
    ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".c", ".h", ".cc", ".cpp", ".rb", ".php", ".pl",
    ".lua", ".cs", ".html", ".xml", ".ini", ".cfg", ".lock", ".bak", ".orig", ".rej", ".patch", ".diff",
    ".swp", ".tmp", ".log", ".snap", ".golden", ".template", ".tmpl", ".tpl", ".j2", ".jinja",
    ".jinja2", ".erb", ".mustache", ".hbs", ".in", ".m4",
)

#: ``.env.<suffix>`` files that are something else: patches, backups, code, documents
_NOT_ENV_SUFFIXES = (".patch", ".diff", ".orig", ".rej", ".bak", ".swp", ".tmp", ".old", ".sh", ".py",
                     ".js", ".ts", ".mjs", ".cjs", ".md", ".json", ".yml", ".yaml", ".toml", ".txt",
                     ".gpg", ".enc", ".age", ".vault", ".lock", ".d")

KINDS = ("dockerfile", "compose", "env", "nginx", "dockerignore", "requirements", "pyproject",
         "uvlock", "packagejson")


def classify(relpath: str) -> str | None:
    """The kind of a file from its path alone (``nginx`` candidates may be refined by sniffing)."""
    name = relpath.rsplit("/", 1)[-1]
    lower = name.lower()
    if lower == ".dockerignore" or lower.endswith(".dockerignore"):
        return "dockerignore"
    if _DOCKERFILE.match(name) and not lower.endswith(_NOT_DOCKERFILE_SUFFIXES):
        return "dockerfile"
    if _COMPOSE.match(name):
        return "compose"
    if name == "pyproject.toml":
        return "pyproject"
    if name == "uv.lock":
        return "uvlock"
    if name == "package.json":
        return "packagejson"
    if _REQUIREMENTS.match(name):
        return "requirements"
    parts = relpath.split("/")
    if len(parts) > 1 and parts[-2] == "requirements" and lower.endswith((".txt", ".in")):
        return "requirements"
    if _ENV.match(name) and name != ".envrc" and not lower.endswith(_NOT_ENV_SUFFIXES):
        return "env"
    if lower.endswith((".j2", ".jinja", ".jinja2", ".erb", ".mustache", ".hbs")):
        return None  # rendered by another tool before nginx sees it
    if _NGINX_NAME.match(name):
        return "nginx"
    if lower.endswith((".conf", ".conf.template")) and any(p.lower().startswith(("nginx", "openresty"))
                                                          for p in parts[:-1]):
        return "nginx"
    if lower.endswith(".conf.template") and any(p.lower() in _NGINX_DIRS for p in parts[:-1]):
        return "nginx?"
    if lower.endswith(".conf"):
        return "nginx?"
    return None


@dataclass
class Tree:
    """Everything discovery saw under the root, by root-relative POSIX path."""

    files: dict[str, int] = field(default_factory=dict)   # path -> size in bytes
    dirs: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)        # tool/dependency folders not walked
    symlinks_out: list[str] = field(default_factory=list)  # links pointing outside the root
    classified: dict[str, str] = field(default_factory=dict)  # path -> kind

    def exists(self, relpath: str) -> bool:
        relpath = relpath.strip("/") or "."
        return relpath in self.files or relpath in self.dirs or relpath in self.skipped or relpath == "."

    def is_dir(self, relpath: str) -> bool:
        relpath = relpath.strip("/") or "."
        return relpath == "." or relpath in self.dirs or relpath in self.skipped

    #: folder -> the files below it, in ``files`` order; built on first use, rebuilt when
    #: ``files`` has grown (the audit adds the config file after the walk)
    _below: dict[str, list[str]] | None = field(default=None, init=False, repr=False, compare=False)
    _below_count: int = field(default=-1, init=False, repr=False, compare=False)

    def under(self, folder: str) -> list[str]:
        """Files below ``folder`` ('.' for all)."""
        if folder in (".", ""):
            return list(self.files)
        if self._below is None or self._below_count != len(self.files):
            below: dict[str, list[str]] = {}
            for path in self.files:
                slash = path.find("/")
                while slash != -1:
                    below.setdefault(path[:slash], []).append(path)
                    slash = path.find("/", slash + 1)
            self._below, self._below_count = below, len(self.files)
        return list(self._below.get(folder.rstrip("/"), ()))

    def size_under(self, folder: str) -> int:
        return sum(self.files[p] for p in self.under(folder))


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def walk(root: Path, excludes: tuple[str, ...] = (), only: str | None = None) -> Tree:
    """Walk ``root`` once; ``only`` limits classification to one file (``dockaudit path/Dockerfile``)."""
    tree = Tree()
    excluded = compile_globs(excludes)
    real_root = os.path.realpath(root)
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        abs_dir, rel_dir = stack.pop()
        try:
            entries = list(os.scandir(abs_dir))
        except OSError:
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if excluded(rel):
                continue
            try:
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    inside = target == real_root or target.startswith(real_root + os.sep)
                    if not inside:
                        tree.symlinks_out.append(rel)
                        continue
                    if os.path.isdir(target):
                        tree.dirs.add(rel)  # present, but never followed
                        continue
                    if not os.path.isfile(target):
                        continue
                    tree.files[rel] = os.path.getsize(target)
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name in SKIP_DIRS or _is_virtualenv(entry.path):
                        tree.skipped.add(rel)
                        continue
                    tree.dirs.add(rel)
                    stack.append((entry.path, rel))
                    continue
                elif entry.is_file(follow_symlinks=False):
                    tree.files[rel] = entry.stat(follow_symlinks=False).st_size
                else:
                    continue
            except OSError:
                continue
            if only is not None and rel != only:
                continue
            kind = classify(rel)
            if kind == "nginx?":
                kind = "nginx" if _sniff_nginx(entry.path) else None
            if kind is not None:
                tree.classified[rel] = kind
    return tree


def _sniff_nginx(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(65536)
    except OSError:
        return False
    return bool(_NGINX_SNIFF.search(head.decode("utf-8", "replace")))

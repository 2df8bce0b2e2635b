"""Rules about the build context: what ``docker build`` sends, and what ``COPY`` takes from it.

A *build* here is a Dockerfile together with the folder sent as its context: the ``build.context``
of each compose service (with its ``build.dockerfile``), and every Dockerfile no compose service
builds, with its own folder as the context (or, when its ``COPY`` sources only exist relative to a
parent folder, the nearest such parent: ``docker build -f docker/Dockerfile .``). Only the stages a
build really runs are read: the target (compose ``build.target``, else the last stage) and the
stages it depends on (``FROM``, ``COPY --from``, ``RUN --mount=from=``), as BuildKit skips the rest.

The helpers here (:func:`build_units`, :func:`built_stages`, :func:`copy_sources`,
:class:`ContextView`, :func:`gitignored`) are shared with :mod:`dockaudit.checks.models` and
:mod:`dockaudit.checks.base_images`.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockaudit.engine import rule
from dockaudit.findings import Finding, Related, Severity
from dockaudit.parse.dockerfile import expand, parse_heredoc_marker, variable_references
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.parse.compose import ComposeProject, Service
    from dockaudit.parse.dockerfile import Dockerfile, Instruction, Stage
    from dockaudit.parse.dockerignore import DockerIgnore
    from dockaudit.project import Project

_WILDCARD = re.compile(r"[*?\[]")
_REMOTE_SOURCE = re.compile(r"(?i)^(?:[a-z][a-z0-9+.-]*://|git@)")

#: folders whose content is usually produced by a build step before ``docker build`` runs
GENERATED_DIRS = ("dist", "build", ".next", "out", "target", "public/build", ".output", "release")

#: file extensions of model weights
MODEL_EXTENSIONS = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".ckpt", ".gguf", ".h5", ".tflite")
#: ``.bin`` is generic; count it as weights only from this size on
_BIN_MIN_BYTES = 10 * 1024 * 1024
#: a folder this large is reported when its name says it holds data, models or outputs
LARGE_FOLDER_BYTES = 50 * 1024 * 1024
#: any folder this large is reported whatever its name
HUGE_FOLDER_BYTES = 500 * 1024 * 1024
_DATA_DIR_NAMES = frozenset({
    "data", "dataset", "datasets", "model", "models", "checkpoints", "checkpoint", "weights",
    "pretrained_models", "pretrained", "output", "outputs", "results", "uploads", "backups", "backup",
    "wandb", "mlruns", "runs", "tmp", "temp", "cache", "storage", "media", "volumes", "ckpt", "ckpts",
})


#: Dockerfiles with these endings are rendered by a script before use, not built as they are
_TEMPLATE_SUFFIXES = (".template", ".tmpl", ".tpl", ".j2", ".jinja", ".jinja2", ".in", ".example", ".sample")
#: folders whose model files count as weights whatever their size
_MODEL_DIR_NAMES = frozenset({"models", "model", "checkpoints", "checkpoint", "weights", "pretrained_models",
                              "pretrained", "ckpt", "ckpts", "hf_cache", "huggingface"})
#: weights below other folders count only from this total size (test fixtures are small)
_WEIGHTS_MIN_BYTES = 5 * 1024 * 1024
_PLACEHOLDER_FILES = frozenset({".gitkeep", ".keep", ".gitignore", "readme", "readme.md", "readme.txt"})
_CODE_SUFFIXES = (".py", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".rb", ".php",
                  ".vue", ".svelte", ".c", ".h", ".cpp", ".cs", ".kt", ".swift")


# --- builds ----------------------------------------------------------------------------------


@dataclass
class BuildUnit:
    """One Dockerfile built with one context folder (root-relative), and how it is built."""

    dockerfile_path: str
    dockerfile: Dockerfile
    context: str
    #: the stages the builds produce as images (compose targets, or the last stage)
    targets: list[Stage]
    services: list[tuple[ComposeProject, Service]] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    #: built by no compose service: the context is a guess
    standalone: bool = False
    _copies: list | None = field(default=None, repr=False)

    @property
    def context_label(self) -> str:
        return "the project root" if self.context == "." else f"{self.context}/"

    @property
    def targets_lineage(self) -> list[Stage]:
        """The target stages and the stages they are built FROM (what the images contain)."""
        from dockaudit.link.services import lineage

        out: list[Stage] = []
        for target in self.targets:
            for stage in lineage(target):
                if stage not in out:
                    out.append(stage)
        return out

    def ignore(self, project: Project) -> DockerIgnore | None:
        from dockaudit.parse.dockerignore import dockerignore_for

        return dockerignore_for(project, self.context, self.dockerfile_path)

    def context_related(self) -> tuple[Related, ...]:
        """Where the context is chosen (the compose ``build`` key), when a compose file chooses it."""
        out = []
        for _compose, service in self.services[:3]:
            build = service.build
            if build is None:
                continue
            node = build.node
            if node is not None and node.kind == "map" and node.get("context") is not None:
                span = service.value_span_of("build", "context")
            else:
                span = service.value_span_of("build")
            out.append(Related(span, f"service {service.name!r} builds from {self.context_label}"))
        return tuple(out)


def _stage_key(document: Dockerfile, key: str) -> Stage | None:
    if not key or "$" in key:
        return None
    return document.stage(key)


def stage_dependencies(stage: Stage) -> list[Stage]:
    """Stages ``stage`` needs: its parent, ``COPY --from`` and ``RUN --mount=from`` stages."""
    from dockaudit.installs import run_mounts

    document = stage.dockerfile
    out: list[Stage] = []
    if stage.parent is not None:
        out.append(stage.parent)
    if document is None:
        return out
    for inst in stage.instructions:
        if inst.keyword in ("COPY", "ADD"):
            source = inst.flag("from")
            if source:
                found = _stage_key(document, source)
                if found is not None and found.index < stage.index:
                    out.append(found)
        elif inst.keyword == "RUN" and any(f.name == "mount" for f in inst.flags):
            for mount in run_mounts(inst):
                if mount.from_:
                    found = _stage_key(document, mount.from_)
                    if found is not None and found.index < stage.index:
                        out.append(found)
    return out


def built_stages(targets: list[Stage]) -> list[Stage]:
    """The targets and every stage they depend on, in file order."""
    seen: dict[int, Stage] = {}
    stack = list(targets)
    while stack:
        stage = stack.pop()
        if id(stage) in seen:
            continue
        seen[id(stage)] = stage
        stack.extend(stage_dependencies(stage))
    return sorted(seen.values(), key=lambda s: s.index)


def build_units(project: Project) -> list[BuildUnit]:
    """Every (Dockerfile, context) pair of the project, compose builds first. Cached."""
    cached = getattr(project, "_dockaudit_build_units", None)
    if cached is not None:
        return cached
    units: dict[tuple[str, str], BuildUnit] = {}
    used: set[str] = set()
    for compose in project.compose_projects:
        for service in compose.services.values():
            build = service.build
            if build is None or build.remote or build.context is None or build.dockerfile_inline is not None:
                continue
            if not build.dockerfile:
                continue
            used.add(build.dockerfile)
            if build.dockerfile not in project.tree.files:
                continue
            document = project.dockerfile(build.dockerfile)
            if document is None or not document.stages:
                continue
            if build.target:
                target = document.stage(build.target)
                if target is None:
                    continue
            else:
                target = document.stages[-1]
            key = (build.dockerfile, build.context)
            unit = units.get(key)
            if unit is None:
                unit = units[key] = BuildUnit(build.dockerfile, document, build.context, [])
            if target not in unit.targets:
                unit.targets.append(target)
            unit.services.append((compose, service))
            for name, value in build.args.items():
                if value is not None:
                    unit.build_args.setdefault(name, value)
    for path, document in sorted(project.dockerfiles.items()):
        if path in used or not document.stages or path.lower().endswith(_TEMPLATE_SUFFIXES):
            continue
        context = _guess_context(project, path, document)
        key = (path, context)
        if key not in units:
            units[key] = BuildUnit(path, document, context, [document.stages[-1]], standalone=True)
    out = list(units.values())
    project._dockaudit_build_units = out  # type: ignore[attr-defined]
    return out


def real_dockerfiles(project: Project) -> list[tuple[str, Dockerfile]]:
    """The project's Dockerfiles by path, without templates that a script renders first
    (``Dockerfile.jinja2``, ``Dockerfile-alpine.template``)."""
    return [(path, document) for path, document in sorted(project.dockerfiles.items())
            if not path.lower().endswith(_TEMPLATE_SUFFIXES)]


def units_by_dockerfile(project: Project) -> dict[str, list[BuildUnit]]:
    """The build units of each Dockerfile path. Cached."""
    cached = getattr(project, "_dockaudit_units_by_path", None)
    if cached is None:
        cached = {}
        for unit in build_units(project):
            cached.setdefault(unit.dockerfile_path, []).append(unit)
        project._dockaudit_units_by_path = cached  # type: ignore[attr-defined]
    return cached


def _guess_context(project: Project, path: str, document: Dockerfile) -> str:
    """The folder a Dockerfile nobody references is most likely built from."""
    folder = posixpath.dirname(path) or "."
    candidates = [folder]
    while folder != ".":
        folder = posixpath.dirname(folder) or "."
        candidates.append(folder)
    plain: list[str] = []
    for stage in built_stages([document.stages[-1]]):
        for inst in stage.instructions:
            if inst.keyword not in ("COPY", "ADD") or inst.flag("from") is not None or inst.heredocs:
                continue
            for raw, _span in _source_words(inst):
                if "$" in raw or _WILDCARD.search(raw) or _REMOTE_SOURCE.match(raw):
                    continue
                cleaned = _clean_source(raw)
                if cleaned not in (None, "."):
                    plain.append(cleaned)
    if not plain:
        return candidates[0]
    best, best_count = candidates[0], -1
    for candidate in candidates:
        view = context_view(project, candidate)
        count = sum(1 for p in plain if view.exists(p) is not False)
        if count == len(plain):
            return candidate
        if count > best_count:
            best, best_count = candidate, count
    return best


# --- the context's files ----------------------------------------------------------------------


class ContextView:
    """The scanned files below one context folder, by context-relative path."""

    def __init__(self, project: Project, context: str) -> None:
        prefix = "" if context in (".", "") else context.rstrip("/") + "/"
        cut = len(prefix)
        self.project = project
        self.context = context
        self.prefix = prefix
        self.files: dict[str, int] = {}
        self.dirs: set[str] = set()
        self.skipped: set[str] = set()
        index = _path_index(project)
        import bisect

        start = bisect.bisect_left(index, (prefix,)) if prefix else 0
        sizes = project.tree.files
        for path, kind in index[start:]:
            if prefix and not path.startswith(prefix):
                break
            rel = path[cut:]
            if kind == 0:
                self.files[rel] = sizes[path]
            elif kind == 1:
                self.dirs.add(rel)
            else:
                self.skipped.add(rel)
        parents: set[str] = set()
        for path in (*self.files, *self.dirs, *self.skipped):
            parent = posixpath.dirname(path)
            while parent:
                if parent in parents:
                    break
                parents.add(parent)
                parent = posixpath.dirname(parent)
        #: folders with something below them (an empty folder, or a symlinked one, has nothing)
        self.parents = parents
        self._sorted: list[str] | None = None
        self._children_index: dict[str, set[str]] | None = None
        self._excluded = None
        if project.config.exclude:
            from dockaudit.globs import compile_globs

            self._excluded = compile_globs(project.config.exclude)

    def root_path(self, rel: str) -> str:
        return self.prefix + rel if rel not in (".", "") else (self.context or ".")

    def exists(self, rel: str) -> bool | None:
        """True/False, or None when the scan could not see (tool folders, excludes, symlinks)."""
        if rel in (".", ""):
            return True
        if rel in self.files or rel in self.dirs or rel in self.skipped:
            return True
        parts = rel.split("/")
        for k in range(1, len(parts)):
            prefix = "/".join(parts[:k])
            if prefix in self.skipped:
                return None
            if prefix in self.files:
                return False
            if prefix in self.dirs and prefix not in self.parents:
                return None  # an empty or symlinked folder: its content is not known
        if self._excluded is not None and self._excluded(self.root_path(rel)):
            return None
        return False

    def is_dir(self, rel: str) -> bool:
        return rel in (".", "") or rel in self.dirs or rel in self.skipped

    def files_under(self, rel: str) -> list[str]:
        if rel in (".", ""):
            return list(self.files)
        import bisect

        if self._sorted is None:
            self._sorted = sorted(self.files)
        prefix = rel.rstrip("/") + "/"
        start = bisect.bisect_left(self._sorted, prefix)
        out = []
        for path in self._sorted[start:]:
            if not path.startswith(prefix):
                break
            out.append(path)
        return out

    def size_under(self, rel: str) -> int:
        return sum(self.files[p] for p in self.files_under(rel))

    def glob(self, pattern: str) -> list[str]:
        """Context paths (files and folders) matching a COPY source pattern, segment by segment."""
        parts = [p for p in pattern.split("/") if p not in ("", ".")]
        current = [""]
        for part in parts:
            nxt: list[str] = []
            for base in current:
                children = self._children(base)
                if _WILDCARD.search(part):
                    nxt.extend(_join(base, c) for c in children if fnmatch.fnmatchcase(c, part))
                elif part in children:
                    nxt.append(_join(base, part))
            current = nxt
            if not current:
                break
        return sorted(c for c in current if c)

    def _children(self, base: str) -> set[str]:
        if self._children_index is None:
            index: dict[str, set[str]] = {}
            for collection in (self.files, self.dirs, self.skipped):
                for path in collection:
                    parent, _, name = path.rpartition("/")
                    index.setdefault(parent, set()).add(name)
            self._children_index = index
        return self._children_index.get(base, set())


def _path_index(project: Project) -> list[tuple[str, int]]:
    """Every path of the tree, sorted: (path, 0 file | 1 folder | 2 skipped folder). Cached."""
    index = getattr(project, "_dockaudit_path_index", None)
    if index is None:
        tree = project.tree
        index = sorted([*((p, 0) for p in tree.files), *((d, 1) for d in tree.dirs),
                        *((d, 2) for d in tree.skipped)])
        project._dockaudit_path_index = index  # type: ignore[attr-defined]
    return index


_COMMANDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def commands_of(inst: Instruction) -> list:
    """``installs.run_commands(inst)``, computed once per instruction."""
    found = _COMMANDS.get(inst)
    if found is None:
        from dockaudit.installs import run_commands

        found = _COMMANDS[inst] = run_commands(inst)
    return found


def _join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


def context_view(project: Project, context: str) -> ContextView:
    cache = getattr(project, "_dockaudit_context_views", None)
    if cache is None:
        cache = {}
        project._dockaudit_context_views = cache  # type: ignore[attr-defined]
    view = cache.get(context)
    if view is None:
        view = cache[context] = ContextView(project, context)
    return view


# --- .gitignore (only to tell generated files from missing ones) ------------------------------


def _gitignore_rules(project: Project, folder: str) -> list[tuple[re.Pattern[str], bool, str]]:
    from dockaudit.globs import glob_to_regex

    cache = getattr(project, "_dockaudit_gitignores", None)
    if cache is None:
        cache = {}
        project._dockaudit_gitignores = cache  # type: ignore[attr-defined]
    if folder in cache:
        return cache[folder]
    path = ".gitignore" if folder == "." else f"{folder}/.gitignore"
    rules: list[tuple[re.Pattern[str], bool, str]] = []
    if path in project.tree.files:
        source = project.source(path)
        if source is not None:
            for number in range(1, min(source.line_count, 5000) + 1):
                line = source.line_text(number).strip()
                if not line or line.startswith("#"):
                    continue
                negated = line.startswith("!")
                if negated:
                    line = line[1:]
                if not line.strip("/"):
                    continue
                rules.append((glob_to_regex(line), negated, line))
    cache[folder] = rules
    return rules


def gitignored(project: Project, root_path: str) -> bool:
    """Does a ``.gitignore`` of the scanned tree (the root's, or a folder's on the way) ignore
    ``root_path``? A simplified reading: enough to tell build outputs from typos."""
    parts = root_path.split("/")
    ignored = False
    folders = ["."] + ["/".join(parts[:k]) for k in range(1, len(parts))]
    for folder in folders:
        rules = _gitignore_rules(project, folder)
        if not rules:
            continue
        rel = root_path if folder == "." else root_path[len(folder) + 1:]
        for regex, negated, _text in rules:
            if regex.match(rel):
                ignored = not negated
    return ignored


# --- COPY sources ----------------------------------------------------------------------------


@dataclass
class CopySource:
    """One local source of a ``COPY``/``ADD`` from the build context."""

    unit: BuildUnit
    stage: Stage
    instruction: Instruction
    raw: str
    #: the source after variable expansion, cleaned and relative to the context ("." = all of it)
    path: str
    span: Span
    wildcard: bool


def _source_words(inst: Instruction) -> list[tuple[str, Span]]:
    """(word, span) of each source of a COPY/ADD (the destination left out)."""
    if inst.json_args is not None:
        words = inst.json_args[:-1]
        return [(w, inst.locate(w)) for w in words]
    pairs = inst.arg_spans[:-1]
    out = []
    for word, span in pairs:
        if parse_heredoc_marker(word) is not None:
            continue
        out.append((word, span))
    return out


def _clean_source(text: str) -> str | None:
    text = text.replace("\\", "/") if "/" not in text else text
    cleaned = posixpath.normpath("/" + text.lstrip("/")) if text else ""
    if not cleaned:
        return None
    cleaned = cleaned.lstrip("/")
    return cleaned or "."


def _resolved(raw: str, variables: dict[str, str | None], escape: str) -> str | None:
    if "$" not in raw:
        return expand(raw, {}, escape) if ('"' in raw or "'" in raw) else raw
    for ref in variable_references(raw, escape):
        if ref.has_default or ref.modifier in (":+", "+"):
            continue
        if variables.get(ref.name) is None:
            return None
    value = expand(raw, variables, escape)
    return value or None


def copy_sources(unit: BuildUnit) -> list[CopySource]:
    """Local sources of every COPY/ADD (no ``--from``) of the stages the build runs (cached)."""
    if unit._copies is not None:
        return unit._copies
    out: list[CopySource] = []
    for stage in built_stages(unit.targets):
        for inst in stage.instructions:
            if inst.keyword not in ("COPY", "ADD") or inst.flag("from") is not None:
                continue
            if inst.flag("parents") is not None:
                continue
            words = _source_words(inst)
            if not words:
                continue
            variables = stage.env_at(inst, unit.build_args or None) if any("$" in w for w, _ in words) else {}
            for raw, span in words:
                if _REMOTE_SOURCE.match(raw):
                    continue
                value = _resolved(raw, variables, inst.escape)
                if value is None or _REMOTE_SOURCE.match(value):
                    continue
                path = _clean_source(value)
                if path is None:
                    continue
                out.append(CopySource(unit, stage, inst, raw, path, span, bool(_WILDCARD.search(path))))
    unit._copies = out
    return out


def wholesale_copies(unit: BuildUnit, final_only: bool = False) -> list[CopySource]:
    """Sources that take the whole context (``COPY . .``, ``ADD ./ /app``), in any stage the build
    runs, or with ``final_only`` in the stages the resulting images are made of."""
    lineage = unit.targets_lineage if final_only else None
    return [s for s in copy_sources(unit) if s.path == "." and (lineage is None or s.stage in lineage)]


# --- what a context holds --------------------------------------------------------------------


@dataclass
class ContentClass:
    """One kind of thing a context should usually not send, where it is, and how to exclude it."""

    key: str
    label: str
    paths: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    size: int = 0
    measured: bool = True

    def describe(self, paths: list[str] | None = None) -> str:
        paths = self.paths if paths is None else paths
        shown = ", ".join(paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
        if paths is self.paths and self.measured and self.size >= 1024 * 1024:
            return f"{self.label} ({shown}; {_mb(self.size)})"
        return f"{self.label} ({shown})"


def _mb(size: int) -> str:
    if size >= 1024 ** 3:
        return f"{size / 1024 ** 3:.1f} GB"
    return f"{size / 1024 ** 2:.0f} MB"


def _needs_git(project: Project, unit: BuildUnit) -> bool:
    """Does the build read ``.git`` (git commands other than clone, or VCS-derived versions)?"""
    for stage in built_stages(unit.targets):
        for inst in stage.instructions:
            if inst.keyword != "RUN":
                continue
            for command, _span in commands_of(inst):
                if command.name == "git" and command.args[:1] not in (["clone"], ["config"]):
                    return True
            if "setuptools_scm" in inst.line or "SETUPTOOLS_SCM" in inst.line:
                return True
    prefix = "" if unit.context == "." else unit.context + "/"
    pyproject = project.pyprojects.get(prefix + "pyproject.toml")
    if pyproject is not None:
        text = pyproject.source.text
        for marker in ("setuptools_scm", "setuptools-scm", "hatch-vcs", "versioningit", "dunamai",
                       "poetry-dynamic-versioning", "uv-dynamic-versioning"):
            if marker in text:
                return True
    return False


_MENTION_KEYWORDS = frozenset({"ENV", "ARG", "CMD", "ENTRYPOINT", "RUN", "VOLUME", "WORKDIR", "LABEL"})


def _mentions(unit: BuildUnit, name: str) -> bool:
    """Does the Dockerfile or the compose service name the folder (then the image needs it)?"""
    pattern = re.compile(r"(?<![\w.-])" + re.escape(name.strip("/")) + r"(?![\w-])")
    for stage in built_stages(unit.targets):
        for inst in stage.instructions:
            if inst.keyword in ("COPY", "ADD") and inst.flag("from") is None:
                if any(pattern.search(w) for w, _ in _source_words(inst) if w not in (".", "./")):
                    return True
            elif inst.keyword in _MENTION_KEYWORDS and pattern.search(inst.line):
                return True
    for _compose, service in unit.services:
        for value in service.environment.values():
            if value and pattern.search(value):
                return True
        command = service.command
        text = command if isinstance(command, str) else " ".join(command or [])
        if pattern.search(text):
            return True
    return False


def _holds_logs(view: ContextView, folder: str) -> bool:
    """Does a ``logs`` folder hold log output (not only placeholders, not source code)?"""
    files = view.files_under(folder)
    if any(f.lower().endswith(_CODE_SUFFIXES) for f in files):
        return False
    return any(view.files[f] > 0 and posixpath.basename(f).lower() not in _PLACEHOLDER_FILES for f in files)


def _anywhere(path: str, name: str) -> str:
    """An ignore pattern for ``name`` where ``path`` is (root-level patterns stay plain)."""
    return name if "/" not in path.rstrip("/") else f"**/{name}"


def context_contents(project: Project, unit: BuildUnit) -> list[ContentClass]:
    """What the context holds that a ``COPY .`` would usually not want (``.env`` files are left
    to DA835)."""
    view = context_view(project, unit.context)
    classes: dict[str, ContentClass] = {}

    def add(key: str, label: str, path: str, pattern: str, size: int = 0, measured: bool = True) -> None:
        item = classes.get(key)
        if item is None:
            item = classes[key] = ContentClass(key, label)
        if path not in item.paths:
            item.paths.append(path)
            item.size += size
            item.measured = item.measured and measured
        if pattern not in item.patterns:
            item.patterns.append(pattern)

    for path in sorted(view.skipped):
        name = posixpath.basename(path)
        if name == ".git":
            if path == ".git" and not _needs_git(project, unit):
                add("git", "the git history", ".git/", ".git", measured=False)
        elif name == "node_modules":
            add("node_modules", "node_modules", path + "/", "**/node_modules", measured=False)
        elif name == "__pycache__":
            add("pycache", "Python bytecode caches", path + "/", "**/__pycache__", measured=False)
        elif name in (".venv", "venv") or _is_venv(project, view.root_path(path)):
            add("venv", "virtual environments", path + "/", _anywhere(path, name), measured=False)
        elif name in (".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".hypothesis"):
            add("tool-caches", "tool caches", path + "/", _anywhere(path, name), measured=False)
    log_dirs: set[str] = set()
    for path in sorted(view.dirs):
        name = posixpath.basename(path)
        if name.lower() in ("logs", "log") and _holds_logs(view, path) and not _mentions(unit, name):
            log_dirs.add(path)
            add("logs", "logs", path + "/", _anywhere(path, name), view.size_under(path))
    for path, size in sorted(view.files.items()):
        lower = path.lower()
        if lower.endswith(".log") and not any(path.startswith(d + "/") for d in log_dirs):
            add("logs", "logs", path, "**/*.log", size)
        elif lower.endswith(".pyc") and "__pycache__" not in path:
            add("pycache", "Python bytecode caches", path, "**/*.pyc", size)
    # model weights and large data folders, by their top folder under the context
    by_top: dict[str, int] = {}
    weights: dict[str, int] = {}
    for path, size in view.files.items():
        top = path.split("/", 1)[0] if "/" in path else ""
        if top:
            by_top[top] = by_top.get(top, 0) + size
        lower = path.lower()
        if lower.endswith(MODEL_EXTENSIONS) and (not lower.endswith(".bin") or size >= _BIN_MIN_BYTES):
            key = top or path
            weights[key] = weights.get(key, 0) + size
    for key in sorted(weights):
        if key.startswith(".") or _mentions(unit, key):
            continue
        if key.lower() not in _MODEL_DIR_NAMES and weights[key] < _WEIGHTS_MIN_BYTES:
            continue  # a few small files: test fixtures, not a model store
        folder = key in by_top
        add("models", "model weights", key + "/" if folder else key, key, by_top.get(key, weights[key]))
    for top, size in sorted(by_top.items()):
        if top in weights or top in log_dirs or top.startswith("."):
            continue
        named = top.lower() in _DATA_DIR_NAMES
        if ((named and size >= LARGE_FOLDER_BYTES) or size >= HUGE_FOLDER_BYTES) and not _mentions(unit, top):
            add("large", "large folders", top + "/", top, size)
    return list(classes.values())


def _is_venv(project: Project, root_path: str) -> bool:
    return (root_path + "/pyvenv.cfg") in project.tree.files


def _not_excluded(ignore: DockerIgnore, item: ContentClass, view: ContextView) -> list[str]:
    """The paths of ``item`` the ignore file lets through."""
    out = []
    for path in item.paths:
        clean = path.rstrip("/")
        if ignore.excludes(clean):
            continue
        if item.key == "models" and clean in view.dirs:
            # weights below a folder: sent if any weights file survives
            survivors = [f for f in view.files_under(clean)
                         if f.lower().endswith(MODEL_EXTENSIONS) and not ignore.excludes(f)]
            if not survivors:
                continue
        out.append(path)
    return out


# --- rules -----------------------------------------------------------------------------------


def _ancestor_dockerignore(project: Project, context: str) -> bool:
    folder = context
    while folder not in (".", ""):
        folder = posixpath.dirname(folder) or "."
        if (".dockerignore" if folder == "." else f"{folder}/.dockerignore") in project.tree.files:
            return True
    return False


@rule("DA830")
def context_without_dockerignore(project: Project) -> Iterator[Finding]:
    """A build copies its whole context (``COPY . .``) but the context has no ``.dockerignore``,
    while it holds things an image should not contain: ``.git``, virtual environments,
    ``node_modules``, ``__pycache__``, logs, model weights or large data folders.

    Why: everything is sent to the builder and baked into the image: slower builds, bigger
    images, host-specific binaries (a macOS ``node_modules``, a local ``.venv``) overwriting what
    the image installed, and cache misses on every commit (``.git`` changes each time).
    Fix: add a ``.dockerignore`` next to the build context (or ``<Dockerfile>.dockerignore``).
    """
    for unit in build_units(project):
        copies = wholesale_copies(unit)
        if not copies or unit.ignore(project) is not None:
            continue
        if unit.standalone and _ancestor_dockerignore(project, unit.context):
            continue  # maybe built from that folder (`docker build -f ... ..`): not sure enough
        contents = context_contents(project, unit)
        if not contents:
            continue
        copy = copies[0]
        where = unit.context_label
        listing = "; ".join(c.describe() for c in contents)
        patterns = [p for c in contents for p in c.patterns]
        location = "next to the Dockerfile" if unit.standalone else f"in {where}"
        yield Finding(
            span=copy.instruction.span,
            message=(f"`{copy.instruction.keyword} .` sends the whole build context ({where}) into the "
                     "image, "
                     f"and it has no .dockerignore: it holds {listing}. Add a .dockerignore {location} "
                     f"excluding {', '.join(patterns)}"),
            related=unit.context_related(),
            fix="create .dockerignore with:\n" + "\n".join(patterns),
        )


@rule("DA831")
def dockerignore_incomplete(project: Project) -> Iterator[Finding]:
    """The ``.dockerignore`` of a build that copies its whole context does not exclude things
    the context really holds: ``.git``, virtual environments, ``node_modules``, ``__pycache__``,
    logs, model weights, large data folders (one finding per ignore file, listing them).

    Only what exists in the scanned tree is reported, so an ignore file that is short but
    covers the project stays quiet. Folders the Dockerfile or the compose service names
    (``COPY models/ ...``, ``ENV MODEL_DIR=/app/models``) are taken as needed and not reported;
    ``.git`` is not reported when the build runs git or derives its version from it.
    """
    seen: set[str] = set()
    for unit in build_units(project):
        copies = wholesale_copies(unit)
        if not copies:
            continue
        ignore = unit.ignore(project)
        if ignore is None or ignore.path in seen:
            continue
        view = context_view(project, unit.context)
        missing: list[tuple[ContentClass, list[str]]] = []
        for item in context_contents(project, unit):
            paths = _not_excluded(ignore, item, view)
            if paths:
                missing.append((item, paths))
        if not missing:
            continue
        seen.add(ignore.path)
        parts = [item.describe(paths) for item, paths in missing]
        patterns = [p for item, _ in missing for p in item.patterns]
        span = Span(ignore.path, 1, 1, 1, len(ignore.source.line_text(1)) + 1)
        yield Finding(
            span=span,
            message=(f"{ignore.path} does not exclude what the build context ({unit.context_label}) holds, "
                     "and "
                     f"`{copies[0].instruction.keyword} .` in {unit.dockerfile_path} copies all of it into "
                     "the "
                     f"image: {'; '.join(parts)}. Add {', '.join(patterns)}"),
            related=(Related(copies[0].instruction.span, "copies the whole context"),
                     *unit.context_related()),
            fix=f"append to {ignore.path}:\n" + "\n".join(patterns),
        )


@rule("DA832")
def copy_ignored_file(project: Project) -> Iterator[Finding]:
    """``COPY``/``ADD`` names a path that the build's ``.dockerignore`` excludes.

    Excluded files are never sent to the builder, so the build stops with "not found". A folder
    is only reported when nothing below it is sent (a later ``!`` pattern may re-include part
    of it), and a wildcard only when everything it matches is excluded (then BuildKit copies
    nothing and the build goes on without the files: reported as a warning).
    """
    for unit in build_units(project):
        ignore = unit.ignore(project)
        if ignore is None:
            continue
        view = context_view(project, unit.context)
        for source in copy_sources(unit):
            if source.path == "." or posixpath.basename(source.path) in ("Dockerfile", ".dockerignore"):
                continue
            if source.wildcard:
                matches = view.glob(source.path)
                if not matches:
                    continue
                kept = [m for m in matches if _sent(ignore, view, m)]
                if kept:
                    continue
                pattern = ignore.matching_pattern(matches[0])
                yield Finding(
                    span=source.span,
                    message=(f"every file `{source.raw}` matches in the build context "
                             f"({', '.join(matches[:3])}) "
                             f"is excluded by {ignore.path}, so BuildKit copies nothing here and the image "
                             "goes without them; remove the exclusion or re-include the files with `!`"),
                    related=_ignore_related(pattern, source, unit),
                    fix=f"add `!{matches[0]}` to {ignore.path}, or stop excluding it",
                    severity=Severity.WARNING,
                )
                continue
            present = view.exists(source.path)
            if not present or _sent(ignore, view, source.path):
                continue
            pattern = ignore.matching_pattern(source.path)
            yield Finding(
                span=source.span,
                message=(f"`{source.raw}` is excluded by {ignore.path}"
                         f"{f' (pattern `{pattern.raw}` on line {pattern.span.line})' if pattern else ''}, "
                         "so it is "
                         f"not in the build context and {source.instruction.keyword} fails with \"not "
                         "found\"; "
                         "remove the pattern or add an exception"),
                related=_ignore_related(pattern, source, unit),
                fix=f"add `!{source.path}` after the pattern in {ignore.path}, or remove the pattern",
            )


def _sent(ignore: DockerIgnore, view: ContextView, path: str) -> bool:
    """Is ``path`` (or, for a folder, something below it) sent to the builder?"""
    if not ignore.excludes(path):
        return True
    if not view.is_dir(path):
        return False
    if not any(p.negated for p in ignore.patterns):
        return False
    return any(not ignore.excludes(f) for f in view.files_under(path))


def _ignore_related(pattern, source: CopySource, unit: BuildUnit) -> tuple[Related, ...]:
    out = []
    if pattern is not None:
        out.append(Related(pattern.span, f"excludes {source.path}"))
    out.extend(unit.context_related()[:1])
    return tuple(out)


def _generated(project: Project, view: ContextView, path: str) -> str | None:
    """Why a missing path is probably produced before the build (None: no reason to think so)."""
    first = path.split("/", 1)[0]
    for folder in GENERATED_DIRS:
        if path == folder or path.startswith(folder + "/"):
            return f"{folder}/ is usually a build output"
    if first in GENERATED_DIRS:
        return f"{first}/ is usually a build output"
    if gitignored(project, view.root_path(path)):
        return "it is listed in .gitignore, so it is probably generated before the build"
    return None


@rule("DA833")
def copy_source_missing(project: Project) -> Iterator[Finding]:
    """``COPY``/``ADD`` names a path that does not exist in the build context.

    The build fails with "not found". For a wildcard BuildKit accepts that nothing matches, but
    not that the folder before the wildcard is missing. Paths that are probably produced before
    ``docker build`` runs (listed in ``.gitignore``, or under ``dist/``, ``build/``, ``.next/``,
    ``out/``) are reported as a note. Heredoc sources, ``--from`` copies and remote ``ADD`` URLs
    are not files of the context and are skipped, as are paths whose variables cannot be
    resolved and paths inside folders the scan does not walk (``node_modules``, ``.venv``).
    For a Dockerfile no compose service builds, the context is a guess (see the module notes).
    """
    for unit in build_units(project):
        view = context_view(project, unit.context)
        missing: dict[str, list[CopySource]] = {}
        for source in copy_sources(unit):
            if source.path == ".":
                continue
            check = source.path
            if source.wildcard:
                fixed = []
                for part in source.path.split("/"):
                    if _WILDCARD.search(part):
                        break
                    fixed.append(part)
                if not fixed:
                    continue  # `*.txt`: BuildKit accepts a wildcard that matches nothing
                check = "/".join(fixed)
            if view.exists(check) is False:
                missing.setdefault(check, []).append(source)
        for check, sources in missing.items():
            yield _missing_finding(project, unit, view, check, sources)


def _missing_finding(project: Project, unit: BuildUnit, view: ContextView, check: str,
                     sources: list[CopySource]) -> Finding:
    source = sources[0]
    reason = _generated(project, view, check)
    what = (f"the folder `{check}` before the wildcard in `{source.raw}`" if source.wildcard
            else f"`{source.raw}`")
    guess = ""
    if unit.standalone and unit.context != (posixpath.dirname(unit.dockerfile_path) or "."):
        guess = (f"; no compose service builds {unit.dockerfile_path}, so dockaudit assumes it is "
                 "built from there")
    where = f"the build context ({unit.context_label}{guess})"
    others = sorted({s.instruction.span.line for s in sources[1:]} - {source.instruction.span.line})
    also = f" (also on line{'s' if len(others) > 1 else ''} {', '.join(map(str, others))})" if others else ""
    related = tuple(Related(s.span, "the same path") for s in sources[1:4]) + unit.context_related()
    keyword = source.instruction.keyword
    if reason:
        return Finding(
            span=source.span,
            message=(f"{what} is not in {where}: {reason}. Make sure it exists before `docker build` "
                     f"runs, or {keyword} fails with \"not found\"{also}"),
            related=related,
            fix="produce it in an earlier stage and COPY --from that stage, or build it before the image",
            severity=Severity.NOTE,
        )
    similar = _similar_path(view, check)
    siblings = {c.path for c in copy_sources(unit) if c.instruction is source.instruction}
    hint = f"; did you mean `{similar}`?" if similar and similar not in siblings else ""
    guessed = unit.standalone and posixpath.dirname(unit.dockerfile_path) not in ("", ".")
    return Finding(
        span=source.span,
        message=f"{what} does not exist in {where}, so {keyword} fails with \"not found\"{hint}{also}",
        related=related,
        fix="fix the path (it is relative to the build context, not to the Dockerfile), or add the file",
        severity=Severity.WARNING if guessed else None,
    )


def _similar_path(view: ContextView, path: str) -> str | None:
    import difflib

    parent = posixpath.dirname(path)
    if parent and not view.is_dir(parent):
        return None
    names = view._children(parent)
    found = difflib.get_close_matches(posixpath.basename(path), sorted(names), n=1, cutoff=0.8)
    return _join(parent, found[0]) if found else None


@rule("DA834")
def dockerignore_unused(project: Project) -> Iterator[Finding]:
    """A ``.dockerignore`` that no build reads.

    Two cases: ``<name>.dockerignore`` with no Dockerfile ``<name>`` next to it (BuildKit looks
    for the Dockerfile's own name plus ``.dockerignore``), and a ``.dockerignore`` in a folder
    that is neither the build context of any compose service nor the folder of any Dockerfile,
    in a project whose compose services all build from other folders (the ignore file must sit
    at the root of the build context, not next to the compose file).
    """
    units = build_units(project)
    used: set[str] = set()
    for unit in units:
        ignore = unit.ignore(project)
        if ignore is not None:
            used.add(ignore.path)
    compose_contexts = {u.context for u in units if not u.standalone}
    dockerfile_dirs = {posixpath.dirname(p) or "." for p in project.dockerfiles}
    for path in sorted(p for p, k in project.tree.classified.items() if k == "dockerignore"):
        if path in used:
            continue
        folder = posixpath.dirname(path) or "."
        name = posixpath.basename(path)
        if name != ".dockerignore":
            dockerfile = path[: -len(".dockerignore")]
            if dockerfile.endswith("/") or dockerfile in project.tree.files:
                continue
            yield Finding(
                span=Span(path, 1),
                message=(f"{path} is the ignore file of a Dockerfile named {posixpath.basename(dockerfile)}, "
                         "but there is no such Dockerfile next to it, so no build reads it"),
                fix="rename it after the Dockerfile it belongs to (<Dockerfile name>.dockerignore), or "
                    "delete it",
            )
            continue
        if folder in compose_contexts or folder in dockerfile_dirs or any(u.context == folder for u in units):
            continue
        builders = [u for u in units if not u.standalone
                    and any((posixpath.dirname(s.file) or ".") == folder for _c, s in u.services)]
        if not builders:
            continue  # the ignore file is not next to a compose file that builds elsewhere
        elsewhere = sorted({u.context for u in builders})
        related = [r for u in builders for r in u.context_related()[:1]]
        yield Finding(
            span=Span(path, 1),
            message=(f"{path} is not read by any build: compose builds from "
                     f"{', '.join(c + '/' if c != '.' else 'the root' for c in elsewhere)}, and BuildKit "
                     "reads "
                     "the .dockerignore at the root of the build context only; move it into the build "
                     "context "
                     "folder"),
            related=tuple(related[:3]),
            fix="move the file into the build context folder (next to the context root, not the compose "
                "file)",
        )


_ENV_TEMPLATE = re.compile(r"(?i)(?:example|sample|template|dist|tpl|defaults?)")


def _secret_env_file(project: Project, view: ContextView, rel: str) -> bool:
    """Is ``rel`` an env file with real values: local (``.env.local``, gitignored), or committed
    with a secret-named key set?"""
    name = posixpath.basename(rel)
    lower = name.lower()
    if not (lower == ".env" or lower.startswith(".env.") or lower.endswith(".env")):
        return False
    if _ENV_TEMPLATE.search(lower):
        return False
    if lower.endswith((".sh", ".py", ".js", ".ts", ".md", ".json", ".yml", ".yaml", ".toml", ".txt")):
        return False
    root_path = view.root_path(rel)
    if lower == ".env.local" or lower.endswith(".local") or gitignored(project, root_path):
        return True
    if lower != ".env":
        return False
    from dockaudit.checks.models import secret_name

    document = project.env_file(root_path)
    if document is None:
        return False
    return any(secret_name(entry.key) and entry.value.strip() for entry in document.entries)


@rule("DA835")
def env_file_in_context(project: Project) -> Iterator[Finding]:
    """A build copies its whole context (``COPY . .``) and the context holds ``.env`` files that
    the ``.dockerignore`` does not exclude (or there is no ``.dockerignore``).

    Reported are ``.env.local``, ``*.local`` and env files that ``.gitignore`` lists (local files
    with real values), and a committed ``.env`` that sets a secret-named key; templates
    (``.env.example``) and other committed env files are not. The values
    end up in an image layer, readable by anyone who can pull the image, even if a later step
    deletes the file.
    """
    for unit in build_units(project):
        copies = wholesale_copies(unit, final_only=True)
        if not copies:
            continue
        view = context_view(project, unit.context)
        ignore = unit.ignore(project)
        found = [rel for rel in sorted(view.files) if _secret_env_file(project, view, rel)
                 and (ignore is None or not ignore.excludes(rel))]
        if not found:
            continue
        copy = copies[0]
        shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        if ignore is None:
            advice = "add a .dockerignore with `.env` and `.env.*` (and `!.env.example`)"
        else:
            advice = f"add `.env` and `.env.*` (and `!.env.example`) to {ignore.path}"
        related = [Related(Span(view.root_path(rel), 1), "sent into the image") for rel in found[:3]]
        yield Finding(
            span=copy.instruction.span,
            message=(f"`{copy.instruction.keyword} .` copies {shown} from the build context into the image: "
                     "the "
                     f"values (secrets) are stored in an image layer; {advice}, and pass runtime values with "
                     "compose env_file/environment instead"),
            related=tuple(related),
            fix=advice,
        )


__all__ = [
    "BuildUnit", "ContentClass", "ContextView", "CopySource", "build_units", "built_stages", "context_view",
    "copy_sources", "gitignored", "real_dockerfiles", "stage_dependencies", "units_by_dockerfile",
    "wholesale_copies",
]

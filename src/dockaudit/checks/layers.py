"""Rules about layers, build caches and runtime settings of the images a project builds.

Layer order (dependencies installed before the code is copied), lock files the installs really
use, package-manager caches (left in a layer, or BuildKit cache mounts that cannot work), whole
filesystems copied between stages, and what the running container gets (a non-root user, a
health check).

The first part of this module is a small model the rules share (``apt.py`` uses it too): which
stages of a Dockerfile end up in a shipped image, which build context a Dockerfile is built
with, what the USER / WORKDIR / HOME are at each instruction, and which files of the build
context a ``COPY``/``ADD`` (or a ``RUN --mount=type=bind``) puts where in the image.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockaudit.engine import rule
from dockaudit.findings import Finding, Related, Severity
from dockaudit.installs import Install, Mount, run_commands, run_mounts, stage_installs
from dockaudit.link.services import ServiceBuild, lineage, service_builds, start_command
from dockaudit.parse.dockerfile import Dockerfile, Instruction, Stage, expand
from dockaudit.shell import Command
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.parse.dockerignore import DockerIgnore
    from dockaudit.project import Project

_TRUTHY = frozenset({"1", "true", "yes", "on", "y", "t"})


def truthy(value: str | None) -> bool:
    """Is an environment value "on" the way pip/uv/npm read booleans?"""
    return value is not None and value.strip().strip("'\"").lower() in _TRUTHY


def norm(path: str) -> str:
    """A normalised absolute image path."""
    out = posixpath.normpath(path) if path else "/"
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


def covers(parent: str, path: str) -> bool:
    """Is ``path`` equal to or below ``parent`` (both absolute)?"""
    parent, path = norm(parent), norm(path)
    return path == parent or parent == "/" or path.startswith(parent + "/")


def is_root_user(user: str | None) -> bool:
    """USER unset, ``root``, ``0`` or ``root:group`` / ``0:gid``."""
    if user is None:
        return True
    name = user.strip().split(":", 1)[0]
    return name in ("", "root", "0")


# --- which stages ship ---------------------------------------------------------------------------


def links_for(project: Project, path: str) -> list[ServiceBuild]:
    """Compose services that build the Dockerfile at ``path``."""
    return [link for link in service_builds(project)
            if link.dockerfile_path == path and link.dockerfile is not None and link.stage is not None]


def run_stages(project: Project, path: str, document: Dockerfile) -> list[Stage]:
    """Stages a container runs: compose ``build.target`` stages of services that build this
    Dockerfile, and the final stage when no service builds it or one builds it without a target."""
    final = document.final_stage
    if final is None:
        return []
    links = links_for(project, path)
    out: list[Stage] = []
    if not links or any(not (link.service.build and link.service.build.target) for link in links):
        out.append(final)
    for link in links:
        if link.stage is not None and link.stage not in out:
            out.append(link.stage)
    return out


def shipped_stages(project: Project, path: str, document: Dockerfile) -> list[Stage]:
    """Stages whose filesystem ends up in a shipped image: the run stages and the stages they
    are built ``FROM`` (not builder stages that are only copied from)."""
    if in_devcontainer(path):
        return []  # a development container: its size is nobody's deployment problem
    out: list[Stage] = []
    for stage in run_stages(project, path, document):
        for member in lineage(stage):
            if member not in out:
                out.append(member)
    return sorted(out, key=lambda s: s.index)


def in_devcontainer(path: str) -> bool:
    """A Dockerfile of a VS Code / devcontainer.json development container."""
    return ".devcontainer" in path.split("/")


# --- per-instruction state --------------------------------------------------------------------


@dataclass
class InstState:
    """USER, WORKDIR and the visible ARG/ENV values when an instruction runs."""

    user: str | None
    workdir: str
    env: dict[str, str | None]
    order: int

    @property
    def home(self) -> str | None:
        """$HOME: ENV HOME if set, /root for root, else unknown."""
        home = self.env.get("HOME")
        if home:
            return norm(home)
        return "/root" if is_root_user(self.user) else None


_STATES: weakref.WeakKeyDictionary[Stage, dict[Instruction, InstState]] = weakref.WeakKeyDictionary()


def states(stage: Stage) -> dict[Instruction, InstState]:
    """The state before each instruction of the stage's lineage (parents first)."""
    cached = _STATES.get(stage)
    if cached is not None:
        return cached
    out: dict[Instruction, InstState] = {}
    user: str | None = None
    workdir = "/"
    order = 0
    for member in reversed(lineage(stage)):
        escape = member.dockerfile.escape if member.dockerfile is not None else "\\"
        for inst in member.instructions:
            env = member.env_at(inst)
            out[inst] = InstState(user, workdir, env, order)
            order += 1
            if inst.keyword == "USER" and inst.value:
                user = expand(inst.value, env, escape).strip() or user
            elif inst.keyword == "WORKDIR" and inst.value:
                value = expand(inst.value, env, escape).strip()
                if value:
                    workdir = norm(posixpath.join(workdir, value))
    _STATES[stage] = out
    return out


def state_of(stage: Stage, inst: Instruction) -> InstState:
    found = states(stage).get(inst)
    if found is None:  # not in the lineage: fall back to the stage's own view
        return InstState(stage.user, stage.workdir, stage.env_at(inst), 0)
    return found


def mounts_of(stage: Stage, inst: Instruction) -> list[Mount]:
    """``RUN --mount`` flags, values expanded, relative targets made absolute."""
    state = state_of(stage, inst)
    mounts = run_mounts(inst, state.env)
    for mount in mounts:
        if mount.target:
            mount.target = norm(posixpath.join(state.workdir, mount.target))
    return mounts


def installs_of(stage: Stage, inst: Instruction) -> list[Install]:
    """The package-manager commands of one RUN of ``stage``."""
    return [i for i in stage_installs(stage) if i.instruction is inst]


def command_cwds(inst: Instruction, workdir: str) -> list[tuple[Command, Span, str]]:
    """Each command of a RUN with the directory it runs in (``cd`` inside the RUN followed)."""
    out: list[tuple[Command, Span, str]] = []
    cwd = workdir
    for command, span in run_commands(inst):
        out.append((command, span, cwd))
        if command.name == "cd" and len(command.words) >= 2 and "$" not in command.words[1]:
            target = command.words[1]
            if target not in ("-",):
                cwd = norm(posixpath.join(cwd, target))
    return out


def install_cwd(inst: Instruction, workdir: str, install: Install) -> str:
    for command, span, cwd in command_cwds(inst, workdir):
        if span == install.span and command.words == install.words:
            return cwd
    return workdir


# --- build contexts ----------------------------------------------------------------------------


@dataclass
class Context:
    """The build context a Dockerfile is built with (root-relative folder)."""

    path: str
    from_compose: bool
    ignore: DockerIgnore | None = None

    def rel(self, relpath: str) -> str:
        """``relpath`` (root-relative) relative to the context."""
        if self.path in (".", ""):
            return relpath
        return relpath[len(self.path) + 1:] if relpath.startswith(self.path + "/") else relpath

    def join(self, path: str) -> str | None:
        """A path written in COPY (relative to the context; a leading ``/`` is the context root)."""
        path = path.replace("\\", "/").lstrip("/") or "."
        base = self.path or "."
        joined = posixpath.normpath(posixpath.join(base, path))
        if joined == "..":
            return None
        if joined.startswith("../"):
            return None
        return joined


def _copy_words(inst: Instruction) -> list[str]:
    words = inst.args
    return [w for w in words if not w.startswith("<<")]


_CONTEXT_MARKERS = ("pyproject.toml", "requirements.txt", "package.json", "setup.py", "go.mod", "Cargo.toml",
                    "Gemfile", "pom.xml")


def _context_candidates(path: str) -> list[str]:
    folder = posixpath.dirname(path) or "."
    out = [folder]
    while folder not in (".", ""):
        folder = posixpath.dirname(folder) or "."
        out.append(folder)
    return out


def contexts(project: Project, path: str, document: Dockerfile) -> list[Context]:
    """The build contexts of a Dockerfile: the compose ``build.context`` of services that build
    it, else a guess (the Dockerfile's folder or the nearest parent folder from which its COPY
    sources exist; ``docker build -f docker/Dockerfile .`` is common)."""
    key = (id(project), path)
    cached = getattr(project, "_layer_contexts", None)
    if cached is None:
        cached = {}
        project._layer_contexts = cached  # type: ignore[attr-defined]
    if key in cached:
        return cached[key]
    from dockaudit.parse.dockerignore import dockerignore_for

    found: list[Context] = []
    seen: set[str] = set()
    for link in links_for(project, path):
        build = link.service.build
        if build is None or build.context is None or build.remote or build.outside:
            continue
        if build.context not in seen:
            seen.add(build.context)
            found.append(Context(build.context, True))
    if not found:
        sources: list[str] = []
        for inst in document.instructions:
            if inst.keyword in ("COPY", "ADD") and inst.flag("from") is None:
                words = _copy_words(inst)
                sources.extend(w for w in words[:-1] if "$" not in w and "://" not in w)
        best, best_score = posixpath.dirname(path) or ".", 0
        for candidate in _context_candidates(path):
            context = Context(candidate, False)
            score = 0
            for source in sources:
                joined = context.join(source)
                if joined is None:
                    continue
                if any(ch in source for ch in "*?["):
                    parent = posixpath.dirname(joined) or "."
                    if project.tree.is_dir(parent):
                        score += 1
                elif source not in (".", "./") and project.exists(joined):
                    score += 1
            if score > best_score:
                best, best_score = candidate, score
        if best_score == 0:
            # only `COPY . .`: the folder nearest the Dockerfile that holds the project's manifests
            for candidate in _context_candidates(path):
                prefix = "" if candidate in (".", "") else candidate + "/"
                if any(prefix + name in project.tree.files for name in _CONTEXT_MARKERS):
                    best = candidate
                    break
        found.append(Context(best, False))
    for context in found:
        context.ignore = dockerignore_for(project, context.path, path)
    cached[key] = found
    return found


# --- what COPY puts where ----------------------------------------------------------------------


@dataclass
class Placed:
    """Something a COPY/ADD (or a RUN bind mount) puts into the image.

    ``kind``: ``file`` (a context file at ``image_path``), ``dir`` (a context folder whose contents
    land under ``image_path``), ``missing`` (a context path that does not exist), ``opaque``
    (from another stage or image, or not resolvable: anything may be below ``image_path``).
    """

    inst: Instruction
    order: int
    source: str
    context_path: str | None
    image_path: str
    kind: str
    stage: Stage
    mount: bool = False


@dataclass
class Lookup:
    status: str            # "yes", "no", "unknown"
    placed: Placed | None = None
    context_file: str | None = None


@dataclass
class StageFiles:
    """Context files placed into a stage's lineage, in build order."""

    stage: Stage
    context: Context
    project: Project
    placed: list[Placed] = field(default_factory=list)

    def _in_context(self, relpath: str) -> bool:
        if relpath not in self.project.tree.files:
            return False
        return self.context.ignore is None or not self.context.ignore.excludes(self.context.rel(relpath))

    def exists(self, relpath: str) -> bool:
        """Is a root-relative file present and sent with the context?"""
        return self._in_context(relpath)

    def lookup(self, image_file: str, before: Instruction | None) -> Lookup:
        """Is ``image_file`` in the image when ``before`` runs (bind mounts of ``before`` count;
        None: at the end of the stage)?"""
        order = state_of(self.stage, before).order if before is not None else 1 << 30
        image_file = norm(image_file)
        yes: Lookup | None = None
        unknown: Lookup | None = None
        for placed in self.placed:
            if placed.order > order or (placed.order == order and not placed.mount):
                continue
            if placed.mount and placed.inst is not before:
                continue
            if placed.kind == "file" and placed.image_path == image_file:
                if placed.context_path and self._in_context(placed.context_path):
                    yes = Lookup("yes", placed, placed.context_path)
                else:
                    unknown = Lookup("unknown", placed)  # excluded by .dockerignore: the COPY fails
            elif placed.kind == "dir" and covers(placed.image_path, image_file):
                rel = posixpath.relpath(image_file, placed.image_path)
                candidate = posixpath.normpath(posixpath.join(placed.context_path or ".", rel))
                if self._in_context(candidate):
                    yes = Lookup("yes", placed, candidate)
            elif placed.kind in ("opaque", "missing") and covers(placed.image_path, image_file):
                unknown = Lookup("unknown", placed)  # from elsewhere, or a COPY that fails on its own
        if yes is not None:
            return yes
        if unknown is not None:
            return unknown
        return Lookup("no")

    def code_copies(self) -> list[Placed]:
        """COPY/ADD of the whole context or of a folder holding source code, in this stage."""
        out = []
        for placed in self.placed:
            if placed.mount or placed.stage is not self.stage or placed.kind != "dir":
                continue
            whole = placed.context_path == (self.context.path or ".")
            if whole or _holds_code(self.project, placed.context_path):
                out.append(placed)
        return out


_CODE_EXTENSIONS = (".py", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".vue", ".svelte", ".go", ".rs",
                    ".java", ".kt", ".rb", ".php", ".cs", ".c", ".cc", ".cpp", ".h", ".hpp", ".scala",
                    ".ex", ".exs", ".swift", ".dart")


def _holds_code(project: Project, folder: str | None) -> bool:
    if not folder:
        return False
    return any(p.endswith(_CODE_EXTENSIONS) for p in project.tree.under(folder))


def _is_wild(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _glob_context(project: Project, pattern: str) -> list[str]:
    """Root-relative paths matching a COPY wildcard (one folder level per segment)."""
    parts = pattern.split("/")
    current = [""]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        nxt: list[str] = []
        for base in current:
            prefix = f"{base}/" if base else ""
            if not _is_wild(part):
                candidate = prefix + part
                if project.exists(candidate):
                    nxt.append(candidate)
                continue
            names = _children(project, base)
            for name, is_dir in names:
                if fnmatch.fnmatchcase(name, part) and (last or is_dir):
                    nxt.append(prefix + name)
        current = nxt
    return current


def _children(project: Project, folder: str) -> list[tuple[str, bool]]:
    cache = getattr(project, "_layer_children", None)
    if cache is None:
        cache = {}
        for path in project.tree.files:
            parent, _, name = path.rpartition("/")
            cache.setdefault(parent, []).append((name, False))
        for path in set(project.tree.dirs) | set(project.tree.skipped):
            parent, _, name = path.rpartition("/")
            cache.setdefault(parent, []).append((name, True))
        project._layer_children = cache  # type: ignore[attr-defined]
    return cache.get(folder, [])


_FILES: weakref.WeakKeyDictionary[Stage, dict[str, StageFiles]] = weakref.WeakKeyDictionary()


def stage_files(project: Project, stage: Stage, context: Context) -> StageFiles:
    """What the COPY/ADD instructions (and bind mounts) of the stage's lineage place where."""
    per_stage = _FILES.setdefault(stage, {})
    key = f"{id(project)}:{context.path}"
    if key in per_stage:
        return per_stage[key]
    files = StageFiles(stage, context, project)
    dirs_known: set[str] = set()
    for member in reversed(lineage(stage)):
        escape = member.dockerfile.escape if member.dockerfile is not None else "\\"
        for inst in member.instructions:
            state = state_of(stage, inst)
            dirs_known.add(state.workdir)
            if inst.keyword in ("COPY", "ADD"):
                files.placed.extend(_placements(project, files, member, inst, state, escape, dirs_known))
            elif inst.keyword == "RUN":
                for mount in mounts_of(stage, inst):
                    if mount.type != "bind" or not mount.target:
                        continue
                    if mount.from_:
                        files.placed.append(Placed(inst, state.order, mount.source or ".", None, mount.target,
                                                   "opaque", member, mount=True))
                        continue
                    source = mount.source or "."
                    joined = context.join(source)
                    if joined is None:
                        continue
                    kind = ("file" if joined in project.tree.files else
                            "dir" if project.tree.is_dir(joined) else "missing")
                    files.placed.append(Placed(inst, state.order, source, joined, mount.target, kind, member,
                                               mount=True))
    per_stage[key] = files
    return files


def _placements(project: Project, files: StageFiles, stage: Stage, inst: Instruction, state: InstState,
                escape: str, dirs_known: set[str]) -> list[Placed]:
    words = _copy_words(inst)
    if len(words) < 2:
        return []
    raw_sources, raw_dest = words[:-1], words[-1]
    dest = expand(raw_dest, state.env, escape) if "$" in raw_dest else raw_dest
    if not dest:
        return []
    dest_abs = norm(posixpath.join(state.workdir, dest))
    dest_is_dir = (dest.endswith("/") or dest in (".", "./") or len(raw_sources) > 1
                   or dest_abs in dirs_known or any(_is_wild(s) for s in raw_sources))
    out: list[Placed] = []
    order = state.order
    if inst.flag("from") is not None:
        out.append(Placed(inst, order, " ".join(raw_sources), None, dest_abs, "opaque", stage))
        if dest_is_dir:
            dirs_known.add(dest_abs)
        return out
    context = files.context
    for raw in raw_sources:
        if "://" in raw or raw.startswith("git@"):
            continue
        source = raw
        if "$" in raw:
            source = expand(raw, state.env, escape)
            if not source or "$" in source:
                out.append(Placed(inst, order, raw, None, dest_abs, "opaque", stage))
                continue
        if _is_wild(source):
            joined_pattern = context.join(source)
            if joined_pattern is None:
                continue
            pattern = joined_pattern if joined_pattern != "." else ""
            for match in _glob_context(project, pattern):
                is_dir = project.tree.is_dir(match)
                image = dest_abs if is_dir else norm(posixpath.join(dest_abs, posixpath.basename(match)))
                out.append(Placed(inst, order, raw, match, image, "dir" if is_dir else "file", stage))
            continue
        joined = context.join(source)
        if joined is None:
            continue
        if project.tree.is_dir(joined):
            out.append(Placed(inst, order, raw, joined, dest_abs, "dir", stage))
            dirs_known.add(dest_abs)
            continue
        if dest_is_dir:
            image = norm(posixpath.join(dest_abs, posixpath.basename(joined)))
        else:
            image = dest_abs
        kind = "file" if joined in project.tree.files else "missing"
        out.append(Placed(inst, order, raw, joined, image, kind, stage))
    if dest_is_dir:
        dirs_known.add(dest_abs)
    return out


# --- manifests an install reads ----------------------------------------------------------------


@dataclass
class ManifestInstall:
    """An install that reads dependency manifests (not one naming packages on the command line)."""

    install: Install
    ecosystem: str          # "python" or "node"
    files: list[str]        # manifest paths relative to ``cwd`` (or absolute)
    installs_project: bool  # installs the project itself (needs its source)
    cwd: str


_PROJECT_FILES = ["pyproject.toml", "setup.py", "setup.cfg"]
NODE_LOCKS = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
              "bun.lock")


def _local_package(word: str) -> bool:
    if word in (".", "./"):
        return True
    return word.startswith(("./", "../", "/")) and not word.endswith((".whl", ".tar.gz"))


def manifest_install(stage: Stage, install: Install) -> ManifestInstall | None:
    """What a dependency install reads, or None for installs of named packages."""
    state = state_of(stage, install.instruction)
    cwd = install_cwd(install.instruction, state.workdir, install)
    manager, action = install.manager, install.action

    def at(option_names: tuple[str, ...]) -> str:
        value = install.option_value(*option_names)
        return norm(posixpath.join(cwd, value)) if value and "$" not in value else cwd

    if manager in ("pip", "uv-pip") and action in ("install", "sync"):
        files = list(install.requirement_files)
        local = [p for p in install.packages if _local_package(p.split("[", 1)[0])]
        if files:
            return ManifestInstall(install, "python", files, bool(local), cwd)
        if local:
            base = local[0].split("[", 1)[0]
            folder = norm(posixpath.join(cwd, base))
            paths = [posixpath.join(folder, f) for f in _PROJECT_FILES]
            return ManifestInstall(install, "python", paths, True, folder)
        return None
    if manager == "uv-sync":
        folder = at(("--project", "--directory"))
        return ManifestInstall(install, "python", ["pyproject.toml", "uv.lock"],
                               not install.has_option("--no-install-project", "--only-deps"), folder)
    if manager == "poetry" and action in ("install", "sync"):
        folder = at(("-C", "--directory", "-P", "--project"))
        return ManifestInstall(install, "python", ["pyproject.toml", "poetry.lock"],
                               not install.has_option("--no-root"), folder)
    if manager == "pipenv" and action in ("install", "sync") and not install.packages:
        return ManifestInstall(install, "python", ["Pipfile", "Pipfile.lock"], False, cwd)
    if manager == "npm" and action in ("install", "ci") and not install.packages and not install.has_option(
            "-g", "--global"):
        folder = at(("--prefix",))
        return ManifestInstall(install, "node", ["package.json", "package-lock.json", "npm-shrinkwrap.json"],
                               False, folder)
    if manager == "yarn" and action == "install" and not install.packages and "global" not in install.options:
        folder = at(("--cwd",))
        return ManifestInstall(install, "node", ["package.json", "yarn.lock"], False, folder)
    if manager == "pnpm" and action in ("install", "fetch") and not install.packages \
            and not install.has_option("-g", "--global"):
        folder = at(("-C", "--dir"))
        files = ["pnpm-lock.yaml"] if action == "fetch" else ["package.json", "pnpm-lock.yaml"]
        return ManifestInstall(install, "node", files, False, folder)
    return None


def _manifest_paths(found: ManifestInstall) -> list[str]:
    return [norm(posixpath.join(found.cwd, f)) for f in found.files]


def _dockerfiles(project: Project) -> Iterable[tuple[str, Dockerfile]]:
    """Every Dockerfile, also those only compose names (linking them first adds them to the
    project, so the iteration below never sees the dict change)."""
    service_builds(project)
    return list(project.dockerfiles.items())


def _primary_context(project: Project, path: str, document: Dockerfile) -> Context:
    return contexts(project, path, document)[0]


def _copy_label(inst: Instruction) -> str:
    text = " ".join(inst.line.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _cmd_label(install: Install) -> str:
    text = " ".join(install.words)
    return text if len(text) <= 60 else text[:57] + "..."


# --- DA801 -------------------------------------------------------------------------------------


@rule("DA801")
def deps_installed_after_code(project: Project) -> Iterator[Finding]:
    """The source code is copied before the dependency install of the same stage.

    ``COPY . .`` (or a source folder) followed by ``pip install -r``, ``uv sync``, ``npm ci``,
    ``poetry install``... means every code change invalidates the dependency layer and the build
    downloads and installs everything again. The manifests should be copied (or bind-mounted)
    first, the dependencies installed, and the code copied after. Quiet when the same ecosystem's
    dependencies were already installed before the copy (the two-step ``uv sync
    --no-install-project`` / ``poetry install --no-root`` pattern, a deps stage the stage is
    built from, or an environment copied in from a stage that installed them), and when none of
    the manifests the install reads is in the build context.
    """
    for path, document in _dockerfiles(project):
        context = _primary_context(project, path, document)
        for stage in document.stages:
            files = stage_files(project, stage, context)
            copies = files.code_copies()
            if not copies:
                continue
            manifest_installs: list[tuple[int, ManifestInstall]] = []
            for install in stage_installs(stage, inherited=True):
                found = manifest_install(stage, install)
                if found is not None:
                    manifest_installs.append((state_of(stage, install.instruction).order, found))
            reported: set[tuple[int, str]] = set()
            for order, found in manifest_installs:
                if found.install.instruction not in stage.instructions:
                    continue
                copy = next((c for c in copies if c.order < order), None)
                if copy is None or (copy.order, found.ecosystem) in reported:
                    continue
                if any(o < copy.order and f.ecosystem == found.ecosystem for o, f in manifest_installs):
                    continue
                if _deps_copied_in(project, context, stage, copy.order, found.ecosystem):
                    continue
                finding = _deps_after_code_finding(project, files, copy, found)
                if finding is not None:
                    reported.add((copy.order, found.ecosystem))
                    yield finding


def _deps_copied_in(project: Project, context: Context, stage: Stage, before: int, ecosystem: str) -> bool:
    """Does a ``COPY --from=<stage>`` before ``before`` bring an environment in which that stage
    installed dependencies of ``ecosystem`` (a venv, node_modules)?"""
    document = stage.dockerfile
    if document is None:
        return False
    for member in lineage(stage):
        for inst in member.instructions:
            if inst.keyword not in ("COPY", "ADD") or state_of(stage, inst).order >= before:
                continue
            ref = inst.flag("from")
            source = document.stage(ref) if ref and "$" not in ref else None
            if source is None or source is stage:
                continue
            for install in stage_installs(source, inherited=True):
                found = manifest_install(source, install)
                if found is not None and found.ecosystem == ecosystem:
                    return True
    return False


def _deps_after_code_finding(project: Project, files: StageFiles, copy: Placed,
                             found: ManifestInstall) -> Finding | None:
    install = found.install
    context = files.context
    # the manifests as context files (through the code copy or an earlier COPY of their own)
    names: list[str] = []
    targets: dict[str, str] = {}  # context file -> where the install expects it in the image
    for image_path in _manifest_paths(found):
        look = files.lookup(image_path, install.instruction)
        candidate = look.context_file if look.status == "yes" else None
        if candidate and files.exists(candidate) and candidate not in names:
            names.append(candidate)
            targets[candidate] = image_path
    if found.ecosystem == "node" and not any(posixpath.basename(n) in NODE_LOCKS for n in names) and names:
        folder = posixpath.dirname(names[0])
        for lock in NODE_LOCKS:
            candidate = posixpath.join(folder, lock) if folder else lock
            if files.exists(candidate):
                names.append(candidate)
                targets[candidate] = posixpath.join(posixpath.dirname(targets[names[0]]), lock)
                break
    if not names:
        return None  # the manifests are not in the context: generated, or a conditional install
    shown = [context.rel(n) for n in names]
    what = "the whole build context" if copy.context_path == (context.path or ".") else f"`{copy.source}`"
    listing = " and ".join(f"`{n}`" for n in shown)
    workdir = state_of(files.stage, install.instruction).workdir
    by_dest: dict[str, list[str]] = {}
    for name in names:
        folder = posixpath.dirname(targets[name])
        if folder == workdir:
            dest = "./"
        elif covers(workdir, folder) and workdir != "/":
            dest = posixpath.relpath(folder, workdir) + "/"
        else:
            dest = folder.rstrip("/") + "/"
        by_dest.setdefault(dest, []).append(context.rel(name))
    first = " and ".join(f"`COPY {' '.join(sources)} {dest}`" for dest, sources in by_dest.items())
    if install.manager == "uv-sync":
        step = (f"{first}, then `RUN uv sync --locked --no-install-project`, then "
                f"`{_copy_label(copy.inst)}` and a final `uv sync --locked`")
    elif install.manager == "poetry":
        step = f"{first}, then `RUN poetry install --no-root`, then `{_copy_label(copy.inst)}`"
    elif found.installs_project and install.manager in ("pip", "uv-pip") and not install.requirement_files:
        step = (f"{first} and install the dependencies alone (a requirements file exported from the lock, "
                f"or `uv sync --no-install-project`), then `{_copy_label(copy.inst)}` and install the "
                "project")
    else:
        step = f"{first}, then `RUN {_cmd_label(install)}`, then `{_copy_label(copy.inst)}`"
    return Finding(
        span=copy.inst.span if copy.inst.span.line == copy.inst.span.end_line else copy.inst.keyword_span,
        message=(f"`{_copy_label(copy.inst)}` copies {what} before `{_cmd_label(install)}` (line "
                 f"{install.span.line}): every source change invalidates the dependency layer, so each "
                 f"build reinstalls all packages; copy {listing} first and install before copying the code"),
        related=(Related(install.span, "the dependency install that runs after the code copy"),),
        fix=f"Reorder the stage: {step}.",
    )


# --- DA802 / DA803 ------------------------------------------------------------------------------


def _env_flag(stage: Stage, install: Install, *names: str) -> bool:
    env = state_of(stage, install.instruction).env
    return any(truthy(install.assignments.get(n)) or truthy(env.get(n)) for n in names)


def _project_folder(files: StageFiles, found: ManifestInstall, manifest: str) -> tuple[Lookup, str | None]:
    """Where the manifest the install reads comes from in the context (folder, root-relative)."""
    look = files.lookup(posixpath.join(found.cwd, manifest), found.install.instruction)
    if look.status == "yes" and look.context_file:
        return look, posixpath.dirname(look.context_file) or "."
    return look, None


def _sibling(folder: str, name: str) -> str:
    return name if folder in (".", "") else f"{folder}/{name}"


@rule("DA802")
def python_lock_not_enforced(project: Project) -> Iterator[Finding]:
    """A Python install that does not hold to the project's lock file.

    ``uv sync`` without ``--locked``/``--frozen`` (or ``UV_LOCKED``/``UV_FROZEN``) re-resolves and
    rewrites ``uv.lock`` when it is out of date; ``uv sync`` or ``poetry install`` without the lock
    file copied in resolves the newest versions at build time (``--locked``/``--frozen`` then fail);
    ``pip install .`` / ``uv pip install .`` ignore ``uv.lock`` altogether. Only reported when the
    lock file exists in the build context.
    """
    for path, document in _dockerfiles(project):
        context = _primary_context(project, path, document)
        for stage in document.stages:
            files = stage_files(project, stage, context)
            for install in stage_installs(stage):
                found = manifest_install(stage, install)
                if found is None or found.ecosystem != "python":
                    continue
                finding = _python_lock_finding(project, stage, files, found)
                if finding is not None:
                    yield finding


def _python_lock_finding(project: Project, stage: Stage, files: StageFiles,
                         found: ManifestInstall) -> Finding | None:
    install = found.install
    manager = install.manager
    if manager == "uv-sync":
        look, folder = _project_folder(files, found, "pyproject.toml")
        if folder is None:
            return None
        lock = _sibling(folder, "uv.lock")
        if not files.exists(lock):
            return None
        shown = files.context.rel(lock)
        lock_look = files.lookup(posixpath.join(found.cwd, "uv.lock"), install.instruction)
        strict = (install.has_option("--locked", "--frozen")
                  or _env_flag(stage, install, "UV_LOCKED", "UV_FROZEN"))
        if lock_look.status == "no":
            related = (Related(look.placed.inst.span, "pyproject.toml is copied here, without uv.lock"),) \
                if look.placed is not None else ()
            if strict:
                return Finding(
                    span=install.span,
                    message=(f"`{_cmd_label(install)}` needs uv.lock, but `{shown}` is never copied into "
                             f"{found.cwd}: the build fails (\"Unable to find lockfile\")"),
                    related=related,
                    fix="Copy the lock file with the project file: `COPY pyproject.toml uv.lock ./` (paths "
                        "as in your context), before the `uv sync`.",
                    severity=Severity.ERROR,
                )
            return Finding(
                span=install.span,
                message=(f"`{_cmd_label(install)}` runs without uv.lock (`{shown}` exists but is never "
                         f"copied into {found.cwd}): uv resolves the newest versions at build time, so the "
                         "image does not get the versions you locked"),
                related=related,
                fix="Copy uv.lock next to pyproject.toml before the sync and use `uv sync --locked` (or "
                    "`--frozen`).",
            )
        if lock_look.status == "yes" and not strict:
            return Finding(
                span=install.span,
                message=(f"`{_cmd_label(install)}` without `--locked` or `--frozen`: when `{shown}` is out "
                         "of date with pyproject.toml, uv re-resolves and installs different versions than "
                         "the lock file (the build neither fails nor tells you)"),
                related=(Related(lock_look.placed.inst.span, "uv.lock is copied "
                                                             "here"),) if lock_look.placed else (),
                fix="Use `uv sync --locked` (fails when the lock is stale) or `uv sync --frozen` (installs "
                    "exactly the lock), or set `ENV UV_LOCKED=1`.",
            )
        return None
    if manager == "poetry":
        look, folder = _project_folder(files, found, "pyproject.toml")
        if folder is None:
            return None
        lock = _sibling(folder, "poetry.lock")
        if not files.exists(lock):
            return None
        lock_look = files.lookup(posixpath.join(found.cwd, "poetry.lock"), install.instruction)
        if lock_look.status != "no":
            return None
        return Finding(
            span=install.span,
            message=(f"`{_cmd_label(install)}` runs without poetry.lock (`{files.context.rel(lock)}` exists "
                     f"but is never copied into {found.cwd}): Poetry resolves the newest versions at build "
                     "time instead of the locked ones"),
            related=(Related(look.placed.inst.span, "pyproject.toml is copied here, without poetry.lock"),)
            if look.placed is not None else (),
            fix="Copy poetry.lock with pyproject.toml before `poetry install`: `COPY pyproject.toml "
                "poetry.lock ./`.",
        )
    if manager in ("pip", "uv-pip") and found.installs_project and not install.requirement_files:
        look, folder = _project_folder(files, found, "pyproject.toml")
        if folder is None:
            return None
        lock = _sibling(folder, "uv.lock")
        if not files.exists(lock):
            return None
        tool = "pip" if manager == "pip" else "uv pip"
        return Finding(
            span=install.span,
            message=(f"`{_cmd_label(install)}` resolves the dependencies of pyproject.toml afresh: {tool} "
                     f"does not read `{files.context.rel(lock)}`, so the image gets whatever versions are "
                     "newest at build time, not the locked ones"),
            fix="Install from the lock: `uv sync --locked` (with uv in the image), or export it (`uv "
                "export --frozen --no-hashes -o requirements.txt`) and `pip install -r requirements.txt`.",
        )
    return None


@rule("DA803")
def node_lock_not_enforced(project: Project) -> Iterator[Finding]:
    """A Node.js install that does not hold to the lock file.

    ``npm install`` where a ``package-lock.json`` exists (use ``npm ci``: exact lock, fails when
    it is out of date), ``npm ci`` without the lock file copied in (the build fails), ``yarn
    install`` without ``--frozen-lockfile``/``--immutable``, ``pnpm install`` without
    ``--frozen-lockfile`` (both may rewrite the lock and install other versions).
    """
    for path, document in _dockerfiles(project):
        context = _primary_context(project, path, document)
        for stage in document.stages:
            files = stage_files(project, stage, context)
            for install in stage_installs(stage):
                found = manifest_install(stage, install)
                if found is None or found.ecosystem != "node":
                    continue
                finding = _node_lock_finding(stage, files, found)
                if finding is not None:
                    yield finding


def _node_lock_finding(stage: Stage, files: StageFiles, found: ManifestInstall) -> Finding | None:
    install = found.install
    look, folder = _project_folder(files, found, "package.json")
    if folder is None:
        return None
    rel = files.context.rel
    if install.manager == "npm":
        locks = [_sibling(folder, n) for n in ("package-lock.json", "npm-shrinkwrap.json")]
        existing = [lock for lock in locks if files.exists(lock)]
        lock_looks = [files.lookup(posixpath.join(found.cwd, posixpath.basename(lock)), install.instruction)
                      for lock in locks]
        copied = any(lk.status == "yes" for lk in lock_looks)
        unknown = any(lk.status == "unknown" for lk in lock_looks)
        if install.action == "ci":
            if copied or unknown:
                return None
            other = [_sibling(folder, n) for n in ("yarn.lock", "pnpm-lock.yaml")]
            if not existing and any(files.exists(o) for o in other):
                return None  # another manager's lock: a different problem
            if not existing and not files.context.from_compose:
                return None  # the build context is a guess: the lock may sit where the real context is
            where = (f"`{rel(existing[0])}` exists but is never copied into {found.cwd}" if existing
                     else "there is no package-lock.json in the build context")
            return Finding(
                span=install.span,
                message=(f"`{_cmd_label(install)}` needs package-lock.json next to package.json, but "
                         f"{where}: npm ci stops the build"),
                related=(Related(look.placed.inst.span, "package.json is copied "
                                                        "here"),) if look.placed else (),
                fix="Copy the lock file with package.json: `COPY package.json package-lock.json ./`"
                    + ("" if existing else " (run `npm install` locally and commit package-lock.json)") + ".",
                severity=Severity.ERROR,
            )
        if not existing:
            return None
        return Finding(
            span=install.span,
            message=(f"`{_cmd_label(install)}` with `{rel(existing[0])}` in the context: npm install may "
                     "update the lock file and install other versions than the ones locked; `npm ci` "
                     "installs exactly the lock and fails when it is out of date"),
            fix="Use `npm ci` (with `--omit=dev` for a production image), after copying package.json and "
                "package-lock.json.",
        )
    env = state_of(stage, install.instruction).env
    ci = truthy(env.get("CI")) or truthy(install.assignments.get("CI"))
    if install.manager == "yarn":
        lock = _sibling(folder, "yarn.lock")
        if not files.exists(lock) or ci:
            return None
        if install.has_option("--frozen-lockfile", "--immutable", "--pure-lockfile", "--offline"):
            return None
        if "workspaces-focus" in install.options:
            return None  # `yarn workspaces focus` installs a subset of what the lock holds
        return Finding(
            span=install.span,
            message=(f"`{_cmd_label(install)}` without `--frozen-lockfile` (Yarn 1) or `--immutable` (Yarn "
                     f"2+): when `{rel(lock)}` does not match package.json, yarn rewrites it and installs "
                     "other versions instead of failing"),
            fix="Use `yarn install --frozen-lockfile` (Yarn 1) or `yarn install --immutable` (Yarn 2+).",
        )
    if install.manager == "pnpm" and install.action == "install":
        lock = _sibling(folder, "pnpm-lock.yaml")
        if not files.exists(lock) or ci:
            return None
        if install.has_option("--frozen-lockfile", "--offline"):
            return None
        return Finding(
            span=install.span,
            message=(f"`{_cmd_label(install)}` without `--frozen-lockfile`: outside CI, pnpm updates "
                     f"`{rel(lock)}` when it is out of date instead of failing"),
            fix="Use `pnpm install --frozen-lockfile`.",
        )
    return None


# --- cache directories -------------------------------------------------------------------------


@dataclass
class CacheUse:
    """Where a package manager command keeps its download cache."""

    tool: str                 # "pip", "uv", "npm"
    directory: str | None     # absolute, None when unknown
    suffix: str               # e.g. ".cache/pip", to match when the home is unknown
    origin: str               # how the directory was found
    origin_span: Span | None
    disabled: str | None      # how the cache is switched off, if it is
    disabled_span: Span | None


_TOOL_OF = {"pip": "pip", "uv-pip": "uv", "uv-sync": "uv", "uv-tool": "uv", "uv": "uv", "npm": "npm"}


def cache_use(stage: Stage, install: Install) -> CacheUse | None:
    """The cache a pip / uv / npm command uses, or None for other commands."""
    tool = _TOOL_OF.get(install.manager)
    if tool is None:
        return None
    if install.manager == "uv" and install.action not in ("add",):
        return None
    if tool == "npm" and install.action not in ("install", "ci"):
        return None
    if tool == "pip" and install.action not in ("install", "download", "wheel"):
        return None
    inst = install.instruction
    state = state_of(stage, inst)
    env = {**state.env, **install.assignments}
    definitions = stage.env_definitions

    def env_span(name: str) -> Span | None:
        if name in install.assignments:
            return install.span
        defined = definitions.get(name)
        return defined.keyword_span if defined is not None else None

    home = state.home
    xdg = env.get("XDG_CACHE_HOME")
    if tool == "pip":
        suffix = ".cache/pip"
        disabled = None
        disabled_span = None
        if install.has_option("--no-cache-dir", "--no-cache", "--no-cache-d", "--no-cache-di"):
            disabled, disabled_span = "`--no-cache-dir`", install.span  # pip accepts unique prefixes
        elif truthy(env.get("PIP_NO_CACHE_DIR")):
            disabled = f"PIP_NO_CACHE_DIR={env.get('PIP_NO_CACHE_DIR')}"
            disabled_span = env_span("PIP_NO_CACHE_DIR")
        option = install.option_value("--cache-dir")
        if option:
            return CacheUse(tool, norm(posixpath.join(state.workdir, option)), suffix, "--cache-dir",
                            install.span, disabled, disabled_span)
        if env.get("PIP_CACHE_DIR"):
            return CacheUse(tool, norm(env["PIP_CACHE_DIR"] or ""), suffix, "PIP_CACHE_DIR",
                            env_span("PIP_CACHE_DIR"), disabled, disabled_span)
        if xdg:
            return CacheUse(tool, norm(posixpath.join(xdg, "pip")), suffix, "XDG_CACHE_HOME",
                            env_span("XDG_CACHE_HOME"), disabled, disabled_span)
        directory = posixpath.join(home, suffix) if home else None
        return CacheUse(tool, directory, suffix, f"the default for user {state.user or 'root'}", None,
                        disabled, disabled_span)
    if tool == "uv":
        suffix = ".cache/uv"
        disabled = None
        disabled_span = None
        if install.has_option("--no-cache", "-n"):
            disabled, disabled_span = "`--no-cache`", install.span
        elif truthy(env.get("UV_NO_CACHE")):
            disabled, disabled_span = f"UV_NO_CACHE={env.get('UV_NO_CACHE')}", env_span("UV_NO_CACHE")
        option = install.option_value("--cache-dir")
        if option:
            return CacheUse(tool, norm(posixpath.join(state.workdir, option)), suffix, "--cache-dir",
                            install.span, disabled, disabled_span)
        if env.get("UV_CACHE_DIR"):
            return CacheUse(tool, norm(env["UV_CACHE_DIR"] or ""), suffix, "UV_CACHE_DIR",
                            env_span("UV_CACHE_DIR"), disabled, disabled_span)
        if xdg:
            return CacheUse(tool, norm(posixpath.join(xdg, "uv")), suffix, "XDG_CACHE_HOME",
                            env_span("XDG_CACHE_HOME"), disabled, disabled_span)
        directory = posixpath.join(home, suffix) if home else None
        return CacheUse(tool, directory, suffix, f"the default for user {state.user or 'root'}", None,
                        disabled, disabled_span)
    # npm
    suffix = ".npm"
    option = install.option_value("--cache")
    if option:
        return CacheUse(tool, norm(posixpath.join(state.workdir, option)), suffix, "--cache", install.span,
                        None, None)
    for name in ("npm_config_cache", "NPM_CONFIG_CACHE"):
        if env.get(name):
            return CacheUse(tool, norm(env[name] or ""), suffix, name, env_span(name), None, None)
    directory = posixpath.join(home, suffix) if home else None
    return CacheUse(tool, directory, suffix, f"the default for user {state.user or 'root'}", None, None, None)


def mount_covers(mount: Mount, use: CacheUse) -> bool:
    """Does a cache/tmpfs mount hold the tool's cache directory?"""
    if mount.type not in ("cache", "tmpfs") or not mount.target:
        return False
    if use.directory is not None:
        return covers(mount.target, use.directory)
    target = mount.target.rstrip("/")
    if target.endswith("/" + use.suffix):
        return True
    return target.endswith("/.cache") and use.suffix.startswith(".cache/")


def _removes(commands: list[tuple[Command, Span]], directory: str | None) -> bool:
    """Does the RUN delete ``directory`` (``rm -rf <dir>``, a parent, or ``<dir>/*``)?"""
    if directory is None:
        return False
    for command, _span in commands:
        if command.name != "rm":
            continue
        for word in command.words[1:]:
            if word.startswith("-"):
                continue
            target = word.rstrip("*").rstrip("/") if word.endswith("/*") else word
            target = target.replace("$HOME", "/root").replace("${HOME}", "/root").replace("~", "/root", 1)
            if target.startswith("/") and covers(target, directory):
                return True
            if target.startswith("/") and covers(directory, target) and word.endswith("*"):
                return True
    return False


def _cleans(commands: list[tuple[Command, Span]], tool: str) -> bool:
    for command, _span in commands:
        words = [posixpath.basename(command.words[0]), *command.words[1:]] if command.words else []
        if tool == "pip" and len(words) >= 3 and words[0].startswith("pip") and words[1] == "cache" \
                and words[2] in ("purge", "remove"):
            return True
        if tool == "pip" and words[:1] and words[0].startswith("python") and "-m" in words \
                and "pip" in words and "cache" in words and ("purge" in words or "remove" in words):
            return True
        if tool == "uv" and words[:1] == ["uv"] and "cache" in words \
                and ("clean" in words or "prune" in words):
            return True
        if tool == "uv" and words[:2] == ["uv", "clean"]:
            return True
        if tool == "npm" and words[:2] == ["npm", "cache"] and ("clean" in words or "rm" in words):
            return True
    return False


@dataclass
class _RunFacts:
    stage: Stage
    inst: Instruction
    mounts: list[Mount]
    installs: list[Install]
    commands: list[tuple[Command, Span]]


def _runs(stage: Stage) -> Iterator[_RunFacts]:
    for inst in stage.instructions:
        if inst.keyword != "RUN":
            continue
        yield _RunFacts(stage, inst, mounts_of(stage, inst), installs_of(stage, inst), run_commands(inst))


# --- DA804 / DA805 ------------------------------------------------------------------------------


@rule("DA804")
def pip_cache_in_layer(project: Project) -> Iterator[Finding]:
    """``pip install`` keeps its download cache in a layer of a shipped image.

    pip stores every downloaded wheel in ``~/.cache/pip``; in a ``RUN`` without ``--no-cache-dir``,
    ``PIP_NO_CACHE_DIR`` or a cache mount, that copy of every package ships in the image (often
    hundreds of MB with torch). Only stages that end up in a shipped image are checked: a builder
    stage's cache is left behind unless its filesystem is copied.
    """
    for path, document in _dockerfiles(project):
        for stage in shipped_stages(project, path, document):
            for facts in _runs(stage):
                hits: list[tuple[Install, CacheUse]] = []
                for install in facts.installs:
                    if install.manager != "pip" or install.action != "install":
                        continue
                    use = cache_use(stage, install)
                    if use is None or use.disabled:
                        continue
                    if any(mount_covers(m, use) for m in facts.mounts):
                        continue
                    if _removes(facts.commands, use.directory) or _cleans(facts.commands, "pip"):
                        continue
                    hits.append((install, use))
                if not hits:
                    continue
                install, use = hits[0]
                where = use.directory or f"~/{use.suffix}"
                more = f" (and {len(hits) - 1} more pip install in this RUN)" if len(hits) > 1 else ""
                yield Finding(
                    span=install.span,
                    message=(f"`{_cmd_label(install)}`{more} leaves pip's download cache ({where}) in this "
                             "layer of the image: every wheel is stored twice"),
                    fix=("Add `--no-cache-dir`, or set `ENV PIP_NO_CACHE_DIR=1`, or keep the cache out of "
                         "the image with `RUN "
                         f"--mount=type=cache,target={use.directory or '/root/.cache/pip'} ...`."),
                )


@rule("DA805")
def uv_cache_in_layer(project: Project) -> Iterator[Finding]:
    """``uv sync`` / ``uv pip install`` keeps uv's cache in a layer of a shipped image.

    Without ``--no-cache``, ``UV_NO_CACHE`` or a cache mount, uv's cache (``~/.cache/uv`` or
    ``UV_CACHE_DIR``) is written into the image. With uv's default hardlink mode the installed
    files share storage with the cache, so the loss is moderate (note); with ``UV_LINK_MODE=copy``
    or ``--link-mode copy`` every installed file is stored twice (warning).
    """
    for path, document in _dockerfiles(project):
        for stage in shipped_stages(project, path, document):
            for facts in _runs(stage):
                for install in facts.installs:
                    if _TOOL_OF.get(install.manager) != "uv" or not install.is_install:
                        continue
                    use = cache_use(stage, install)
                    if use is None or use.disabled:
                        continue
                    if any(mount_covers(m, use) for m in facts.mounts):
                        continue
                    if _removes(facts.commands, use.directory) or _cleans(facts.commands, "uv"):
                        continue
                    if install is not _first_uv(stage, facts):
                        continue
                    env = {**state_of(stage, facts.inst).env, **install.assignments}
                    link_mode = install.option_value("--link-mode") or env.get("UV_LINK_MODE") or ""
                    copies = link_mode.strip().lower() == "copy"
                    where = use.directory or f"~/{use.suffix}"
                    message = (f"`{_cmd_label(install)}` writes uv's cache ({where}) into this layer of the "
                               "image"
                               + (": with link mode `copy` every installed file is stored "
                                  "twice" if copies else
                                  " (archives and built wheels the running container never uses)"))
                    yield Finding(
                        span=install.span,
                        message=message,
                        fix=("Mount the cache: `RUN "
                             f"--mount=type=cache,target={use.directory or '/root/.cache/uv'} "
                             f"{_cmd_label(install)}`, or add `--no-cache` (or `ENV UV_NO_CACHE=1`)."),
                        severity=Severity.WARNING if copies else Severity.NOTE,
                    )


def _first_uv(stage: Stage, facts: _RunFacts) -> Install | None:
    """The first uv install of a RUN that writes a cache (one finding per RUN)."""
    for install in facts.installs:
        if _TOOL_OF.get(install.manager) == "uv" and install.is_install:
            use = cache_use(stage, install)
            if use is not None and not use.disabled and not any(mount_covers(m, use) for m in facts.mounts):
                return install
    return None


# --- DA806 ------------------------------------------------------------------------------------


@rule("DA806")
def cache_mount_defeated(project: Project) -> Iterator[Finding]:
    """A BuildKit cache mount that the same RUN switches off or empties.

    ``--mount=type=cache,target=/root/.cache/pip`` with ``pip install --no-cache-dir`` (or
    ``PIP_NO_CACHE_DIR`` in effect), a uv cache mount with ``--no-cache``/``UV_NO_CACHE``, an apk
    cache mount with ``apk add --no-cache``, or a RUN that deletes the mounted folder
    (``rm -rf /var/lib/apt/lists/*`` over a ``/var/lib/apt`` cache mount, ``apt-get clean`` over
    ``/var/cache/apt``): the mount is kept empty and every build downloads everything again.
    """
    for _path, document in _dockerfiles(project):
        for stage in document.stages:
            for facts in _runs(stage):
                caches = [m for m in facts.mounts if m.type == "cache" and m.target]
                if not caches:
                    continue
                yield from _defeated_by_options(stage, facts, caches)
                yield from _defeated_by_cleanup(facts, caches)


def _defeated_by_options(stage: Stage, facts: _RunFacts, caches: list[Mount]) -> Iterator[Finding]:
    reported: set[int] = set()
    for install in facts.installs:
        use = cache_use(stage, install)
        if use is not None and use.disabled:
            mount = next((m for m in caches if mount_covers(m, use)), None)
            if mount is None or id(mount) in reported:
                continue
            reported.add(id(mount))
            related = (Related(use.disabled_span, f"{use.disabled} switches the cache off"),) \
                if use.disabled_span is not None and use.disabled_span != install.span else ()
            yield Finding(
                span=mount.span,
                message=(f"the cache mount at {mount.target} is never used: {use.disabled} turns "
                         f"{use.tool}'s cache off for `{_cmd_label(install)}`, so every build downloads all "
                         "packages again"),
                related=related,
                fix=(f"Keep the mount and drop {use.disabled}: the cache lives outside the image, so it "
                     "costs no image size."),
            )
        if install.manager == "apk" and install.action == "add" and install.has_option("--no-cache"):
            mount = next((m for m in caches if covers(m.target or "/", "/var/cache/apk")
                          or covers("/var/cache/apk", m.target or "/")), None)
            if mount is not None and id(mount) not in reported:
                reported.add(id(mount))
                yield Finding(
                    span=mount.span,
                    message=(f"the cache mount at {mount.target} is never used: `apk add --no-cache` "
                             "neither reads nor writes /var/cache/apk"),
                    fix="With the cache mount, drop `--no-cache` (and link the cache: `ln -s "
                        "/var/cache/apk /etc/apk/cache`), or drop the mount.",
                )


def _defeated_by_cleanup(facts: _RunFacts, caches: list[Mount]) -> Iterator[Finding]:
    for command, span in facts.commands:
        name = command.name
        deleted: str | None = None
        if name == "rm":
            for word in command.words[1:]:
                if word.startswith("-") or not word.startswith("/"):
                    continue
                target = word[:-2] if word.endswith("/*") else word
                for mount in caches:
                    if mount.target and (covers(mount.target, target) and target != "/"):
                        deleted = mount.target
                        break
                if deleted:
                    break
        elif name in ("apt-get", "apt") and command.words[1:2] == ["clean"]:
            for mount in caches:
                if mount.target and covers(mount.target, "/var/cache/apt/archives"):
                    deleted = mount.target
                    break
        if deleted is None:
            continue
        mount = next(m for m in caches if m.target == deleted)
        yield Finding(
            span=span,
            message=(f"`{' '.join(command.words)[:60]}` empties the cache mount at {deleted}: what the "
                     "mount should keep between builds is deleted at the end of every build, and deleting "
                     "it saves no image space (a cache mount is not part of the layer)"),
            related=(Related(mount.span, "the cache mount"),),
            fix="Drop the cleanup of the mounted folder; keep cleanups only for folders that are not "
                "mounted.",
        )


# --- DA807 ------------------------------------------------------------------------------------

_TOOL_TOKENS = {"pip": {"pip"}, "uv": {"uv"}, "npm": {"npm"}}
_RELATED_TOOLS = {"pip": {"uv"}, "uv": {"pip"}, "npm": set()}
_KNOWN_CACHE_DIRS = ("/var/cache/apt", "/var/lib/apt", "/var/cache/apk", "/var/cache/dnf", "/var/cache/yum")


def _tokens(text: str) -> set[str]:
    return {t for t in re.split(r"[/_\-.:=,]+", text.lower()) if t}


@rule("DA807")
def cache_mount_wrong_target(project: Project) -> Iterator[Finding]:
    """A cache mount that is not where the tool keeps its cache.

    uv caches in ``UV_CACHE_DIR`` (the ENV in effect) or ``$HOME/.cache/uv`` of the current user,
    pip in ``PIP_CACHE_DIR`` or ``~/.cache/pip``, npm in ``npm_config_cache`` or ``~/.npm``. A mount
    at ``/root/.cache/pip`` for ``uv pip install``, or at ``/root/.cache/uv`` while ``ENV
    UV_CACHE_DIR=/opt/uv-cache`` is set, stays empty: every build downloads all packages again, and
    the real cache goes into the image layer. Only mounts that look meant for that tool are
    reported (their path or id names it).
    """
    for _path, document in _dockerfiles(project):
        for stage in document.stages:
            for facts in _runs(stage):
                caches = [m for m in facts.mounts if m.type == "cache" and m.target]
                if not caches:
                    continue
                uses = []
                for install in facts.installs:
                    use = cache_use(stage, install)
                    if use is not None and not use.disabled:
                        uses.append((install, use))
                if not uses:
                    continue

                def used(mount: Mount, uses: list[tuple[Install, CacheUse]] = uses) -> bool:
                    if any(mount_covers(mount, u) for _i, u in uses):
                        return True
                    return any(covers(mount.target or "/", d) or covers(d, mount.target or "/")
                               for d in _KNOWN_CACHE_DIRS)

                uncovered = [
                    (i, u)
                    for i, u in uses
                    if u.directory is not None and not any(mount_covers(m, u) for m in caches)
                ]
                for mount in caches:
                    if used(mount):
                        continue
                    tokens = _tokens(mount.target or "") | _tokens(mount.id or "")
                    direct = [(i, u) for i, u in uncovered if tokens & _TOOL_TOKENS[u.tool]]
                    related_uses = [
                        (i, u)
                        for i, u in uncovered
                        if tokens & set().union(*(_TOOL_TOKENS[t] for t in _RELATED_TOOLS[u.tool]))
                    ]
                    chosen = (direct or related_uses)[:1]
                    if not chosen:
                        continue
                    install, use = chosen[0]
                    related = (
                        (
                            Related(
                                use.origin_span, f"{use.origin} sets {use.tool}'s cache to {use.directory}"
                            ),
                        )
                        if use.origin_span is not None
                        else ()
                    )
                    variable = {"uv": "UV_CACHE_DIR", "pip": "PIP_CACHE_DIR"}.get(
                        use.tool, "npm_config_cache"
                    )
                    yield Finding(
                        span=mount.span,
                        message=(
                            f"cache mount at {mount.target}, but `{_cmd_label(install)}` keeps its cache in "
                            f"{use.directory} ({use.origin}): the mount stays empty, every build downloads "
                            "everything again and the cache is written into the image instead"
                        ),
                        related=related,
                        fix=f"Mount the folder the tool uses: `--mount=type=cache,target={use.directory}` "
                        f"(or point the tool at the mount: `ENV {variable}={mount.target}`).",
                    )


# --- DA808 ------------------------------------------------------------------------------------


@rule("DA808")
def cache_mount_not_writable(project: Project) -> Iterator[Finding]:
    """A cache mount used by a non-root USER without ``uid=``.

    BuildKit creates a cache mount owned by root (uid 0, mode 0755) unless ``uid``/``gid``/``mode``
    say otherwise. After ``USER app`` the command cannot write to it: pip warns and disables its
    cache, uv and npm fail with "Permission denied" or fall back, so the mount does nothing or
    breaks the build.
    """
    for _path, document in _dockerfiles(project):
        for stage in document.stages:
            for facts in _runs(stage):
                state = state_of(stage, facts.inst)
                if is_root_user(state.user):
                    continue
                for mount in facts.mounts:
                    if mount.type != "cache" or not mount.target:
                        continue
                    writable_mode = bool(mount.mode) and (mount.mode or "").lstrip("0")[-1:] in ("7", "6")
                    if mount.uid not in (None, "0") or writable_mode:
                        continue
                    user_inst = _last_user_before(stage, state.order)
                    related = (Related(user_inst.span, f"USER {state.user} is in effect "
                                                       "here"),) if user_inst else ()
                    yield Finding(
                        span=mount.span,
                        message=(f"cache mount at {mount.target} without `uid=`: BuildKit creates it owned "
                                 f"by root (mode 0755), so USER {state.user} cannot write to it and the "
                                 "cache is not used (or the command fails with \"Permission denied\")"),
                        related=related,
                        fix=("Give the mount the user's ids: "
                             f"`--mount=type=cache,target={mount.target},uid=<uid of "
                             f"{state.user}>,gid=<gid>`, or run this RUN before `USER`."),
                    )


def _last_user_before(stage: Stage, order: int) -> Instruction | None:
    found = None
    for inst, st in states(stage).items():
        if inst.keyword == "USER" and st.order < order:
            found = inst
    return found


# --- DA809 ------------------------------------------------------------------------------------


@rule("DA809")
def copy_whole_filesystem(project: Project) -> Iterator[Finding]:
    """``COPY --from=<stage> / /``: the whole filesystem of a build stage is copied.

    Everything the build stage holds comes along: compilers and ``-dev`` packages, package
    caches, the source tree, apt lists, shells and tools the runtime does not need, and the
    stage's own base image files over the runtime's (mismatched libraries). Copy only what the
    runtime needs (a virtualenv, ``/usr/local``, the build output). A stage built ``FROM scratch``
    (an export stage) is fine to copy whole.
    """
    for _path, document in _dockerfiles(project):
        for stage in document.stages:
            for inst in stage.instructions:
                if inst.keyword not in ("COPY", "ADD"):
                    continue
                source_ref = inst.flag("from")
                if not source_ref or "$" in source_ref:
                    continue
                source_stage = document.stage(source_ref)
                if source_stage is None or source_stage.is_scratch:
                    continue
                built = any(i.keyword == "RUN" for m in lineage(source_stage) for i in m.instructions)
                if not built:
                    continue  # an image used as-is (a binaries or helper image such as tonistiigi/xx)
                if source_stage.external_image is None or "$" in (source_stage.external_image or ""):
                    continue
                words = _copy_words(inst)
                if len(words) < 2:
                    continue
                whole = [w for w in words[:-1] if w.strip() in ("/", "/.", "/*", "/./")]
                if not whole:
                    continue
                yield Finding(
                    span=inst.span if inst.span.line == inst.span.end_line else inst.keyword_span,
                    message=(f"`{_copy_label(inst)}` copies the whole filesystem of {source_stage.label} "
                             f"(built on `{source_stage.external_image or source_stage.base}`): its "
                             "compilers, caches, sources and base-image files all land in this image"),
                    related=(Related(source_stage.from_instruction.span, "the stage that is copied whole"),),
                    fix="Copy only what the runtime needs from the build stage, e.g. `COPY "
                        f"--from={source_ref} /opt/venv /opt/venv` or the build output folder.",
                )


# --- DA810 ------------------------------------------------------------------------------------

_DEV_FLAGS = {"npm": ("--omit=dev", "--production", "--only=production", "--only=prod", "--omit"),
              "yarn": ("--production", "--prod"),
              "pnpm": ("--prod", "-P", "--production")}


def _dev_install(stage: Stage, install: Install) -> bool:
    if install.manager == "npm" and install.action in ("ci", "install") and not install.packages:
        if install.has_option(*_DEV_FLAGS["npm"]):
            return False
        env = {**state_of(stage, install.instruction).env, **install.assignments}
        return env.get("NODE_ENV", "") != "production" and "npm_config_omit" not in env \
            and "NPM_CONFIG_OMIT" not in env and "npm_config_production" not in env
    if install.manager in ("yarn", "pnpm") and install.action == "install" and not install.packages:
        if install.has_option(*_DEV_FLAGS[install.manager]):
            return False
        env = {**state_of(stage, install.instruction).env, **install.assignments}
        return env.get("NODE_ENV", "") != "production"
    return False


def _prunes(stage: Stage, install: Install) -> bool:
    """Are the devDependencies removed again after ``install`` (prune, a production reinstall, rm)?"""
    after = state_of(stage, install.instruction).order
    position = (install.span.line, install.span.column)

    def later(inst: Instruction, span: Span) -> bool:
        order = state_of(stage, inst).order
        return order > after or (order == after and (span.line, span.column) > position)

    for other in stage_installs(stage, inherited=True):
        if other is install or not later(other.instruction, other.span):
            continue
        if other.manager in ("npm", "pnpm") and other.action == "prune":
            return True
        if other.manager in ("npm", "yarn", "pnpm") and other.action in ("ci", "install") \
                and not _dev_install(stage, other) and not other.packages:
            return True
    for member in lineage(stage):
        for inst in member.instructions:
            if inst.keyword != "RUN":
                continue
            for command, span in run_commands(inst):
                if command.name == "rm" and later(inst, span) \
                        and any("node_modules" in w for w in command.words[1:]):
                    return True
    return False


@rule("DA810")
def copy_build_tree_with_dev_deps(project: Project) -> Iterator[Finding]:
    """The runtime stage copies a build stage's whole source tree, devDependencies included.

    ``COPY --from=builder /app /app`` (or ``/app/node_modules``) where the builder did ``COPY . .``
    and ``npm ci`` / ``yarn install`` / ``pnpm install`` without a production flag and never
    pruned: the image ships the sources, tests and every devDependency (often hundreds of MB)
    next to the build output. Heuristic: only Node.js installs are recognised; a Python virtualenv
    copied from a builder is the recommended pattern and is not reported.
    """
    for path, document in _dockerfiles(project):
        context = _primary_context(project, path, document)
        shipped = shipped_stages(project, path, document)
        for stage in shipped:
            for inst in stage.instructions:
                if inst.keyword not in ("COPY", "ADD"):
                    continue
                ref = inst.flag("from")
                if not ref or "$" in ref:
                    continue
                source = document.stage(ref)
                if source is None or source in shipped:
                    continue
                finding = _dev_tree_copy(project, context, stage, inst, source)
                if finding is not None:
                    yield finding


def _dev_tree_copy(project: Project, context: Context, stage: Stage, inst: Instruction,
                   source: Stage) -> Finding | None:
    files = stage_files(project, source, context)
    copies = [c for c in files.code_copies() if c.context_path == (context.path or ".")]
    if not copies:
        for member in lineage(source)[1:]:
            copies = [c for c in stage_files(project, member, context).code_copies()
                      if c.context_path == (context.path or ".")]
            if copies:
                break
    if not copies:
        return None
    tree = copies[0]
    dev = None
    for install in stage_installs(source, inherited=True):
        if _dev_install(source, install):
            found = manifest_install(source, install)
            if found is not None:
                dev = (install, found)
    if dev is None:
        return None
    install, found = dev
    if _prunes(source, install):
        return None
    modules = norm(posixpath.join(found.cwd, "node_modules"))
    words = _copy_words(inst)
    source_words = words[:-1]
    build_dir = tree.image_path
    hit = None
    for word in source_words:
        if "$" in word:
            continue
        copied = norm(posixpath.join(source.workdir, word))
        if copied == modules or (covers(copied, build_dir) and covers(copied, modules)):
            hit = copied
            break
    if hit is None:
        return None
    what = "its node_modules" if hit == modules else f"{hit} (the source tree and node_modules)"
    return Finding(
        span=inst.span if inst.span.line == inst.span.end_line else inst.keyword_span,
        message=(f"`{_copy_label(inst)}` copies {what} from {source.label}, where `{_cmd_label(install)}` "
                 "installed the devDependencies too: the runtime image ships build tools and test "
                 "libraries it never uses"),
        related=(Related(install.span, "devDependencies installed here"),
                 Related(tree.inst.span, "the whole context is copied here")),
        fix="Install production dependencies for the runtime (`npm ci --omit=dev` in a deps stage, or `npm "
            "prune --omit=dev` after the build) and copy only the build output (e.g. `.next/standalone`, "
            "`dist/`).",
    )


# --- DA811: runs as root ----------------------------------------------------------------------

#: programs that drop privileges when the container starts
_PRIVILEGE_DROPPERS = frozenset({"gosu", "su-exec", "setpriv", "runuser", "chroot", "s6-setuidgid", "chpst",
                                 "setuidgid", "su"})
#: one-shot commands: the image is a tool or a job, not a service
_ONE_SHOT = frozenset({"pytest", "py.test", "tox", "nox", "alembic", "make", "echo", "true", "ruff",
                       "mypy", "black", "flake8", "pylint", "jest", "vitest", "mocha", "eslint", "tsc",
                       "prisma", "migrate", "bash", "sh", "ash", "zsh", "python-repl", "pip", "uv",
                       "poetry", "cat", "ls", "sleep"})
_ONE_SHOT_PY_MODULES = frozenset({"pytest", "pip", "alembic", "unittest", "build", "twine", "mypy", "ruff"})
_ONE_SHOT_NPM = frozenset({"test", "build", "lint", "migrate", "typecheck", "format"})
#: programs that serve: a long-running process with a port
_SERVERS = frozenset({"uvicorn", "gunicorn", "hypercorn", "daphne", "granian", "waitress-serve",
                      "streamlit", "nginx", "caddy", "httpd", "apache2-foreground", "node", "next", "nuxt",
                      "php-fpm", "serve", "http-server", "fastapi", "flask", "supervisord", "uwsgi",
                      "java", "deno", "bun", "pm2-runtime", "vllm", "text-generation-launcher",
                      "tritonserver"})


def _words_of(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(w) for w in value]
    from dockaudit.shell import split_commands

    commands = split_commands(str(value))
    return commands[0].words if commands else []


def _stage_start(stage: Stage) -> tuple[list[str], list[str]]:
    """(ENTRYPOINT words, CMD words) of a stage lineage."""
    entry: list[str] = []
    cmd: list[str] = []
    for member in reversed(lineage(stage)):
        for inst in member.instructions:
            if inst.keyword == "ENTRYPOINT":
                entry = list(inst.json_args) if inst.json_args is not None else _words_of(inst.value)
                cmd = []
            elif inst.keyword == "CMD":
                cmd = list(inst.json_args) if inst.json_args is not None else _words_of(inst.value)
    return entry, cmd


def _effective_words(stage: Stage, link: ServiceBuild | None) -> list[str]:
    if link is not None:
        start = start_command(link)
        return list(start.words or []) if start is not None else []
    entry, cmd = _stage_start(stage)
    words = entry + cmd
    while words and posixpath.basename(words[0]) in ("dumb-init", "tini", "catatonit", "env"):
        words = words[1:]
        while words and words[0].startswith("-"):
            words = words[1:]
    return words


def is_one_shot(words: list[str]) -> bool:
    """Does the command run a job or a tool rather than a service?"""
    if not words:
        return False
    program = posixpath.basename(words[0])
    args = words[1:]
    if program in ("sh", "bash", "ash", "dash", "zsh") and "-c" in args:
        index = args.index("-c")
        if index + 1 < len(args):
            from dockaudit.shell import split_commands

            inner = split_commands(args[index + 1])
            if inner:
                return is_one_shot(inner[-1].words)
        return False
    if program in _ONE_SHOT:
        return True
    if re.match(r"^python[\d.]*$", program):
        if "-m" in args:
            index = args.index("-m")
            module = args[index + 1] if index + 1 < len(args) else ""
            return module in _ONE_SHOT_PY_MODULES
        if not args:
            return True  # a REPL
        script = next((a for a in args if not a.startswith("-")), "")
        base = posixpath.basename(script)
        if base == "manage.py":
            return any(a in ("migrate", "test", "collectstatic", "shell") for a in args)
        return base.startswith(("test", "migrate", "download", "build", "export"))
    if program in ("npm", "yarn", "pnpm", "bun"):
        rest = [a for a in args if not a.startswith("-")]
        if rest[:1] == ["run"]:
            rest = rest[1:]
        return bool(rest) and rest[0] in _ONE_SHOT_NPM
    if program in ("npx",):
        rest = [a for a in args if not a.startswith("-")]
        return bool(rest) and rest[0] in ("prisma", "jest", "vitest", "tsc", "eslint", "knex", "sequelize",
                                          "typeorm", "drizzle-kit")
    return False


def _serves(stage: Stage, words: list[str], links: list[ServiceBuild]) -> bool:
    if any(inst.keyword == "EXPOSE" for member in lineage(stage) for inst in member.instructions):
        return True
    if any(link.service.ports or link.service.expose for link in links):
        return True
    return _serves_command(words)


#: base images known to start as a non-root user (tag patterns)
_NONROOT_BASES = (
    re.compile(r"^(?:gcr\.io|cgr\.dev)/.*:(?:[\w.-]*-)?nonroot$"),
    re.compile(r"^gcr\.io/distroless/.*:(?:debug-)?nonroot(?:-[\w.-]+)?$"),
)
#: images that run as root by design (the master process binds privileged ports, then drops)
_ROOT_BY_DESIGN = ("nginx", "httpd", "caddy", "haproxy", "traefik", "docker", "postgres", "mysql", "mariadb",
                   "redis", "mongo")


def _base_runs_as_root(stage: Stage) -> bool | None:
    """True when the stage's base image is known to start as root, False when known non-root,
    None when unknown (the rule then stays quiet)."""
    from dockaudit.knowledge import base_image_provides, parse_image

    image = stage.external_image
    if image is None or "$" in image:
        return None  # scratch (static binaries, export images) or unresolved
    if any(p.match(image) for p in _NONROOT_BASES):
        return False
    ref = parse_image(image)
    repository = ref.name.rsplit("/", 1)[-1] if ref.name.startswith(("library/", "docker.io/")) else ref.name
    if repository in _ROOT_BY_DESIGN:
        return None
    facts = base_image_provides(image)
    if facts is None:
        return None
    if facts.family in _ROOT_BY_DESIGN or facts.profile.startswith("nginx"):
        return None
    return "nonroot" not in (ref.tag or "")


#: daemons that start as root and switch to their own user (config ``user``/``uid``), or
#: supervisors whose services do
_SELF_DROPPING = frozenset({"nginx", "httpd", "apache2", "apache2-foreground", "apache2ctl", "php-fpm",
                            "uwsgi", "postfix", "dovecot", "unbound", "rspamd", "sshd", "cron", "crond",
                            "supervisord", "s6-svscan", "init", "runsvdir", "haproxy", "squid", "named",
                            "clamd", "freshclam", "postgres", "mysqld", "mariadbd", "memcached", "sogod",
                            "caddy", "openresty", "lighttpd", "systemd", "tini-init"})
#: programs that are not entrypoint scripts (an interpreter or a server runs the command itself)
_PROGRAMS = _SERVERS | _ONE_SHOT | frozenset({
    "python", "python3", "node", "npm", "npx", "yarn", "pnpm", "bun", "deno", "java", "dumb-init", "tini",
    "uv", "uvx", "poetry", "celery", "rq", "dramatiq", "huey", "arq", "dotnet", "ruby", "bundle", "rails",
    "php"
})


def _is_script(word: str) -> bool:
    name = posixpath.basename(word)
    return name not in _PROGRAMS and not re.match(r"^python[\d.]*$", name)


def _drops_privileges(project: Project, stage: Stage, context: Context, words: list[str]) -> bool | None:
    """True when the start command switches user (gosu, a daemon that drops root itself, an
    entrypoint script that does either); None when it runs a script dockaudit cannot read."""
    names = [posixpath.basename(w) for w in words[:3]]
    if any(n in _PRIVILEGE_DROPPERS or n in _SELF_DROPPING for n in names):
        return True
    for install in stage_installs(stage, inherited=True):
        if any(re.split(r"[=<>~]", p, maxsplit=1)[0] in ("gosu", "su-exec") for p in install.packages):
            return True
    entry, _cmd = _stage_start(stage)
    candidates = [w for w in (entry[:2] + words[:2]) if w and not w.startswith("-")]
    scripts = [w for w in candidates if w.endswith(".sh") or ("/" in w and _is_script(w))]
    if not scripts:
        return False
    script = scripts[0]
    files = stage_files(project, stage, context)
    look = files.lookup(norm(posixpath.join(stage.workdir, script)), None)
    if look.status != "yes" or not look.context_file:
        return None
    name = posixpath.basename(look.context_file).lower()
    size = project.tree.files.get(look.context_file, 1 << 30)
    if size > 64 * 1024 or not (name.endswith((".sh", ".bash")) or "entrypoint" in name or "start" in name):
        return None  # a binary or a program dockaudit does not read
    source = project.source(look.context_file)
    if source is None:
        return None
    from dockaudit.shell import split_commands

    for command in split_commands(source.text):
        name = command.name
        if name in _PRIVILEGE_DROPPERS or name in _SELF_DROPPING:
            return True
        if name == "exec" and any(posixpath.basename(w) in _PRIVILEGE_DROPPERS | _SELF_DROPPING
                                  for w in command.words[1:3]):
            return True
    return False


@rule("DA811")
def runs_as_root(project: Project) -> Iterator[Finding]:
    """The image's container runs as root: no ``USER`` in the runtime stage (or ``USER root``).

    A process running as root inside the container is root on the host's kernel: a code
    execution bug or a container escape gets full privileges, and files it writes to bind mounts
    are owned by root. Quiet when the base image is known to start as a non-root user
    (distroless ``nonroot``), when every compose service running the image sets ``user:``, when
    the start command switches user (gosu, su-exec), for base images that run as root by design
    (nginx, postgres...), for images with an unknown base, and for one-shot tools and jobs.
    """
    for path, document in _dockerfiles(project):
        context = _primary_context(project, path, document)
        all_links = links_for(project, path)
        for stage in run_stages(project, path, document):
            if _dev_image(path, stage):
                continue
            links = [link for link in all_links if link.stage is stage]
            finding = _root_finding(project, context, stage, links)
            if finding is not None:
                yield finding


#: stage names of development or test images (dev containers, test runners)
_DEV_TARGET = re.compile(r"(?:^|[-_.])(?:dev|devel|develop|development|debug|test|tests|testing|ci)"
                         r"(?:$|[-_.])")


def _dev_image(path: str, stage: Stage) -> bool:
    """A development container or a test image rather than a deployment."""
    if in_devcontainer(path):
        return True
    return bool(stage.name and _DEV_TARGET.search(stage.name.lower()))


def _root_finding(project: Project, context: Context, stage: Stage,
                  links: list[ServiceBuild]) -> Finding | None:
    user = stage.user
    if links and all(link.service.user for link in links):
        return None
    if user is not None and not is_root_user(user):
        return None
    without_user = [link for link in links if not link.service.user]
    candidates = without_user or [None]
    words = _effective_words(stage, candidates[0])
    if not words or all(is_one_shot(_effective_words(stage, link)) for link in candidates):
        return None
    if not without_user and not _serves(stage, words, []):
        return None  # a standalone image that serves nothing: a tool, not a service
    base_root = _base_runs_as_root(stage)
    if user is None and base_root is not True:
        return None
    drops = _drops_privileges(project, stage, context, words)
    if drops is not False:
        return None
    related = tuple(Related(link.service.span,
                            f"compose service `{link.service.name}` runs this stage without `user:`")
                    for link in without_user[:3])
    if user is not None:
        user_inst = next((i for member in lineage(stage) for i in reversed(member.instructions)
                          if i.keyword == "USER"), None)
        span = user_inst.span if user_inst is not None else stage.from_instruction.span
        return Finding(
            span=span,
            message=(f"the last USER of {stage.label} is `{user}`: the container's process runs as root"),
            related=related,
            fix="Create an unprivileged user and switch to it at the end of the stage: `RUN useradd "
                "--system --uid 10001 app` then `USER app` (chown only the folders it must write).",
        )
    return Finding(
        span=stage.from_instruction.span,
        message=(f"the container runs as root: {stage.label}, the stage it runs, never sets USER and "
                 f"`{stage.external_image}` starts as root"),
        related=related,
        fix="Add an unprivileged user at the end of the stage: `RUN useradd --system --uid 10001 "
            "--no-create-home app` (Alpine: `adduser -S -u 10001 app`) and `USER app`; or set `user: "
            "\"10001:10001\"` on the compose service.",
    )


# --- DA812: no health check --------------------------------------------------------------------


@rule("DA812")
def no_healthcheck(project: Project) -> Iterator[Finding]:
    """A service image with no health check, in the Dockerfile or in the compose service.

    Without a health check Docker reports a container "running" even when the server inside is
    stuck, still loading a model or crashed its worker; ``depends_on: condition: service_healthy``
    cannot be used and a reverse proxy sends traffic too early. Only images that serve (EXPOSE,
    published ports, a web server command) and are built on a base image dockaudit knows (so no
    inherited HEALTHCHECK is possible) are checked; one-shot tools and jobs are skipped, and
    ``HEALTHCHECK NONE`` is a deliberate choice.
    """
    for path, document in _dockerfiles(project):
        all_links = links_for(project, path)
        for stage in run_stages(project, path, document):
            if _dev_image(path, stage):
                continue
            if any(i.keyword == "HEALTHCHECK" for member in lineage(stage) for i in member.instructions):
                continue
            if not _known_base(stage):
                continue
            links = [link for link in all_links if link.stage is stage]
            if links:
                for link in links:
                    if link.service.healthcheck:
                        continue
                    words = _effective_words(stage, link)
                    if not words or is_one_shot(words) or not _service_serves(stage, link, words):
                        continue
                    yield Finding(
                        span=link.service.span,
                        message=(f"compose service `{link.service.name}` has no `healthcheck:` and its "
                                 f"image ({stage.label} of {path}) has no HEALTHCHECK: Docker cannot tell a "
                                 "hung or still-starting server from a healthy one"),
                        related=(Related(stage.from_instruction.span, "the stage the service runs"),),
                        fix="Add a `healthcheck:` to the service (or `HEALTHCHECK` to the stage) that "
                            "calls the health endpoint, e.g. `test: [\"CMD\", \"python\", \"-c\", \"import "
                            "urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')\"]`.",
                    )
                continue
            words = _effective_words(stage, None)
            if not words or is_one_shot(words) or not _serves(stage, words, []):
                continue
            yield Finding(
                span=stage.from_instruction.span,
                message=(f"{stage.label} serves (it EXPOSEs a port or starts a server) but has no "
                         "HEALTHCHECK: Docker cannot tell a hung or still-starting server from a healthy "
                         "one"),
                fix="Add `HEALTHCHECK --interval=30s --timeout=5s CMD <a request to the health endpoint>` "
                    "(curl only if the image has it; a python or node one-liner otherwise).",
            )


def _known_base(stage: Stage) -> bool:
    """Is the stage built on an image whose settings dockaudit knows (scratch, or in the table)?"""
    from dockaudit.knowledge import base_image_provides

    image = stage.external_image
    if image is None:
        return True
    if "$" in image or "%" in image:
        return False
    return base_image_provides(image) is not None


def _service_serves(stage: Stage, link: ServiceBuild, words: list[str]) -> bool:
    """Does this compose service run a server (its own ports, or the image's when it keeps the
    image's command)?"""
    service = link.service
    if service.ports or service.expose:
        return True
    if service.command is not None or service.entrypoint is not None:
        return _serves_command(words)
    return _serves(stage, words, [])


def _serves_command(words: list[str]) -> bool:
    if not words:
        return False
    program = posixpath.basename(words[0])
    if program in _SERVERS:
        return True
    if program in ("npm", "yarn", "pnpm") and any(w in ("start", "serve", "preview") for w in words[1:3]):
        return True
    if re.match(r"^python[\d.]*$", program) and "-m" in words:
        index = words.index("-m")
        return index + 1 < len(words) and words[index + 1] in _SERVERS
    return False

"""What the image of a build stage contains: executables, files, Python and npm packages.

:func:`contents_of` answers questions about the image a stage produces, from the stage and the
stages it is built ``FROM`` (its lineage), the ``COPY``/``ADD`` instructions (from the build
context, honouring ``.dockerignore``, and ``COPY --from`` other stages, followed recursively),
the package-manager commands of its ``RUN`` instructions, and what the base image is known to
ship (:func:`dockaudit.knowledge.base_image_provides`).

Every answer is a :class:`Presence`: ``yes``; ``no`` (proven absent); ``likely-no`` (absent as far
as the files show, but something unseen could still provide it, e.g. a transitive dependency);
``unknown`` (an unknown base image, an install script piped into a shell, a ``RUN`` that names
the thing, an archive extracted ...). Rules report ``no`` with confidence, ``likely-no`` with a
lower severity, and stay quiet on ``unknown``.

Instruction order matters for npm/pip installs (an ``npm ci`` reads the ``package.json`` copied
before it); file presence is asked about the finished image.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import weakref
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from dockaudit.findings import Related
from dockaudit.link.services import lineage

if TYPE_CHECKING:
    from dockaudit.installs import Install
    from dockaudit.knowledge import ImageFacts
    from dockaudit.parse.dockerfile import Instruction, Stage
    from dockaudit.parse.dockerignore import DockerIgnore
    from dockaudit.parse.manifests import PackageJson
    from dockaudit.project import Project

YES = "yes"
NO = "no"
LIKELY_NO = "likely-no"
UNKNOWN = "unknown"

#: directories on the default PATH of Debian, Ubuntu and Alpine images
PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
#: image folders a base image may already populate (a file there is never proven absent)
SYSTEM_DIRS = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/etc",
    "/opt",
    "/var",
    "/root",
    "/home",
    "/srv/www",
    "/run",
    "/tmp",
    "/docker-entrypoint.d",
    "/docker-entrypoint.sh",
    "/entrypoint.sh",
    "/proc",
    "/sys",
    "/dev",
    "/mnt",
    "/media",
    "/nix",
)
#: stages (with the stages they are built on) longer than this are not followed
MAX_INSTRUCTIONS = 2000
PYTHON_MANAGERS = frozenset({"pip", "uv-pip", "uv-sync", "uv-tool", "uv", "poetry", "pipenv"})
CONDA_MANAGERS = frozenset({"conda", "mamba", "micromamba"})
SYSTEM_MANAGERS = frozenset({"apt", "apk", "dnf", "yum", "microdnf"})
NODE_MANAGERS = frozenset({"npm", "yarn", "pnpm"})

_PIPE_TO_SHELL = re.compile(r"\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:/usr)?(?:/bin/)?(?:ba|da|z|k|a)?sh\b")
_SHELL_SUBST = re.compile(r"(?:ba|da|z)?sh\s+-c\s+[\"']?\$\(")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
_GLOB = re.compile(r"[*?\[]")
#: programs that are no project script even when called by path (``./venv/bin/pip``)
_KNOWN_TOOL = re.compile(
    r"^(?:python\d*(?:\.\d+)*|pip\d*(?:\.\d+)*|uv|uvx|node|npm|npx|yarn|pnpm|poetry|pipenv|conda|mamba|"
    r"micromamba|apt-get|apt|apk|gunicorn|uvicorn|celery|alembic)$"
)


@dataclass(frozen=True)
class Presence:
    """Whether an image has something, why we think so, and the places that show it."""

    state: str
    reason: str = ""
    related: tuple[Related, ...] = ()

    @property
    def present(self) -> bool:
        return self.state == YES

    @property
    def absent(self) -> bool:
        return self.state in (NO, LIKELY_NO)


_UNKNOWN = Presence(UNKNOWN)


# --- knowledge -------------------------------------------------------------------------------


@cache
def _table() -> dict[str, Any]:
    from dockaudit.catalog import load_table

    return load_table("executables")


@cache
def _package_rows() -> tuple[tuple[tuple[str, ...], frozenset[str], frozenset[str]], ...]:
    rows = []
    for row in _table().get("package", ()):
        rows.append(
            (tuple(row.get("names", ())), frozenset(row.get("provides", ())), frozenset(row.get("maybe", ())))
        )
    return tuple(rows)


@cache
def package_executables(package: str) -> tuple[frozenset[str], frozenset[str]]:
    """(executables provided, executables maybe provided) of a distribution package."""
    provides: set[str] = set()
    maybe: set[str] = set()
    known = False
    for names, row_provides, row_maybe in _package_rows():
        if any(fnmatch.fnmatchcase(package, pattern) for pattern in names):
            known = True
            provides |= row_provides
            maybe |= row_maybe
    if not known or package not in maybe:
        provides.add(package)  # a package usually installs an executable of its own name
    return frozenset(provides), frozenset(maybe - provides)


def python_script_packages(script: str) -> list[str] | None:
    """PyPI distributions that install the console script ``script`` (None: not a known script)."""
    found = _table().get("python_scripts", {}).get(script)
    return list(found) if found else None


def python_module_packages(module: str) -> list[str] | None:
    """PyPI distributions that ship the top-level module of ``python -m module``."""
    found = _table().get("python_modules", {}).get(module.split(".", 1)[0])
    return list(found) if found else None


def node_bin_packages(name: str) -> list[str] | None:
    """npm packages that declare the bin ``name`` (None: not a known bin)."""
    found = _table().get("node_bins", {}).get(name)
    return list(found) if found else None


def _node_package_bins(package: str) -> set[str]:
    bins = {name for name, packages in _table().get("node_bins", {}).items() if package in packages}
    bins.add(package.rsplit("/", 1)[-1])
    return bins


def _package_name(word: str) -> str | None:
    """``curl=7.88.1-10`` / ``curl>=7`` / ``py3-pip~=23`` → the package name."""
    name = re.split(r"[=<>~!:\s]", word, maxsplit=1)[0]
    return name or None


def _pypi_name(spec: str) -> str | None:
    from dockaudit.parse.manifests import canonical

    spec = spec.strip()
    if not spec or spec.startswith(("-", ".", "/")) or "://" in spec or spec.startswith("git+"):
        return None
    match = _NAME.match(spec)
    if match is None:
        return None
    return canonical(match.group(0))


def _path_under(path: str, folder: str) -> str | None:
    """``path`` relative to ``folder`` when it is inside it ("" when equal), else None."""
    if folder == "/":
        return path.lstrip("/")
    if path == folder:
        return ""
    if path.startswith(folder.rstrip("/") + "/"):
        return path[len(folder.rstrip("/")) + 1 :]
    return None


def _is_system_path(path: str) -> bool:
    return any(_path_under(path, d) is not None for d in SYSTEM_DIRS)


def _dirlike(path: str) -> bool:
    base = posixpath.basename(path.rstrip("/"))
    return path.endswith("/") or base in ("", ".") or "." not in base or base.startswith(".")


def _copies_folders(copy: Copy) -> bool:
    """May the copy bring whole folders (rather than single named files)?

    ``COPY --from=img /uv /uvx /bin/`` and ``COPY --from=img /usr/local/bin/gosu /usr/local/bin/``
    copy executables: a source directly under ``/`` or a bin folder, copied into a bin folder,
    is taken to be a file."""
    into_bin = copy.dest in PATH_DIRS or posixpath.basename(copy.dest) == "bin"
    for source in copy.sources:
        parent = posixpath.dirname(source.rstrip("/")) or "/"
        if (
            into_bin
            and not source.endswith("/")
            and (parent == "/" or parent in PATH_DIRS or posixpath.basename(parent) == "bin")
        ):
            continue
        if _dirlike(source):
            return True
    return False


_PYTHON_TREES = re.compile(
    r"(?:^/$|^/usr(?:/local)?/?$|^/usr/local/lib|^/opt(?:/|$)|venv|site-packages|"
    r"dist-packages|/\.local|conda|mamba|/install/?$)"
)


_SCRIPT_CACHE: weakref.WeakKeyDictionary[Instruction, str] = weakref.WeakKeyDictionary()
_OPAQUE_CACHE: weakref.WeakKeyDictionary[Instruction, str] = weakref.WeakKeyDictionary()


@cache
def _facts(ref: str) -> ImageFacts | None:
    from dockaudit.knowledge import base_image_provides

    try:
        return base_image_provides(ref)
    except Exception:  # knowledge tables must never stop a rule
        return None


def _script_text(inst: Instruction) -> str:
    found = _SCRIPT_CACHE.get(inst)
    if found is None:
        from dockaudit.installs import run_scripts

        try:
            found = "\n".join(run_scripts(inst))
        except RecursionError:
            found = inst.value
        _SCRIPT_CACHE[inst] = found
    return found


def _opaque_reason(inst: Instruction) -> str:
    """Why a RUN may put unknown executables or files in the image ("" when it does not)."""
    found = _OPAQUE_CACHE.get(inst)
    if found is not None:
        return found
    from dockaudit.installs import run_commands
    from dockaudit.shell import SHELLS

    text = _script_text(inst)
    why = ""
    if _PIPE_TO_SHELL.search(text) or _SHELL_SUBST.search(text):
        why = "pipes a downloaded script into a shell"
    else:
        try:
            commands = run_commands(inst)
        except RecursionError:
            commands = []
            why = "cannot be read (nested too deeply)"
        for command, _span in commands:
            why = _opaque_command(command.name, command.words, command.args, SHELLS)
            if why:
                break
    _OPAQUE_CACHE[inst] = why
    return why


def _opaque_command(name: str, words: list[str], args: list[str], shells: frozenset[str]) -> str:
    if name in shells and args and not args[0].startswith("-"):
        return f"runs the script {args[0]}"
    script = bool(words) and not _KNOWN_TOOL.match(name) and "$" not in words[0]
    if script and (
        words[0].startswith("./")
        or name.endswith((".sh", ".run"))
        or ("/" in words[0] and not words[0].startswith(("/usr/", "/bin/", "/sbin/")))
    ):
        return f"runs {words[0]}"
    if name in ("dpkg", "rpm") and any(a.startswith("-i") or a == "--install" for a in args):
        return f"installs a package file with {name}"
    if name in ("make", "cmake", "ninja") and "install" in args:
        return f"runs {name} install"
    if name in ("unzip", "7z", "bsdtar") or (
        name == "tar"
        and any(
            a in ("--extract", "-x") or (not a.startswith("--") and "x" in a.lstrip("-")) for a in args[:2]
        )
    ):
        return "extracts an archive"
    if name == "xargs":
        return "runs commands through xargs"
    if name in ("cargo", "go", "gem", "pipx", "cpan", "cpanm", "brew", "nix-env", "snap", "sdk"):
        return f"installs with {name}"
    if name in CONDA_MANAGERS and args[:1] in (["install"], ["create"], ["env"], ["update"]):
        return f"installs with {name}"
    if name in ("git", "svn", "hg") and args[:1] in (["clone"], ["checkout"]):
        return "checks out a repository"
    return ""


# --- the model -------------------------------------------------------------------------------


@dataclass
class Copy:
    """One COPY/ADD of the lineage, sources and destination expanded."""

    instruction: Instruction
    stage: Stage
    index: int
    sources: list[str]
    dest: str
    dest_is_dir: bool
    from_stage: Stage | None = None
    from_image: str | None = None
    heredocs: list[str] = field(default_factory=list)
    remote: bool = False

    @property
    def from_context(self) -> bool:
        return self.from_stage is None and self.from_image is None


@dataclass
class PythonState:
    """The Python distributions a stage installs (names PEP 503-normalised)."""

    names: set[str] = field(default_factory=set)
    #: names is a superset of what is installed (locks, compiled requirement files)
    complete: bool = True
    installs: bool = False
    opaque: list[str] = field(default_factory=list)
    project_installed: bool = False
    related: list[Related] = field(default_factory=list)
    venvs: list[str] = field(default_factory=list)


@dataclass
class NodeModules:
    """What ``node_modules`` of one directory holds."""

    packages: set[str] = field(default_factory=set)
    #: packages is exactly what is installed (from package-lock.json)
    exact: bool = False
    #: something unseen may be in it (host node_modules copied, unreadable package.json ...)
    opaque: str | None = None
    dev_omitted: bool = False
    omitted_by: Related | None = None
    package_json: str | None = None
    declared_dev: set[str] = field(default_factory=set)
    declared_prod: set[str] = field(default_factory=set)
    bins: dict[str, str] = field(default_factory=dict)
    related: list[Related] = field(default_factory=list)

    def copy(self) -> NodeModules:
        return NodeModules(
            set(self.packages),
            self.exact,
            self.opaque,
            self.dev_omitted,
            self.omitted_by,
            self.package_json,
            set(self.declared_dev),
            set(self.declared_prod),
            dict(self.bins),
            list(self.related),
        )


class StageContents:
    """The image a stage produces, as far as the project's files show it."""

    def __init__(
        self,
        project: Project,
        stage: Stage,
        context: str | None,
        dockerfile_path: str | None,
        build_args: dict[str, str] | None,
        registry: dict[int, StageContents],
    ) -> None:
        self.project = project
        self.stage = stage
        self.context = context
        self.dockerfile_path = dockerfile_path
        self.build_args = {k: v for k, v in (build_args or {}).items() if v is not None} or None
        self._registry = registry
        registry[id(stage)] = self
        self.members = list(reversed(lineage(stage)))
        root = self.members[0]
        self.scratch = root.base_image.strip().lower() == "scratch" and root.parent is None
        self.base_ref = root.resolve_base(self.build_args) if root.parent is None else root.base_image
        self.facts: ImageFacts | None = None
        if not self.scratch:
            self.facts = _facts(self.base_ref)
        self._installs: list[Install] | None = None
        self.workdir_before: dict[int, str] = {}
        self.env_before: dict[int, dict[str, str | None]] = {}
        self.order: dict[int, int] = {}
        self.instructions: list[tuple[Stage, Instruction]] = []
        self.copies: list[Copy] = []
        self.runs: list[tuple[int, Instruction]] = []
        self.workdirs: set[str] = set()
        self.workdir = "/"
        self._dockerignore: DockerIgnore | bool | None = False
        self._python: PythonState | None = None
        self._node: dict[str, NodeModules | None] = {}
        self._opaque: list[tuple[Instruction, str]] | None = None
        self._globs: dict[str, list[str]] = {}
        self._mentions: dict[str, list[Instruction]] = {}
        self._by_instruction: dict[int, list[Install]] | None = None
        #: why the stage could not be read (too large, nested too deeply); every answer is then unknown
        self.unreadable: str | None = None
        size = sum(len(member.instructions) for member in self.members)
        if size > MAX_INSTRUCTIONS:
            self.unreadable = (
                f"the stage has {size} instructions; dockaudit does not follow stages that large"
            )
            return
        try:
            self._replay()
        except RecursionError:
            self.unreadable = "an instruction is nested too deeply to read"
            self.copies, self.runs = [], []

    @property
    def installs(self) -> list[Install]:
        """Package-manager commands of the lineage (read on first use)."""
        if self._installs is None:
            from dockaudit.installs import stage_installs

            self._installs = []
            if not self.unreadable:
                try:
                    self._installs = stage_installs(self.stage, inherited=True)
                except RecursionError:
                    self.unreadable = "an instruction is nested too deeply to read"
        return self._installs

    # --- replay ----------------------------------------------------------------------------

    def _replay(self) -> None:
        from dockaudit.parse.dockerfile import expand

        workdir = "/"
        for member in self.members:
            escape = member.dockerfile.escape if member.dockerfile is not None else "\\"
            scope = member.scope(self.build_args)
            for inst in member.instructions:
                index = len(self.instructions)
                self.instructions.append((member, inst))
                self.order[id(inst)] = index
                env = scope.before.get(inst, scope.visible)
                self.workdir_before[id(inst)] = workdir
                self.env_before[id(inst)] = env
                if inst.keyword == "WORKDIR" and inst.value:
                    path = expand(inst.value, env, escape)
                    if path:
                        workdir = posixpath.normpath(posixpath.join(workdir, path))
                        if workdir.startswith("//"):
                            workdir = "/" + workdir.lstrip("/")
                        self.workdirs.add(workdir)
                elif inst.keyword in ("COPY", "ADD"):
                    copy = self._copy(member, inst, index, workdir, env, escape)
                    if copy is not None:
                        self.copies.append(copy)
                elif inst.keyword == "RUN":
                    self.runs.append((index, inst))
        self.workdir = workdir

    def _copy(
        self,
        member: Stage,
        inst: Instruction,
        index: int,
        workdir: str,
        env: dict[str, str | None],
        escape: str,
    ) -> Copy | None:
        from dockaudit.parse.dockerfile import expand, parse_heredoc_marker

        words = list(inst.json_args) if inst.json_args is not None else [w for w, _ in inst.arg_spans]
        if len(words) < 2:
            return None
        heredocs = []
        sources = []
        for word in words[:-1]:
            marker = parse_heredoc_marker(word) if inst.json_args is None else None
            if marker is not None:
                heredocs.append(marker[0])
                continue
            sources.append(
                expand(word, env, escape)
                if inst.json_args is None
                else expand(word, env, escape, dequote=False)
            )
        raw_dest = words[-1]
        dest_text = expand(raw_dest, env, escape)
        if not dest_text:
            return None
        dest = posixpath.normpath(posixpath.join(workdir, dest_text))
        if dest.startswith("//"):
            dest = "/" + dest.lstrip("/")
        dest_is_dir = (
            dest_text.endswith("/")
            or dest_text in (".", "./")
            or len(sources) + len(heredocs) > 1
            or any(_GLOB.search(s) for s in sources)
        )
        copy = Copy(inst, member, index, sources, dest, dest_is_dir, heredocs=heredocs)
        source = inst.flag("from")
        if source:
            source = expand(source, env, escape)
            found = _stage_by_ref(member, source)
            if found is not None:
                copy.from_stage = found
            else:
                copy.from_image = source
        if inst.keyword == "ADD":
            copy.remote = any("://" in s or s.startswith("git@") for s in sources) or any(
                s.lower().endswith((".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".txz", ".tbz2"))
                for s in sources
            )
        return copy

    def _installs_of(self, inst: Instruction) -> list[Install]:
        if self._by_instruction is None:
            self._by_instruction = {}
            for install in self.installs:
                self._by_instruction.setdefault(id(install.instruction), []).append(install)
        return self._by_instruction.get(id(inst), [])

    def contents_of(self, stage: Stage) -> StageContents:
        """The contents of another stage of the same build (same context and args)."""
        found = self._registry.get(id(stage))
        if found is None:
            found = StageContents(
                self.project, stage, self.context, self.dockerfile_path, self.build_args, self._registry
            )
        return found

    @property
    def label(self) -> str:
        return self.stage.label

    @property
    def lineage_text(self) -> str:
        """``stage 'x'`` or ``stage 'x' and the stages it is built on``."""
        if len(self.members) > 1:
            return f"{self.label} or the stages it is built on"
        return self.label

    @property
    def base_known(self) -> bool:
        return self.scratch or self.facts is not None

    def env(self) -> dict[str, str]:
        return {k: v for k, v in self.stage.env_at(None, self.build_args).items() if v is not None}

    # --- scripts ---------------------------------------------------------------------------

    def script_text(self, inst: Instruction) -> str:
        return _script_text(inst)

    def runs_mentioning(self, word: str) -> list[Instruction]:
        """RUN instructions whose script names ``word`` (as a whole word)."""
        if not word:
            return []
        if word not in self._mentions:
            pattern = re.compile(r"(?<![\w.+-])" + re.escape(word) + r"(?![\w+-]|\.\w)")
            self._mentions[word] = [inst for _, inst in self.runs if pattern.search(self.script_text(inst))]
        return self._mentions[word]

    def opaque_runs(self) -> list[tuple[Instruction, str]]:
        """RUN instructions that may put unknown executables or files in the image."""
        if self._opaque is None:
            self._opaque = self._find_opaque_runs()
        return self._opaque

    def _find_opaque_runs(self) -> list[tuple[Instruction, str]]:
        out = []
        for _, inst in self.runs:
            why = _opaque_reason(inst)
            if why:
                out.append((inst, why))
        for copy in self.copies:
            if copy.remote:
                out.append((copy.instruction, "adds a remote file or archive"))
        return out

    # --- files -----------------------------------------------------------------------------

    def dockerignore(self) -> DockerIgnore | None:
        if self._dockerignore is False:
            from dockaudit.parse.dockerignore import dockerignore_for

            self._dockerignore = (
                dockerignore_for(self.project, self.context, self.dockerfile_path)
                if self.context is not None
                else None
            )
        return self._dockerignore  # type: ignore[return-value]

    def _context_state(self, relpath: str) -> Presence | None:
        """A root-relative path of the build context: YES (sent), NO (excluded), UNKNOWN, or None
        (not in the project)."""
        tree = self.project.tree
        relpath = posixpath.normpath(relpath)
        parts = relpath.split("/")
        skipped = any("/".join(parts[:k]) in tree.skipped for k in range(1, len(parts) + 1))
        if not (relpath in tree.files or relpath in tree.dirs or relpath == "." or skipped):
            return None
        ignore = self.dockerignore()
        if ignore is not None and self.context is not None and relpath != self.context:
            inner = relpath if self.context == "." else posixpath.relpath(relpath, self.context)
            if not inner.startswith("..") and ignore.excludes(inner):
                pattern = ignore.matching_pattern(inner)
                related = (
                    (Related(pattern.span, f"excludes {inner} from the build context"),)
                    if pattern is not None
                    else ()
                )
                return Presence(NO, f"{ignore.path} excludes {inner} from the build context", related)
        return (
            Presence(UNKNOWN, "inside a folder dockaudit does not list")
            if skipped and relpath not in tree.files and relpath not in tree.dirs
            else Presence(YES, relpath)
        )

    def _context_matches(self, pattern: str) -> list[str]:
        if self.context is None:
            return []
        if pattern in self._globs:
            return self._globs[pattern]
        self._globs[pattern] = found = self._find_context_matches(pattern)
        return found

    def _find_context_matches(self, pattern: str) -> list[str]:
        assert self.context is not None
        full = (
            posixpath.normpath(posixpath.join(self.context, pattern))
            if self.context != "."
            else posixpath.normpath(pattern)
        )
        depth = full.count("/")
        tree = self.project.tree
        out = [
            p
            for p in list(tree.files) + list(tree.dirs)
            if p.count("/") == depth and fnmatch.fnmatchcase(p, full)
        ]
        return sorted(out)

    def file(self, path: str, before: int | None = None, _depth: int = 0) -> Presence:
        """Is ``path`` (absolute, in the image) there at the end of the stage (or before the
        instruction with order ``before``)?"""
        path = posixpath.normpath(path)
        if _depth > 12 or self.unreadable:
            return Presence(UNKNOWN, self.unreadable or "")
        best: Presence | None = None
        for copy in reversed(self.copies):
            if before is not None and copy.index >= before:
                continue
            found = self._from_copy(copy, path, _depth)
            if found is None:
                continue
            if found.state == YES:
                return found
            if best is None or (best.state == NO and found.state == UNKNOWN):
                best = found
        if best is not None and best.state == UNKNOWN:
            return best
        runs = [
            i
            for i in self.runs_mentioning(posixpath.basename(path))
            if before is None or self.order[id(i)] < before
        ]
        if runs:
            return Presence(
                UNKNOWN,
                f"a RUN instruction names {posixpath.basename(path)}",
                (Related(runs[0].span, "may create it"),),
            )
        opaque = [(i, w) for i, w in self.opaque_runs() if before is None or self.order[id(i)] < before]
        if opaque:
            return Presence(UNKNOWN, opaque[0][1], (Related(opaque[0][0].span, opaque[0][1]),))
        if self.context is None:
            return _UNKNOWN
        if not self.scratch:
            if self.facts is None:
                return Presence(UNKNOWN, f"the base image {self.base_ref} is not known to dockaudit")
            app_dirs = [w for w in self.workdirs if w != "/"]
            if _is_system_path(path) or not any(_path_under(path, w) is not None for w in app_dirs):
                return Presence(UNKNOWN, "the base image may provide it")
        if best is not None:
            return best
        return Presence(NO, "")

    def _from_copy(self, copy: Copy, path: str, depth: int) -> Presence | None:
        rel_dest = _path_under(path, copy.dest)
        if rel_dest is None:
            return None
        where = Related(copy.instruction.span, f"{copy.instruction.keyword} into {copy.dest}")
        if copy.remote:
            return Presence(UNKNOWN, "added from a URL or an archive", (where,))
        if copy.from_image is not None:
            return Presence(UNKNOWN, f"copied from the image {copy.from_image}", (where,))
        if rel_dest == "" and (copy.heredocs or copy.sources):
            return Presence(YES, "", (where,))  # the destination itself
        if copy.heredocs and rel_dest in copy.heredocs:
            return Presence(YES, "", (where,))
        best: Presence | None = None
        for source in copy.sources:
            candidates: list[str]
            if copy.from_stage is not None:
                src = (
                    posixpath.normpath("/" + source.lstrip("/"))
                    if not source.startswith("/")
                    else posixpath.normpath(source)
                )
                other = self.contents_of(copy.from_stage)
                found: Presence | None = None
                if rel_dest == posixpath.basename(src) and copy.dest_is_dir:
                    found = other.file(src, _depth=depth + 1)
                    if found.state != YES:
                        inner = other.file(posixpath.join(src, rel_dest), _depth=depth + 1)
                        found = inner if inner.state == YES else found
                else:
                    found = other.file(posixpath.join(src, rel_dest) if rel_dest else src, _depth=depth + 1)
                if found.state == YES:
                    return Presence(YES, "", (where,))
                if best is None or found.state == UNKNOWN:
                    best = Presence(found.state, found.reason, (where, *found.related))
                continue
            if self.context is None:
                return Presence(UNKNOWN, "the build context is not known", (where,))
            if _GLOB.search(source):
                candidates = self._context_matches(source)
            else:
                resolved = self.project.resolve(self.context, source)
                if resolved is None:
                    continue
                candidates = [resolved]
            for candidate in candidates:
                tree = self.project.tree
                if tree.is_dir(candidate):
                    state = self._context_state(
                        posixpath.join(candidate, rel_dest) if rel_dest else candidate
                    )
                else:
                    if candidate not in tree.files:
                        continue
                    if not (
                        (copy.dest_is_dir and rel_dest == posixpath.basename(candidate))
                        or (not copy.dest_is_dir and rel_dest == "")
                        or (
                            not copy.dest_is_dir
                            and rel_dest == posixpath.basename(candidate)
                            and not source.endswith("/")
                        )
                    ):
                        continue
                    state = self._context_state(candidate)
                if state is None:
                    continue
                if state.state == YES:
                    return Presence(YES, state.reason, (where,))
                if best is None or state.state == UNKNOWN:
                    best = Presence(state.state, state.reason, (where, *state.related))
        return best

    def context_source(self, path: str, before: int | None = None, _depth: int = 0) -> str | None:
        """The root-relative project file that ends up at ``path`` in the image, if one does."""
        path = posixpath.normpath(path)
        if _depth > 12:
            return None
        for copy in reversed(self.copies):
            if before is not None and copy.index >= before:
                continue
            rel_dest = _path_under(path, copy.dest)
            if rel_dest is None or copy.from_image is not None or copy.remote:
                continue
            for source in copy.sources:
                if copy.from_stage is not None:
                    src = posixpath.normpath("/" + source.lstrip("/"))
                    other = self.contents_of(copy.from_stage)
                    options = [posixpath.join(src, rel_dest) if rel_dest else src]
                    if copy.dest_is_dir and rel_dest == posixpath.basename(src):
                        options.append(src)
                    for option in options:
                        found = other.context_source(option, _depth=_depth + 1)
                        if found is not None:
                            return found
                    continue
                if self.context is None:
                    continue
                candidates = (
                    self._context_matches(source)
                    if _GLOB.search(source)
                    else [c for c in [self.project.resolve(self.context, source)] if c is not None]
                )
                for candidate in candidates:
                    tree = self.project.tree
                    if tree.is_dir(candidate):
                        target = (
                            posixpath.normpath(posixpath.join(candidate, rel_dest)) if rel_dest else candidate
                        )
                    elif candidate in tree.files and (
                        rel_dest == "" or (rel_dest == posixpath.basename(candidate))
                    ):
                        target = candidate
                    else:
                        continue
                    if target in tree.files:
                        state = self._context_state(target)
                        if state is not None and state.state == YES:
                            return target
        return None

    def mount_source(self, inst: Instruction, path: str) -> str | None:
        """For a RUN with ``--mount=type=bind``: the project file mounted at ``path``."""
        from dockaudit.installs import run_mounts

        if self.context is None:
            return None
        for mount in run_mounts(inst, self.env_before.get(id(inst))):
            if mount.type != "bind" or mount.from_ or not mount.target:
                continue
            target = posixpath.normpath(posixpath.join(self.workdir_before.get(id(inst), "/"), mount.target))
            rel = _path_under(path, target)
            if rel is None:
                continue
            source = self.project.resolve(self.context, mount.source or ".")
            if source is None:
                continue
            candidate = posixpath.normpath(posixpath.join(source, rel)) if rel else source
            if candidate in self.project.tree.files:
                return candidate
        return None

    def project_file_at(self, path: str, inst: Instruction | None = None) -> str | None:
        """The project file at image ``path`` when ``inst`` runs (bind mounts of ``inst`` first)."""
        if inst is not None:
            mounted = self.mount_source(inst, path)
            if mounted is not None:
                return mounted
            return self.context_source(path, before=self.order.get(id(inst)))
        return self.context_source(path)

    def context_copies(self) -> list[Copy]:
        return [c for c in self.copies if c.from_context]

    # --- executables -----------------------------------------------------------------------

    def executable(self, name: str, _depth: int = 0) -> Presence:
        """Is the command ``name`` (a bare name, looked up on PATH) in the image?"""
        if _depth > 8 or not name or self.unreadable:
            return Presence(UNKNOWN, self.unreadable or "")
        facts = self.facts
        if facts is not None and facts.has(name):
            return Presence(YES, f"{self.base_ref} ships {name}")
        maybe: Presence | None = None
        for install in self.installs:
            if install.manager not in SYSTEM_MANAGERS or not install.is_install:
                continue
            for word in install.packages:
                if "$" in word or "`" in word:
                    maybe = maybe or Presence(
                        UNKNOWN,
                        f"{install.manager} installs packages named by a variable",
                        (Related(install.span, ""),),
                    )
                    continue
                package = _package_name(word)
                if not package:
                    continue
                provides, maybe_provides = package_executables(package)
                if name in provides:
                    return Presence(
                        YES, f"{install.manager} installs {package}", (Related(install.span, ""),)
                    )
                if name in maybe_provides and maybe is None:
                    maybe = Presence(UNKNOWN, f"{package} may provide {name}", (Related(install.span, ""),))
        # language package managers
        python_packages = python_script_packages(name)
        python_state = self.python()
        if python_packages is None and name in python_state.names:
            return Presence(YES, f"the Python package {name} is installed")
        if python_packages is not None:
            found = self.python_package(python_packages)
            if found.state == YES:
                return found
        if name in ("python", "python3", "pip", "pip3") and python_state.venvs:
            return Presence(YES, "a virtual environment provides it")
        for install in self.installs:
            if not install.is_install:
                continue
            if install.manager in NODE_MANAGERS and (
                install.has_option("-g", "--global") or "global" in install.options
            ):
                for package in install.packages:
                    bare = re.sub(r"(?<=.)@[^/]*$", "", package)
                    if name in _node_package_bins(bare):
                        return Presence(
                            YES, f"{install.manager} installs {bare} globally", (Related(install.span, ""),)
                        )
                if name in ("npm", "npx", "node"):
                    return Presence(YES, "a global npm install implies Node.js")
            if install.manager == "uv-tool" and name in {posixpath.basename(p) for p in install.packages}:
                return Presence(YES, "uv tool install provides it")
        if name in ("yarn", "pnpm", "yarnpkg"):
            for _, inst in self.runs:
                if re.search(r"\bcorepack\s+(?:enable|prepare|install)", self.script_text(inst)):
                    return Presence(YES, "corepack provides it")
        if name in ("node", "npm", "npx") and any(i.manager in NODE_MANAGERS for i in self.installs):
            return Presence(YES, "npm or yarn runs during the build, so Node.js is present")
        if (name == "python3" or (name == "python" and python_state.venvs)) and any(
            i.manager in PYTHON_MANAGERS and i.manager != "uv-tool" for i in self.installs
        ):
            return Presence(YES, "Python packages are installed during the build")
        # node_modules/.bin on PATH
        for entry in (self.env().get("PATH") or "").split(":"):
            if entry.rstrip("/").endswith("node_modules/.bin"):
                project_dir = posixpath.dirname(posixpath.dirname(entry.rstrip("/"))) or "/"
                found = self.node_bin(name, project_dir)
                if found.state == YES:
                    return found
        # copies
        for copy in reversed(self.copies):
            found = self._executable_from_copy(copy, name, _depth)
            if found is not None:
                if found.state == YES:
                    return found
                if maybe is None and found.state == UNKNOWN:
                    maybe = found
        if maybe is not None:
            return maybe
        mentions = self.runs_mentioning(name)
        if mentions:
            return Presence(UNKNOWN, f"a RUN instruction names {name}", (Related(mentions[0].span, ""),))
        opaque = self.opaque_runs()
        if opaque:
            return Presence(UNKNOWN, opaque[0][1], (Related(opaque[0][0].span, opaque[0][1]),))
        if python_packages is not None:
            found = self.python_package(python_packages)
            if found.absent and self.base_known:
                return found
            return _UNKNOWN
        if self.scratch:
            return Presence(NO, "the stage is built FROM scratch")
        if facts is not None and facts.has(name) is False:
            return Presence(
                NO,
                f"{self.base_ref} does not ship {name}, and no instruction of {self.lineage_text} "
                "installs or copies it",
            )
        return _UNKNOWN

    def _executable_from_copy(self, copy: Copy, name: str, depth: int) -> Presence | None:
        where = (Related(copy.instruction.span, f"{copy.instruction.keyword} into {copy.dest}"),)
        names = [posixpath.basename(s.rstrip("/")) for s in copy.sources]
        in_path = any(_path_under(copy.dest, d) is not None for d in PATH_DIRS) or copy.dest in PATH_DIRS
        if name in names or (not copy.dest_is_dir and posixpath.basename(copy.dest) == name):
            return Presence(YES, f"copied in by {copy.instruction.keyword}", where)
        if copy.from_image is not None or copy.remote:
            if _copies_folders(copy) and (in_path or any(_PYTHON_TREES.search(s) for s in copy.sources)):
                return Presence(UNKNOWN, f"copied from {copy.from_image or 'a URL'}", where)
            return None
        if copy.from_stage is not None:
            if not _copies_folders(copy):
                return None
            other = self.contents_of(copy.from_stage)
            system = any(
                s.rstrip("/") in ("", "/usr", "/usr/local", "/usr/local/bin", "/usr/bin", "/bin", "/opt")
                or s.startswith("/opt/")
                or s.rstrip("/").endswith("/bin")
                for s in copy.sources
            )
            if system:
                found = other.executable(name, depth + 1)
                if found.state != NO and found.state != LIKELY_NO:
                    return Presence(found.state, found.reason, where)
                return None
            if python_script_packages(name) is not None or name in ("python", "python3", "pip", "pip3"):
                state = other.python()
                if state.installs or state.venvs or state.opaque or other.opaque_runs():
                    found = other.executable(name, depth + 1)
                    if found.state in (YES, UNKNOWN):
                        return Presence(found.state, found.reason, where)
            return None
        # from the build context: a script copied onto PATH
        if in_path and self.context is not None:
            for source in copy.sources:
                resolved = self.project.resolve(self.context, source)
                if resolved is None:
                    continue
                if self.project.tree.is_dir(resolved) and any(
                    posixpath.basename(p) == name for p in self.project.tree.under(resolved)
                ):
                    return Presence(YES, "copied in from the build context", where)
        if self.context is not None:
            for source in copy.sources:
                resolved = self.project.resolve(self.context, source)
                if resolved is not None and (resolved == "." or self.project.tree.is_dir(resolved)):
                    skipped = [
                        s
                        for s in self.project.tree.skipped
                        if resolved == "." or s.startswith(resolved + "/")
                    ]
                    for folder in skipped:
                        state = self._context_state(folder)
                        if (
                            state is not None
                            and state.state != NO
                            and posixpath.basename(folder) in (".venv", "venv", "env", ".env", "node_modules")
                        ):
                            return Presence(UNKNOWN, f"the build context's {folder} is copied in", where)
        return None

    # --- Python ----------------------------------------------------------------------------

    def python(self) -> PythonState:
        """The Python distributions the stage's lineage installs (and copies from other stages)."""
        if self._python is not None:
            return self._python
        state = PythonState()
        self._python = state  # guard against cycles
        if self.unreadable:
            state.opaque.append(self.unreadable)
            return state
        for _, inst in self.runs:
            text = self.script_text(inst)
            for match in re.finditer(r"(?:-m\s+venv|virtualenv|\buv\s+venv)\s+(?:-\S+\s+)*([^\s;&|]+)", text):
                target = match.group(1)
                if not target.startswith("-"):
                    state.venvs.append(
                        posixpath.normpath(posixpath.join(self.workdir_before[id(inst)], target))
                    )
        for install in self.installs:
            if install.manager in CONDA_MANAGERS and install.is_install:
                state.installs = True
                state.opaque.append(f"{install.manager} installs packages")
                continue
            if install.manager not in PYTHON_MANAGERS or not install.is_install:
                continue
            state.installs = True
            state.related.append(Related(install.span, f"{install.manager} {install.action}"))
            self._python_install(install, state)
        for copy in self.copies:
            if copy.from_stage is not None and _copies_folders(copy):
                other = self.contents_of(copy.from_stage)
                if other is self:
                    continue
                theirs = other.python()
                for _inst, why in other.opaque_runs():
                    state.opaque.append(f"{copy.from_stage.label} {why}")
                if theirs.installs or theirs.venvs:
                    state.installs = state.installs or theirs.installs
                    state.names |= theirs.names
                    state.complete = state.complete and theirs.complete
                    state.opaque.extend(theirs.opaque)
                    state.project_installed = state.project_installed or theirs.project_installed
                    state.related.extend(theirs.related)
                    state.venvs.extend(theirs.venvs)
            elif (
                copy.from_image is not None
                and _copies_folders(copy)
                and any(_PYTHON_TREES.search(s) for s in copy.sources)
            ):
                state.opaque.append(f"files are copied from the image {copy.from_image}")
        return state

    def _python_install(self, install: Install, state: PythonState) -> None:
        cwd = self.workdir_before.get(id(install.instruction), "/")
        inst = install.instruction
        manager = install.manager
        if manager in ("pip", "uv-pip", "uv"):
            for spec in install.packages:
                if "$" in spec or "`" in spec:
                    state.opaque.append(f"{spec} is named by a variable")
                    continue
                name = _pypi_name(spec)
                if name is not None:
                    state.names.add(name)
                    state.complete = False
                    continue
                if "://" in spec or spec.startswith("git+"):
                    state.opaque.append(f"{spec} is installed from a URL")
                    continue
                state.project_installed = True
                self._pyproject_into(posixpath.join(cwd, spec), inst, state)
            for requirement_file in install.requirement_files:
                if "$" in requirement_file:
                    state.opaque.append(f"{requirement_file} is named by a variable")
                    continue
                image_path = posixpath.normpath(posixpath.join(cwd, requirement_file))
                relpath = self.project_file_at(image_path, inst)
                if relpath is None:
                    state.opaque.append(f"{requirement_file} cannot be read")
                    continue
                if relpath.endswith(".toml"):
                    self._pyproject_into(posixpath.dirname(image_path), inst, state)
                    continue
                self._requirements_into(relpath, state)
            return
        if manager == "uv-tool":
            for spec in install.packages:
                name = _pypi_name(spec)
                if name is not None:
                    state.names.add(name)
            return
        project_dir = install.option_value("--project", "--directory", "-C") or ""
        project_dir = posixpath.normpath(posixpath.join(cwd, project_dir)) if project_dir else cwd
        if manager == "uv-sync":
            if not install.has_option("--no-install-project", "--only-group"):
                state.project_installed = True
            state.venvs.append(posixpath.join(project_dir, ".venv"))
            relpath = self.project_file_at(posixpath.join(project_dir, "uv.lock"), inst)
            lock = self.project.document(relpath, "uvlock") if relpath is not None else None
            if lock is not None and lock.packages:
                state.names |= set(lock.packages)
                return
            self._pyproject_into(project_dir, inst, state)
            return
        if manager == "poetry":
            if not install.has_option("--no-root", "--only"):
                state.project_installed = True
            relpath = self.project_file_at(posixpath.join(project_dir, "poetry.lock"), inst)
            names = self._toml_lock_names(relpath) if relpath is not None else None
            if names:
                state.names |= names
                return
            self._pyproject_into(project_dir, inst, state)
            return
        if manager == "pipenv":
            relpath = self.project_file_at(posixpath.join(project_dir, "Pipfile.lock"), inst)
            names = self._pipfile_lock_names(relpath) if relpath is not None else None
            if names:
                state.names |= names
                return
            state.opaque.append("the Pipfile.lock is not readable")

    def _requirements_into(self, relpath: str, state: PythonState) -> None:
        from dockaudit.parse.manifests import requirements_closure

        closure = requirements_closure(self.project, relpath)
        compiled = True
        for requirement, _document in closure:
            key = getattr(requirement, "key", None)
            if key:
                state.names.add(key)
            if getattr(requirement, "kind", "pep508") in ("url", "vcs", "path") and not key:
                state.opaque.append(f"{requirement.text} is installed from a URL or path")
        for document in closure.files:
            head = document.source.text[:600].lower()
            if not any(
                marker in head
                for marker in (
                    "autogenerated by pip-compile",
                    "uv pip compile",
                    "uv export",
                    "poetry export",
                    "pip-compile",
                )
            ):
                compiled = False
        if closure.unresolved:
            state.opaque.append("a requirements include cannot be read")
        if not compiled:
            state.complete = False

    def _pyproject_into(self, folder: str, inst: Instruction, state: PythonState) -> None:
        relpath = self.project_file_at(posixpath.join(folder, "pyproject.toml"), inst)
        document = self.project.document(relpath, "pyproject") if relpath is not None else None
        if document is None:
            state.opaque.append(f"{folder}/pyproject.toml is not readable")
            return
        state.complete = False
        for requirement in [*document.dependencies, *document.poetry_dependencies]:
            if requirement.key:
                state.names.add(requirement.key)
        for group in [
            *document.optional_dependencies.values(),
            *document.dependency_groups.values(),
            *document.poetry_groups.values(),
        ]:
            for requirement in group:
                if requirement.key:
                    state.names.add(requirement.key)

    def _toml_lock_names(self, relpath: str) -> set[str] | None:
        from dockaudit import _toml
        from dockaudit.parse.manifests import canonical

        source = self.project.source(relpath)
        if source is None:
            return None
        try:
            data = _toml.loads(source.text)
        except Exception:
            return None
        packages = data.get("package")
        if not isinstance(packages, list):
            return None
        return {
            canonical(p["name"]) for p in packages if isinstance(p, dict) and isinstance(p.get("name"), str)
        }

    def _pipfile_lock_names(self, relpath: str) -> set[str] | None:
        from dockaudit.parse.manifests import canonical

        source = self.project.source(relpath)
        if source is None:
            return None
        try:
            data = json.loads(source.text)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        names: set[str] = set()
        for section in ("default", "develop"):
            if isinstance(data.get(section), dict):
                names |= {canonical(k) for k in data[section]}
        return names

    def python_package(self, packages: list[str]) -> Presence:
        """Is one of the PyPI distributions ``packages`` installed?"""
        from dockaudit.parse.manifests import canonical

        state = self.python()
        wanted = [canonical(p) for p in packages]
        for name in wanted:
            if name in state.names:
                return Presence(YES, f"{name} is installed", tuple(state.related[:1]))
        if state.opaque:
            return Presence(UNKNOWN, state.opaque[0])
        if not self.base_known:
            return Presence(UNKNOWN, f"the base image {self.base_ref} is not known to dockaudit")
        if not state.installs:
            return Presence(NO, f"no Python package is installed in {self.lineage_text}")
        if state.complete:
            return Presence(
                NO, f"{wanted[0]} is not among the locked packages installed", tuple(state.related[:2])
            )
        return Presence(
            LIKELY_NO,
            f"{wanted[0]} is not among the requirements installed (it could still come "
            "in as a dependency of another package)",
            tuple(state.related[:2]),
        )

    # --- Node ------------------------------------------------------------------------------

    def node_modules(self, folder: str, _depth: int = 0) -> NodeModules | None:
        """What ``<folder>/node_modules`` holds at the end of the stage (None: nothing installed)."""
        folder = posixpath.normpath(folder)
        if folder in self._node:
            return self._node[folder]
        if self.unreadable:
            self._node[folder] = NodeModules(opaque=self.unreadable)
            return self._node[folder]
        self._node[folder] = None
        state: NodeModules | None = None
        target = posixpath.join(folder, "node_modules")
        copies = {id(c.instruction): c for c in self.copies}
        for _member, inst in self.instructions:
            index = self.order[id(inst)]
            if inst.keyword == "RUN":
                state = self._node_run(inst, index, folder, state)
            elif id(inst) in copies:
                state = self._node_copy(copies[id(inst)], folder, target, state, _depth)
        self._node[folder] = state
        return state

    def _node_run(
        self, inst: Instruction, index: int, folder: str, state: NodeModules | None
    ) -> NodeModules | None:
        cwd = self.workdir_before.get(id(inst), "/")
        text = self.script_text(inst)
        if (
            re.search(r"\brm\s+-\w*r\w*\s+(?:\S+\s+)*(?:\./)?node_modules(?:/)?(?:\s|$|;|&)", text)
            and cwd == folder
        ):
            state = None
        env = self.env_before.get(id(inst), {})
        for install in self._installs_of(inst):
            if install.manager not in NODE_MANAGERS:
                continue
            where = install.option_value("--prefix", "--cwd", "-C", "--dir")
            run_dir = posixpath.normpath(posixpath.join(cwd, where)) if where else cwd
            cd = re.search(r"\bcd\s+([^\s;&|]+)", text)
            if cd and not where and cd.start() < text.find(install.words[0] if install.words else ""):
                run_dir = posixpath.normpath(posixpath.join(cwd, cd.group(1)))
            if install.has_option("-g", "--global") or "global" in install.options:
                continue
            if run_dir != folder:
                continue
            related = Related(install.span, " ".join(install.words[:4]))
            if install.action in ("prune",):
                if state is not None and self._omits_dev(install, env):
                    state = state.copy()
                    state.packages -= state.declared_dev - state.declared_prod
                    state.dev_omitted = True
                    state.omitted_by = related
                continue
            if not install.is_install:
                continue
            if install.packages:
                state = (
                    state.copy()
                    if state is not None
                    else NodeModules(opaque="installed without a package.json")
                )
                for package in install.packages:
                    state.packages.add(re.sub(r"(?<=.)@[^/]*$", "", package))
                state.related.append(related)
                continue
            state = self._node_install(install, index, folder, env, related)
        return state

    @staticmethod
    def _omits_dev(install: Install, env: dict[str, str | None]) -> bool:
        if install.has_option("--include=dev", "--production=false", "--prod=false", "-D", "--dev"):
            return False
        if install.option_value("--include") == "dev":
            return False
        if install.has_option(
            "--production", "--prod", "-P", "--only=prod", "--only=production", "--omit=dev"
        ):
            return True
        if install.option_value("--omit") == "dev" or install.option_value("--only") in (
            "prod",
            "production",
        ):
            return True
        if "workspaces-focus" in install.options and install.has_option("--production"):
            return True
        node_env = install.assignments.get("NODE_ENV") or env.get("NODE_ENV")
        omit_env = (
            install.assignments.get("NPM_CONFIG_OMIT")
            or env.get("NPM_CONFIG_OMIT")
            or env.get("npm_config_omit")
        )
        production_env = env.get("NPM_CONFIG_PRODUCTION") or env.get("npm_config_production")
        return node_env == "production" or omit_env == "dev" or production_env == "true"

    def _node_install(
        self, install: Install, index: int, folder: str, env: dict[str, str | None], related: Related
    ) -> NodeModules:
        state = NodeModules(related=[related])
        omit = self._omits_dev(install, env)
        if omit:
            state.dev_omitted = True
            state.omitted_by = related
        pj_path = self.project_file_at(posixpath.join(folder, "package.json"), install.instruction)
        document: PackageJson | None = self.project.document(pj_path, "packagejson") if pj_path else None
        if document is None or not document.data:
            state.opaque = "the package.json it installs from is not readable"
            return state
        state.package_json = pj_path
        if document.data.get("workspaces") is not None:
            state.opaque = "the package.json declares workspaces, whose dependencies are installed too"
        elif self.project_file_at(posixpath.join(folder, "pnpm-workspace.yaml"), install.instruction):
            state.opaque = "pnpm-workspace.yaml declares workspaces, whose dependencies are installed too"
        state.declared_prod = (
            set(document.dependencies) | set(document.optional_dependencies) | set(document.peer_dependencies)
        )
        state.declared_dev = set(document.dev_dependencies)
        state.packages = set(state.declared_prod) | (set() if omit else state.declared_dev)
        if install.manager == "npm":
            lock_path = self.project_file_at(
                posixpath.join(folder, "package-lock.json"), install.instruction
            ) or self.project_file_at(posixpath.join(folder, "npm-shrinkwrap.json"), install.instruction)
            lock = _read_npm_lock(self.project, lock_path) if lock_path else None
            if lock is not None:
                packages, bins = lock
                state.packages = {name for name, dev in packages.items() if not (omit and dev)}
                state.bins = {b: p for b, p in bins.items() if p in state.packages}
                state.exact = True
        return state

    def _node_copy(
        self, copy: Copy, folder: str, target: str, state: NodeModules | None, depth: int
    ) -> NodeModules | None:
        rel = _path_under(target, copy.dest)  # the copy covers <folder>/node_modules
        inner = _path_under(copy.dest, target)  # the copy goes inside <folder>/node_modules
        if rel is None and not inner:
            return state
        where = Related(copy.instruction.span, f"{copy.instruction.keyword} into {copy.dest}")
        if copy.from_image is not None or copy.remote:
            fresh = state.copy() if state is not None else NodeModules()
            fresh.opaque = f"node_modules files come from {copy.from_image or 'a URL'}"
            return fresh
        if inner:
            if inner.startswith("."):
                return state
            parts = inner.split("/")
            package = "/".join(parts[:2]) if parts[0].startswith("@") and len(parts) > 1 else parts[0]
            fresh = state.copy() if state is not None else NodeModules()
            fresh.packages.add(package)
            fresh.related.append(Related(copy.instruction.span, f"copies node_modules/{package}"))
            return fresh
        assert rel is not None
        if copy.from_stage is not None:
            other = self.contents_of(copy.from_stage) if depth < 8 else None
            merged = state
            for source in copy.sources:
                src = posixpath.normpath("/" + source.lstrip("/"))
                source_modules = posixpath.normpath(posixpath.join(src, rel)) if rel else src
                if other is None:
                    theirs: NodeModules | None = NodeModules(opaque="copied through too many stages")
                elif posixpath.basename(source_modules) == "node_modules":
                    theirs = other.node_modules(posixpath.dirname(source_modules) or "/", depth + 1)
                else:
                    theirs = NodeModules(
                        opaque=f"node_modules is copied from {source_modules} of {copy.from_stage.label}"
                    )
                if theirs is None:
                    continue
                fresh = theirs.copy()
                fresh.related = [*theirs.related, where]
                if merged is not None:
                    fresh.packages |= merged.packages
                    fresh.exact = fresh.exact and merged.exact
                    fresh.opaque = fresh.opaque or merged.opaque
                    fresh.dev_omitted = fresh.dev_omitted and merged.dev_omitted
                merged = fresh
            return merged
        # from the build context: a host node_modules that .dockerignore does not exclude
        if self.context is None:
            return state
        for source in copy.sources:
            resolved = self.project.resolve(self.context, source)
            if resolved is None or not self.project.tree.is_dir(resolved):
                continue
            host = posixpath.normpath(posixpath.join(resolved, rel)) if rel else resolved
            found = self._context_state(host)
            if found is not None and found.state != NO:
                fresh = state.copy() if state is not None else NodeModules()
                fresh.opaque = f"the build context's {host} is copied in"
                return fresh
        return state

    def node_bin(self, name: str, folder: str) -> Presence:
        """Is the npm bin ``name`` in ``<folder>/node_modules/.bin`` (or a parent folder's)?"""
        folder = posixpath.normpath(folder)
        state = None
        current = folder
        while True:
            state = self.node_modules(current)
            if state is not None or current == "/":
                break
            current = posixpath.dirname(current) or "/"
        packages = node_bin_packages(name)
        wanted = packages or [name]
        if state is None:
            if not self.base_known:
                return Presence(UNKNOWN, f"the base image {self.base_ref} is not known to dockaudit")
            opaque = self.opaque_runs()
            if opaque:
                return Presence(UNKNOWN, opaque[0][1])
            return Presence(
                NO, f"no npm install runs in {self.lineage_text}, and no node_modules is copied in"
            )
        if name in state.bins or any(p in state.packages for p in wanted):
            return Presence(YES, "", tuple(state.related[-1:]))
        if state.opaque:
            return Presence(UNKNOWN, state.opaque)
        related = list(state.related[-2:])
        dev_only = [p for p in wanted if p in state.declared_dev and p not in state.declared_prod]
        if dev_only and state.dev_omitted:
            document = (
                self.project.document(state.package_json, "packagejson") if state.package_json else None
            )
            if document is not None and dev_only[0] in document.dev_dependencies:
                related.append(
                    Related(document.dev_dependencies[dev_only[0]][1], "declared as a devDependency")
                )
            if state.omitted_by is not None:
                related.append(Related(state.omitted_by.span, "installs without devDependencies"))
            return Presence(
                NO,
                f"{dev_only[0]} is a devDependency in {state.package_json}, and the install "
                "leaves devDependencies out",
                tuple(related),
            )
        if state.exact:
            return Presence(
                NO,
                f"{wanted[0]} is not in the lock file's {'production ' if state.dev_omitted else ''}packages",
                tuple(related),
            )
        if packages is not None:
            return Presence(
                LIKELY_NO,
                f"{wanted[0]} is not declared in {state.package_json or 'package.json'}",
                tuple(related),
            )
        return Presence(UNKNOWN, "")

    def package_json_at(self, folder: str) -> tuple[Presence, PackageJson | None]:
        """The package.json at ``folder`` in the image, and its parsed document when known."""
        path = posixpath.join(posixpath.normpath(folder), "package.json")
        presence = self.file(path)
        if presence.state != YES:
            return presence, None
        relpath = self.context_source(path)
        document = self.project.document(relpath, "packagejson") if relpath else None
        return presence, document


def _stage_by_ref(stage: Stage, ref: str) -> Stage | None:
    document = stage.dockerfile
    if document is None:
        return None
    if ref.isascii() and ref.isdigit():
        index = int(ref)
        return (
            document.stages[index] if 0 <= index < len(document.stages) and index < stage.index + 1 else None
        )
    lowered = ref.lower()
    found = None
    for candidate in document.stages:
        if candidate.index >= stage.index and candidate is not stage:
            break
        if candidate.key == lowered and candidate is not stage:
            found = candidate
    return found


def _read_npm_lock(project: Project, relpath: str) -> tuple[dict[str, bool], dict[str, str]] | None:
    """package-lock.json: {package name: dev-only?}, {bin: package}; None when unreadable."""
    source = project.source(relpath)
    if source is None:
        return None
    try:
        data = json.loads(source.text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    packages: dict[str, bool] = {}
    bins: dict[str, str] = {}
    entries = data.get("packages")
    if isinstance(entries, dict):
        for key, entry in entries.items():
            if not key or "node_modules/" not in key or not isinstance(entry, dict):
                continue
            name = key.rsplit("node_modules/", 1)[1]
            dev = bool(entry.get("dev"))
            packages[name] = packages.get(name, True) and dev
            if isinstance(entry.get("bin"), dict) and key.count("node_modules/") == 1:
                for bin_name in entry["bin"]:
                    bins[str(bin_name)] = name
            elif isinstance(entry.get("bin"), str) and key.count("node_modules/") == 1:
                bins[name.rsplit("/", 1)[-1]] = name
        return packages, bins
    deps = data.get("dependencies")
    if not isinstance(deps, dict):
        return None
    stack = [deps]
    while stack:
        level = stack.pop()
        for name, entry in level.items():
            if not isinstance(entry, dict):
                continue
            dev = bool(entry.get("dev"))
            packages[name] = packages.get(name, True) and dev
            if isinstance(entry.get("dependencies"), dict):
                stack.append(entry["dependencies"])
    return packages, bins


# --- entry points ----------------------------------------------------------------------------


def contents_of(
    project: Project,
    stage: Stage,
    context: str | None,
    dockerfile_path: str | None,
    build_args: dict[str, str | None] | None = None,
) -> StageContents:
    """The contents of ``stage`` built with ``context`` (root-relative; None when unknown)."""
    cache_root: dict[tuple, dict[int, StageContents]] = project.__dict__.setdefault("_stage_contents", {})
    key = (
        context,
        dockerfile_path,
        tuple(sorted((k, v) for k, v in (build_args or {}).items() if v is not None)),
    )
    registry = cache_root.setdefault(key, {})
    found = registry.get(id(stage))
    if found is None:
        found = StageContents(
            project,
            stage,
            context,
            dockerfile_path,
            {k: v for k, v in (build_args or {}).items() if v is not None},
            registry,
        )
    return found


def guessed_context(project: Project, dockerfile_path: str, stage: Stage) -> str | None:
    """The build context of a Dockerfile built without compose: its folder, when the stage's
    lineage copies at least one named file or folder and every plain COPY source exists there.
    None when that cannot be told (only ``COPY . .``, or sources that are missing there, as with
    ``docker build -f sub/Dockerfile .``)."""
    folder = posixpath.dirname(dockerfile_path) or "."
    named = folder == "."
    for member in lineage(stage):
        for inst in member.instructions:
            if inst.keyword not in ("COPY", "ADD") or inst.flag("from"):
                continue
            words = list(inst.json_args) if inst.json_args is not None else inst.args
            for source in words[:-1]:
                if "$" in source or _GLOB.search(source) or source.startswith("<<") or "://" in source:
                    continue
                resolved = project.resolve(folder, source)
                if resolved is None or not project.tree.exists(resolved):
                    return None
                if resolved != folder:
                    named = True
    return folder if named else None

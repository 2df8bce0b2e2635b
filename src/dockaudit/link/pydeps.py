"""Which Python packages (and which system packages) the image of a Dockerfile stage ends up with.

The rules about system packages that Python dependencies need (DA701-DA704) ask three questions
of a stage, and this module answers them from the Dockerfile and the manifests it installs:

* **which Python packages does the image get** - from ``pip install -r`` / ``uv pip install -r``
  requirement files (``-r`` includes followed), ``pyproject.toml`` for ``uv sync``,
  ``pip install .`` and ``poetry install``, and packages named on the command line. A file path
  in a RUN is relative to the WORKDIR (and any ``cd``) at that point; it is mapped back to the
  build context through the ``COPY``/``ADD`` (or ``RUN --mount=type=bind``) that put it there.
  Installs done in another stage count only when their result (a venv, site-packages, a
  ``--prefix``/``--target``/``--user`` tree, a wheel directory) is copied in with
  ``COPY --from``.
* **which distribution packages does the image have** - ``apt-get install`` / ``apk add`` in the
  stage and its parents (``apt-get purge`` / ``apk del`` taken into account), and what the base
  image ships (:func:`dockaudit.knowledge.base_image_provides`).
* **what can we not see** - installs through variables, ``xargs``, command substitution, or a
  script run from a file (``RUN ./install.sh``), ``conda env create -f``, and images copied from
  (``COPY --from=<image>``). Rules stay quiet about what such steps may have installed.

Nothing here reads a file the project did not discover, and nothing is executed.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.installs import Install
    from dockaudit.parse.dockerfile import Dockerfile, Instruction, Stage
    from dockaudit.parse.manifests import PyProject
    from dockaudit.project import Project

__all__ = [
    "PyEnv",
    "PyInstall",
    "PyPackage",
    "StageModel",
    "SysPackage",
    "apt_name",
    "deployed_stages",
    "dockerfile_contexts",
    "stage_model",
]

#: PATH entries that are not a virtual environment's bin folder
_SYSTEM_BINS = frozenset({"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin",
                          "/root/.local/bin", "/opt/conda/bin", "/usr/local/cuda/bin", "/root/.cargo/bin"})
_SYSTEM_MANAGERS = {"apt", "apk", "dnf", "yum", "microdnf"}
_PY_MANAGERS = {"pip", "uv-pip", "uv-sync", "poetry"}
_NODE_MANAGERS = {"npm", "yarn", "pnpm"}
_CONDA = {"conda", "mamba", "micromamba"}
_MAX_DEPTH = 8


# --- data ------------------------------------------------------------------------------------


@dataclass
class SysPackage:
    """A distribution package installed by a RUN of the stage's lineage."""

    name: str
    manager: str
    install: Install
    span: Span
    stage: Stage


@dataclass
class PyPackage:
    """A Python package an install command puts into an environment.

    ``spec`` is the requirement as far as it matters here (``misaki[en]``); ``span`` is where it
    is declared: the requirement line, the pyproject entry, or the word on the command line.
    """

    name: str
    spec: str
    span: Span
    origin: str  # "requirements", "pyproject" or "command"
    install: PyInstall
    marker: str | None = None


@dataclass
class PyInstall:
    """One pip/uv/poetry command that installs Python packages, with what it installs."""

    install: Install
    stage: Stage
    instruction: Instruction
    cwd: str
    #: the environment's folder in the image; None for the interpreter's own site-packages
    location: str | None
    packages: list[PyPackage] = field(default_factory=list)
    #: pip may only use wheels it is given (``--only-binary :all:``, ``--no-index`` + links)
    prebuilt_only: bool = False
    #: ``--no-binary``: pip builds some packages from source on purpose
    builds_from_source: bool = False
    #: manifests read for this install (root-relative paths)
    manifests: list[str] = field(default_factory=list)
    #: wheel building (``pip wheel``): the packages are built here and installed elsewhere
    wheels_only: bool = False


@dataclass
class PyEnv:
    """Python packages present in the image at ``location`` (None: the system site-packages)."""

    location: str | None
    installs: list[PyInstall]
    #: the ``COPY --from`` instructions that brought it here, outermost first (empty: installed here)
    copies: list[Instruction] = field(default_factory=list)

    @property
    def packages(self) -> list[PyPackage]:
        return [p for i in self.installs for p in i.packages]


@dataclass
class _Event:
    seq: int
    kind: str  # "add", "del", "opaque", "py"
    names: list[str] = field(default_factory=list)
    install: Install | None = None
    spans: list[Span] = field(default_factory=list)
    instruction: Instruction | None = None
    py: PyInstall | None = None
    stage: Stage | None = None
    virtual: str | None = None


@dataclass
class StageModel:
    """What the image of one stage holds (its lineage included)."""

    stage: Stage
    dockerfile: Dockerfile
    events: list[_Event] = field(default_factory=list)
    envs: list[PyEnv] = field(default_factory=list)
    #: instructions whose effect on installed packages cannot be read
    opaque: list[Instruction] = field(default_factory=list)
    #: distribution packages installed by conda/mamba (they can stand in for apt packages)
    conda_packages: set[str] = field(default_factory=set)
    #: external images files are copied from (``COPY --from=mwader/static-ffmpeg``)
    copied_images: list[tuple[Instruction, str]] = field(default_factory=list)
    #: words of every RUN/COPY/ADD of the lineage, for "was it installed some other way" checks
    words: set[str] = field(default_factory=set)
    #: folders made into virtual environments (``python -m venv X``, ``virtualenv X``, ``uv venv``)
    venvs: set[str] = field(default_factory=set)
    #: Python packages uninstalled later (``pip uninstall -y opencv-python``)
    removed: set[str] = field(default_factory=set)
    #: node_modules folders (npm/yarn/pnpm installs), in the same form as :attr:`envs`
    node_envs: list[PyEnv] = field(default_factory=list)

    def system_packages(self, before: int | None = None) -> dict[str, SysPackage]:
        """Distribution packages installed (and not removed) before event ``before`` (None: end)."""
        installed: dict[str, SysPackage] = {}
        virtual: dict[str, list[str]] = {}
        for event in self.events:
            if before is not None and event.seq >= before:
                break
            if event.kind == "add" and event.install is not None:
                for name, span in zip(event.names, event.spans):
                    installed[name] = SysPackage(name, event.install.manager, event.install, span,
                                                 event.stage or self.stage)
                if event.virtual:
                    virtual.setdefault(event.virtual, []).extend(event.names)
            elif event.kind == "del":
                for name in event.names:
                    installed.pop(name, None)
                    for member in virtual.pop(name, []):
                        installed.pop(member, None)
        return installed

    def opaque_before(self, before: int | None = None) -> list[Instruction]:
        return [e.instruction for e in self.events
                if e.kind == "opaque" and e.instruction is not None and (before is None or e.seq < before)]

    @property
    def own_py_installs(self) -> list[PyInstall]:
        """pip/uv/poetry installs run by this stage's own RUN instructions (not its parents')."""
        return [e.py for e in self.events if e.kind == "py" and e.py is not None and e.py.stage is self.stage]


# --- helpers ---------------------------------------------------------------------------------


def apt_name(word: str, manager: str) -> str | None:
    """A package name as apt/apk knows it: version pins and architectures dropped; None for
    words that are not package names (paths, variables, options)."""
    text = word.strip()
    if not text or text.startswith("-") or "$" in text or "`" in text or "/" in text or text.endswith(".deb"):
        return None
    if manager == "apk":
        text = re.split(r"[=<>~]", text, maxsplit=1)[0]
        text = text.split("@", 1)[0]
    else:
        text = text.split("=", 1)[0]
        text = text.split(":", 1)[0]
    text = text.lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9+._-]*", text):
        return None
    return text


def _norm(path: str) -> str:
    out = posixpath.normpath(path)
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


def _join(base: str, path: str) -> str:
    return _norm(posixpath.join(base or "/", path))


def _under(path: str, folder: str) -> bool:
    return folder == "/" or path == folder or path.startswith(folder.rstrip("/") + "/")


def _expand(word: str, variables: dict[str, str | None], escape: str = "\\") -> str:
    """``word`` with the ARG/ENV values Docker would substitute; a reference to a variable that
    is not set (and has no default) stays as written, so callers can tell it is unknown."""
    if "$" not in word:
        return word
    from dockaudit.parse.dockerfile import expand, variable_references

    try:
        for ref in variable_references(word, escape):
            if variables.get(ref.name) is None and not ref.has_default:
                return word
        return expand(word, variables, escape)
    except Exception:
        return word


def dockerfile_contexts(project: Project, path: str) -> list[str]:
    """Build contexts a Dockerfile is built with: those of the compose services that build it,
    else its own folder and the folders above it (nearest first)."""
    contexts: list[str] = []
    for compose in project.compose_projects:
        for service in compose.services.values():
            build = service.build
            if build is None or build.dockerfile != path or build.context is None:
                continue
            if build.context not in contexts:
                contexts.append(build.context)
    if contexts:
        return contexts
    folder = posixpath.dirname(path) or "."
    while True:
        contexts.append(folder)
        if folder in (".", ""):
            break
        folder = posixpath.dirname(folder) or "."
    return contexts


# --- the model -------------------------------------------------------------------------------


class _Builder:
    """Builds :class:`StageModel` objects for the stages of one Dockerfile (memoised)."""

    def __init__(self, project: Project, dockerfile: Dockerfile, path: str) -> None:
        self.project = project
        self.dockerfile = dockerfile
        self.path = path
        self.contexts = dockerfile_contexts(project, path)
        self.models: dict[int, StageModel | None] = {}
        self.seq = 0

    # -- entry --------------------------------------------------------------------------

    def model(self, stage: Stage, depth: int = 0) -> StageModel:
        key = id(stage)
        if key in self.models:
            found = self.models[key]
            return found if found is not None else StageModel(stage, self.dockerfile)
        self.models[key] = None  # cycle guard
        model = StageModel(stage, self.dockerfile)
        parent = stage.parent
        if parent is not None and depth < _MAX_DEPTH:
            inherited = self.model(parent, depth + 1)
            model.events.extend(inherited.events)
            model.envs.extend(PyEnv(e.location, list(e.installs), list(e.copies)) for e in inherited.envs)
            model.node_envs.extend(PyEnv(e.location, list(e.installs), list(e.copies))
                                   for e in inherited.node_envs)
            model.opaque.extend(inherited.opaque)
            model.conda_packages |= inherited.conda_packages
            model.copied_images.extend(inherited.copied_images)
            model.words |= inherited.words
            model.venvs |= inherited.venvs
            model.removed |= inherited.removed
        workdir = parent.workdir if parent is not None else "/"
        for instruction in stage.instructions:
            keyword = instruction.keyword
            if keyword not in ("WORKDIR", "RUN", "COPY", "ADD"):
                continue
            variables = stage.env_at(instruction)
            if keyword == "WORKDIR" and instruction.value:
                workdir = _join(workdir, _expand(instruction.value, variables, instruction.escape))
            elif keyword == "RUN":
                self._run(model, stage, instruction, workdir, variables)
            elif keyword in ("COPY", "ADD"):
                model.words.update(instruction.args)
                source = instruction.flag("from")
                if source:
                    self._copy_from(model, stage, instruction, source, workdir, depth)
        self.models[key] = model
        return model

    # -- RUN ----------------------------------------------------------------------------

    def _run(self, model: StageModel, stage: Stage, instruction: Instruction, workdir: str,
             variables: dict[str, str | None]) -> None:
        from dockaudit.installs import install_of, script_commands

        for script, commands in script_commands(instruction):
            cwd = workdir
            active = variables
            for command in commands:
                words = command.words
                model.words.update(words)
                if not words:
                    continue
                name = command.name
                if name in ("source", ".") and len(words) > 1 and words[1].endswith("bin/activate"):
                    venv = posixpath.dirname(posixpath.dirname(_join(cwd, words[1])))
                    active = {**variables, "VIRTUAL_ENV": venv}
                    model.venvs.add(venv)
                    continue
                if name == "cd":
                    target = words[1] if len(words) > 1 else None
                    if target is None:
                        cwd = variables.get("HOME") or "/root"
                    elif not target.startswith("-") and "$" not in target:
                        cwd = _join(cwd, target)
                    continue
                self._note_venv(model, command, cwd)
                if self._is_script(command):
                    self._opaque(model, instruction)
                    continue
                install = install_of(command, instruction, instruction.keyword_span)
                if install is not None:
                    install.span = self._command_span(instruction, script, command)
                if install is None:
                    if name in ("xargs",) and any(w in ("apt-get", "apt", "apk") for w in words):
                        self._opaque(model, instruction)
                    continue
                self._install(model, stage, instruction, install, command, script, cwd, active)

    @staticmethod
    def _note_venv(model: StageModel, command, cwd: str) -> None:
        words = command.words
        name = command.name
        target = None
        if re.fullmatch(r"python[\d.]*", name) and len(words) >= 3 and words[1] == "-m" and words[2] in (
                "venv", "virtualenv"):
            rest = [w for w in words[3:] if not w.startswith("-")]
            target = rest[0] if rest else None
        elif name == "virtualenv":
            rest = [w for w in words[1:] if not w.startswith("-")]
            target = rest[0] if rest else None
        elif name == "uv" and len(words) >= 2 and words[1] == "venv":
            rest = [w for w in words[2:] if not w.startswith("-")]
            target = rest[0] if rest else ".venv"
        if target and "$" not in target:
            model.venvs.add(_join(cwd, target))

    @staticmethod
    def _is_script(command) -> bool:
        """Does the command run a script file we cannot see (``./setup.sh``, ``bash x.sh``)?"""
        words = command.words
        first = words[0]
        if first.endswith(".sh") or (first.startswith(("./", "/")) and posixpath.basename(first).startswith(
                ("install", "setup", "build", "bootstrap", "provision"))):
            return True
        if posixpath.basename(first) in ("sh", "bash", "dash", "ash", "zsh", "source", "."):
            rest = [w for w in words[1:] if not w.startswith("-")]
            return bool(rest) and (rest[0].endswith(".sh") or "/" in rest[0])
        return False

    def _opaque(self, model: StageModel, instruction: Instruction) -> None:
        self.seq += 1
        model.events.append(_Event(self.seq, "opaque", instruction=instruction, stage=model.stage))
        if instruction not in model.opaque:
            model.opaque.append(instruction)

    @staticmethod
    def _command_span(instruction: Instruction, script, command) -> Span:
        source = instruction.source
        if source is not None and script.to_source is not None and command.end > command.start:
            start = script.to_source(command.start)
            end = script.to_source(max(command.end - 1, command.start)) + 1
            return source.span_of_offsets(start, end)
        return instruction.keyword_span

    @staticmethod
    def _word_span(instruction: Instruction, script, command, index: int, fallback: Span) -> Span:
        source = instruction.source
        if (source is not None and script.to_source is not None and index < len(command.word_offsets)):
            start, end = command.word_offsets[index]
            if end > start:
                return source.span_of_offsets(script.to_source(start), script.to_source(end - 1) + 1)
        return fallback

    def _install(self, model: StageModel, stage: Stage, instruction: Instruction, install: Install, command,
                 script, cwd: str, variables: dict[str, str | None]) -> None:
        manager = install.manager
        if manager in _SYSTEM_MANAGERS:
            self._system(model, stage, instruction, install, command, script, variables)
            return
        if manager in _CONDA:
            if install.requirement_files:
                self._opaque(model, instruction)
            for word in install.packages:
                name = re.split(r"[=<>!~ ]", word, maxsplit=1)[0].split("::")[-1].lower()
                if name:
                    model.conda_packages.add(name)
            return
        if manager in _NODE_MANAGERS:
            if install.is_install:
                self._node_install(model, stage, instruction, install, command, script, cwd, variables)
            return
        if manager not in _PY_MANAGERS:
            return
        if manager in ("pip", "uv-pip") and install.action == "uninstall":
            for word in install.packages:
                parsed = _parse_requirement(word)
                if parsed is not None:
                    model.removed.add(parsed[0])
            return
        wheels_only = manager == "pip" and install.action == "wheel"
        if not install.is_install and not wheels_only:
            return
        py = self._py_install(model, stage, instruction, install, command, script, cwd, variables,
                              wheels_only)
        self.seq += 1
        model.events.append(_Event(self.seq, "py", install=install, instruction=instruction, py=py,
                                   stage=stage))
        for env in model.envs:
            if env.location == py.location and not env.copies:
                env.installs.append(py)
                break
        else:
            model.envs.append(PyEnv(py.location, [py]))

    def _system(self, model: StageModel, stage: Stage, instruction: Instruction, install: Install, command,
                script, variables: dict[str, str | None]) -> None:
        manager = install.manager
        action = install.action
        adds = install.is_install
        dels = action in ("purge", "remove", "autoremove", "del") if manager != "apk" else action == "del"
        if not adds and not dels:
            return
        names: list[str] = []
        spans: list[Span] = []
        words = command.words
        for package in install.packages:
            expanded = _expand(package, variables, instruction.escape)
            index = words.index(package) if package in words else -1
            span = (self._word_span(instruction, script, command, index, install.span) if index >= 0
                    else install.span)
            for word in expanded.split() if expanded != package else [package]:
                name = apt_name(word, manager)
                if name is None:
                    if "$" in word or "`" in word or "(" in word:
                        self._opaque(model, instruction)
                    continue
                names.append(name)
                spans.append(span)
        if adds and install.requirement_files:
            self._opaque(model, instruction)
        virtual = None
        if manager == "apk" and adds:
            virtual = install.option_value("-t", "--virtual")
        self.seq += 1
        model.events.append(_Event(self.seq, "add" if adds else "del", names=names, install=install,
                                   spans=spans, instruction=instruction, stage=stage, virtual=virtual))

    # -- Python installs ----------------------------------------------------------------

    def _py_install(self, model: StageModel, stage: Stage, instruction: Instruction, install: Install,
                    command, script, cwd: str, variables: dict[str, str | None],
                    wheels_only: bool) -> PyInstall:
        location = self._location(install, cwd, variables, wheels_only, model.venvs)
        py = PyInstall(install=install, stage=stage, instruction=instruction, cwd=cwd, location=location,
                       wheels_only=wheels_only)
        options = install.options
        only_binary = install.option_value("--only-binary")
        if (only_binary and ":all:" in only_binary) or install.has_option("--no-index"):
            py.prebuilt_only = True
        if install.has_option("--no-binary", "--no-build"):
            py.builds_from_source = True
        escape = instruction.escape
        manager = install.manager
        constraints = set()
        for index, option in enumerate(options):
            name, eq, value = option.partition("=")
            if name in ("-c", "--constraint", "-b", "--build-constraint", "--overrides", "--override"):
                if eq:
                    constraints.add(value)
                elif index + 1 < len(options):
                    constraints.add(options[index + 1])
        files = [f for f in install.requirement_files if f not in constraints]
        if manager == "uv-sync":
            project_dir = install.option_value("--project", "--directory") or "."
            self._from_pyproject(py, stage, instruction, _join(cwd, _expand(project_dir, variables, escape)),
                                 install, extras=self._uv_extras(install), mode="uv")
            return py
        if manager == "poetry":
            project_dir = install.option_value("-C", "--directory", "-P", "--project") or "."
            self._from_pyproject(py, stage, instruction, _join(cwd, _expand(project_dir, variables, escape)),
                                 install, extras=(), mode="poetry")
            return py
        for raw in files:
            word = _expand(raw, variables, escape)
            if "$" in word or not word:
                continue
            container = _join(cwd, word)
            if posixpath.basename(container) == "pyproject.toml":
                self._from_pyproject(py, stage, instruction, posixpath.dirname(container), install,
                                     extras=self._uv_extras(install), mode="pep621")
                continue
            relpath = self.context_file(stage, instruction, container)
            if relpath is None:
                continue
            self._from_requirements(py, relpath)
        words = command.words
        for package in install.packages:
            word = _expand(package, variables, escape)
            if not word or "$" in word or "*" in word:
                continue
            local, extras = _split_local(word)
            if local is not None:
                self._from_pyproject(py, stage, instruction, _join(cwd, local), install, extras=extras,
                                     mode="pep621")
                continue
            requirement = _parse_requirement(word)
            if requirement is None:
                continue
            name, spec, marker = requirement
            index = words.index(package) if package in words else -1
            span = (self._word_span(instruction, script, command, index, install.span) if index >= 0
                    else install.span)
            py.packages.append(PyPackage(name, spec, span, "command", py, marker))
        return py

    @staticmethod
    def _uv_extras(install: Install) -> tuple[str, ...] | None:
        if install.has_option("--all-extras"):
            return None  # every extra
        extras: list[str] = []
        options = install.options
        for index, option in enumerate(options):
            name, eq, value = option.partition("=")
            if name == "--extra":
                extras.append(value if eq else (options[index + 1] if index + 1 < len(options) else ""))
        return tuple(e for e in extras if e)

    def _location(self, install: Install, cwd: str, variables: dict[str, str | None], wheels_only: bool,
                  venvs: set[str]) -> str | None:
        escape = "\\"

        def value(*names: str) -> str | None:
            found = install.option_value(*names)
            return _expand(found, variables, escape) if found else None

        if wheels_only:
            target = value("-w", "--wheel-dir")
            return _join(cwd, target) if target else cwd
        for names in (("--target", "-t"), ("--prefix",), ("--root",)):
            found = value(*names)
            if found and "$" not in found:
                return _join(cwd, found)
        manager = install.manager
        if manager == "pip" and install.has_option("--user"):
            base = variables.get("PYTHONUSERBASE")
            if base:
                return _join(cwd, base)
            return _join(variables.get("HOME") or "/root", ".local")
        program = install.words[0] if install.words else ""
        if manager == "pip" and "/bin/" in program:
            folder = posixpath.dirname(posixpath.dirname(_join(cwd, program)))
            return None if folder in ("/usr", "/usr/local", "/") else folder
        if manager == "uv-sync":
            env = variables.get("UV_PROJECT_ENVIRONMENT")
            if env:
                return _join(cwd, env)
            project_dir = install.option_value("--project", "--directory") or "."
            return _join(_join(cwd, project_dir), ".venv")
        if manager == "uv-pip":
            system = (variables.get("UV_SYSTEM_PYTHON") or "").lower() in ("1", "true")
            if install.has_option("--system") or system:
                return None
            python = value("--python", "-p")
            if python and python.startswith("/"):
                folder = python
                if "/bin/" in folder:
                    folder = posixpath.dirname(posixpath.dirname(folder))
                return None if folder in ("/usr", "/usr/local") else _norm(folder)
            venv = variables.get("VIRTUAL_ENV")
            return _join(cwd, venv) if venv else _join(cwd, ".venv")
        if manager == "poetry":
            create = (variables.get("POETRY_VIRTUALENVS_CREATE") or "").lower()
            if create in ("false", "0"):
                return None
            in_project = (variables.get("POETRY_VIRTUALENVS_IN_PROJECT") or "").lower()
            if in_project in ("true", "1"):
                return _join(cwd, ".venv")
            return "?poetry"
        venv = variables.get("VIRTUAL_ENV")
        if venv:
            return _join(cwd, venv)
        for entry in (variables.get("PATH") or "").split(":"):
            entry = entry.rstrip("/")
            if not entry.startswith("/") or entry in _SYSTEM_BINS:
                continue
            if entry.endswith("/bin"):
                folder = _norm(entry[: -len("/bin")])
                if folder in venvs or "env" in posixpath.basename(folder).lower():
                    return folder
        return None

    # -- manifests ----------------------------------------------------------------------

    def _from_requirements(self, py: PyInstall, relpath: str) -> None:
        from dockaudit.parse.manifests import requirements_closure

        closure = requirements_closure(self.project, relpath)
        for document in closure.files:
            if document.path not in py.manifests:
                py.manifests.append(document.path)
        for requirement, _document in closure:
            if requirement.kind not in ("pep508", "url", "vcs") or not requirement.name:
                continue
            spec = requirement.name + (f"[{','.join(requirement.extras)}]" if requirement.extras else "")
            py.packages.append(PyPackage(_canonical(requirement.name), spec, requirement.span, "requirements",
                                         py, requirement.marker))

    def _from_pyproject(self, py: PyInstall, stage: Stage, instruction: Instruction, folder: str,
                        install: Install, extras: tuple[str, ...] | None, mode: str) -> None:
        relpath = self.context_file(stage, instruction, _join(folder, "pyproject.toml"))
        if relpath is None:
            return
        document = self.project.document(relpath, "pyproject")
        if document is None:
            return
        py.manifests.append(relpath)
        for requirement in _pyproject_requirements(document, install, extras, mode):
            if not requirement.name or requirement.kind == "path":
                continue
            spec = requirement.name + (f"[{','.join(requirement.extras)}]" if requirement.extras else "")
            py.packages.append(PyPackage(_canonical(requirement.name), spec, requirement.span, "pyproject",
                                         py, requirement.marker))

    # -- files in the build context -----------------------------------------------------

    def context_file(self, stage: Stage, instruction: Instruction, container: str,
                     depth: int = 0) -> str | None:
        """The root-relative path of the build-context file at ``container`` when ``instruction``
        runs, following the COPY/ADD instructions (and bind mounts) that put it there."""
        from dockaudit.installs import run_mounts

        if instruction.keyword == "RUN":
            for mount in run_mounts(instruction, stage.env_at(instruction)):
                if mount.type != "bind" or not mount.target:
                    continue
                target = _join(self._workdir_at(stage, instruction), mount.target)
                if not _under(container, target):
                    continue
                rest = container[len(target):].lstrip("/")
                source = mount.source or "."
                if mount.from_:
                    continue
                found = self._in_context(posixpath.join(source, rest) if rest else source)
                if found is not None:
                    return found
        return self._through_copies(stage, instruction, container, depth)

    def _through_copies(self, stage: Stage, before: Instruction | None, container: str,
                        depth: int) -> str | None:
        from dockaudit.link.services import lineage

        for member in lineage(stage):
            instructions = member.instructions
            if before is not None and member is stage and before in instructions:
                instructions = instructions[: instructions.index(before)]
            for instruction in reversed(instructions):
                if instruction.keyword not in ("COPY", "ADD") or instruction.heredocs:
                    continue
                args = [a for a in instruction.args if a]
                if len(args) < 2:
                    continue
                variables = member.env_at(instruction)
                args = [_expand(a, variables, instruction.escape) for a in args]
                sources, dest = args[:-1], args[-1]
                dest_abs = _join(self._workdir_at(member, instruction), dest)
                dir_dest = dest.endswith("/") or len(sources) > 1
                if not _under(container, dest_abs):
                    continue
                rest = container[len(dest_abs):].lstrip("/") if container != dest_abs else ""
                origin = instruction.flag("from")
                for source in sources:
                    if "://" in source:
                        continue
                    candidates = self._copy_candidates(source, rest, dir_dest)
                    for candidate in candidates:
                        if not origin:
                            candidate = candidate.lstrip("/") or "."
                        if origin:
                            if depth >= _MAX_DEPTH or self.dockerfile is None:
                                continue
                            other = self.dockerfile.stage(origin)
                            if other is None or other is stage:
                                continue
                            found = self._through_copies(other, None, _join("/", candidate), depth + 1)
                        else:
                            found = self._in_context(candidate)
                        if found is not None:
                            return found
        return None

    def _copy_candidates(self, source: str, rest: str, dir_dest: bool) -> list[str]:
        """Context-relative paths a file at ``dest/rest`` may come from, for one COPY source."""
        source = source.rstrip("/") or "."
        base = posixpath.basename(source)
        out: list[str] = []
        if any(ch in source for ch in "*?["):
            if rest and "/" not in rest and fnmatch.fnmatch(rest, base):
                out.append(posixpath.join(posixpath.dirname(source), rest))
            elif rest and "/" in rest:
                first, _, tail = rest.partition("/")
                if fnmatch.fnmatch(first, base):
                    out.append(posixpath.join(posixpath.dirname(source), first, tail))
            return out
        if not rest:
            if not dir_dest:
                out.append(source)  # COPY requirements.txt /app/requirements.txt
            return out
        out.append(posixpath.join(source, rest))  # COPY . /app  or  COPY src/ /app/
        if rest == base:
            out.append(source)  # COPY requirements.txt /app/  (dest is a folder)
        return out

    def _in_context(self, relative: str) -> str | None:
        for context in self.contexts:
            resolved = self.project.resolve(context, relative)
            if resolved is not None and resolved in self.project.tree.files:
                return resolved
        return None

    def _workdir_at(self, stage: Stage, instruction: Instruction) -> str:
        parent = stage.parent
        workdir = parent.workdir if parent is not None else "/"
        for inst in stage.instructions:
            if inst is instruction:
                break
            if inst.keyword == "WORKDIR" and inst.value:
                workdir = _join(workdir, _expand(inst.value, stage.env_at(inst), inst.escape))
        return workdir

    # -- COPY --from --------------------------------------------------------------------

    def _copy_from(self, model: StageModel, stage: Stage, instruction: Instruction, source: str, workdir: str,
                   depth: int) -> None:
        other = self.dockerfile.stage(source)
        if other is None or other is stage or other.index >= stage.index:
            model.copied_images.append((instruction, source))
            return
        if other.root.parent is None and other.root.base_image:
            # files copied out of a stage built on another image (``FROM mwader/static-ffmpeg AS ff``)
            model.copied_images.append((instruction, other.root.base_image))
        if depth >= _MAX_DEPTH:
            return
        args = [a for a in instruction.args if a]
        if len(args) < 2:
            return
        variables = stage.env_at(instruction)
        args = [_expand(a, variables, instruction.escape) for a in args]
        sources, dest = args[:-1], args[-1]
        dest_abs = _join(workdir, dest)
        origin = self.model(other, depth + 1)
        model.removed |= origin.removed
        for envs, into in ((origin.envs, model.envs), (origin.node_envs, model.node_envs)):
            for env in envs:
                for raw in sources:
                    src = _join("/", raw)
                    location = _copied_location(env.location, src, dest_abs)
                    if location is False:
                        continue
                    installs = [i for i in env.installs if i.packages or i.wheels_only]
                    if not installs:
                        continue
                    into.append(PyEnv(location if isinstance(location, str) else None, installs,
                                      [instruction, *env.copies]))
                    break

    # -- npm / yarn / pnpm --------------------------------------------------------------

    def _node_install(self, model: StageModel, stage: Stage, instruction: Instruction, install: Install,
                      command, script, cwd: str, variables: dict[str, str | None]) -> None:
        """Record the packages an npm/yarn/pnpm install puts into ``<cwd>/node_modules``."""
        escape = instruction.escape
        folder = cwd
        prefix = install.option_value("--prefix", "--cwd", "-C", "--dir")
        if prefix:
            folder = _join(cwd, _expand(prefix, variables, escape))
        py = PyInstall(install=install, stage=stage, instruction=instruction, cwd=folder,
                       location=_join(folder, "node_modules"))
        if install.has_option("--ignore-scripts"):
            py.prebuilt_only = True  # no install scripts: nothing is compiled (nor downloaded)
        words = command.words
        explicit = [p for p in install.packages if p and "$" not in p and not p.startswith((".", "/"))]
        for package in explicit:
            name = package
            if "@" in name[1:]:
                name = name[0] + name[1:].split("@", 1)[0]
            index = words.index(package) if package in words else -1
            span = (self._word_span(instruction, script, command, index, install.span) if index >= 0
                    else install.span)
            py.packages.append(PyPackage(name.lower(), name, span, "command", py))
        if not explicit or install.action == "ci":
            relpath = self.context_file(stage, instruction, _join(folder, "package.json"))
            document = self.project.document(relpath, "packagejson") if relpath else None
            if document is not None:
                py.manifests.append(relpath)
                omit = set(_words_after(install, "--omit"))
                production = (install.has_option("--production", "--prod", "-P")
                              or "dev" in omit or (variables.get("NODE_ENV") or "") == "production")
                sections = [document.dependencies, document.optional_dependencies]
                if not production:
                    sections.append(document.dev_dependencies)
                for section in sections:
                    for name, (_version, span) in section.items():
                        py.packages.append(PyPackage(name.lower(), name, span, "package.json", py))
        self.seq += 1
        model.events.append(_Event(self.seq, "node", install=install, instruction=instruction, py=py,
                                   stage=stage))
        model.node_envs.append(PyEnv(py.location, [py]))


def _copied_location(location: str | None, src: str, dest: str) -> str | bool | None:
    """Where an environment at ``location`` lands when ``src`` is copied to ``dest``; False when
    the copy does not carry it."""
    if location == "?poetry":
        return dest if ("pypoetry" in src or src in ("/", "/root", "/root/.cache")) else False
    if location is None:
        system = (src in ("/", "/usr", "/usr/local", "/usr/local/lib", "/usr/lib")
                  or "site-packages" in src or "dist-packages" in src
                  or re.match(r"/usr/(local/)?lib/python\d", src) is not None)
        return None if system else False
    if src == location:
        return dest
    if _under(location, src):
        return _join(dest, location[len(src):].lstrip("/"))
    if _under(src, location):
        rest = src[len(location):].lstrip("/")
        if rest.startswith("lib") or "site-packages" in rest:
            return dest
    return False


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split_local(word: str) -> tuple[str | None, tuple[str, ...] | None]:
    """``.`` / ``./svc[gpu]`` / ``/app`` → (path, extras); (None, None) for anything else."""
    text = word
    if text.startswith(("git+", "http://", "https://", "file:")) or text.endswith(
            (".whl", ".tar.gz", ".zip")):
        return None, None
    extras: tuple[str, ...] = ()
    match = re.fullmatch(r"(.*?)\[([^\]]*)\]", text)
    if match:
        text = match.group(1)
        extras = tuple(e.strip() for e in match.group(2).split(",") if e.strip())
    if text in (".", "..") or text.startswith(("./", "../", "/")):
        return text, extras
    return None, None


def _parse_requirement(word: str) -> tuple[str, str, str | None] | None:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(word)
    except InvalidRequirement:
        return None
    spec = requirement.name + (f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else "")
    return _canonical(requirement.name), spec, str(requirement.marker) if requirement.marker else None


def _poetry_optional_groups(document: PyProject) -> set[str]:
    groups = ((document.data.get("tool") or {}).get("poetry") or {}).get("group") or {}
    out = set()
    if isinstance(groups, dict):
        for name, table in groups.items():
            if isinstance(table, dict) and table.get("optional") is True:
                out.add(name)
    return out


def _words_after(install: Install, *names: str) -> list[str]:
    values: list[str] = []
    options = install.options
    for index, option in enumerate(options):
        name, eq, value = option.partition("=")
        if name in names:
            raw = value if eq else (options[index + 1] if index + 1 < len(options) else "")
            values.extend(v.strip() for v in raw.split(",") if v.strip())
    return values


def _pyproject_requirements(document: PyProject, install: Install, extras: tuple[str, ...] | None, mode: str):
    out = list(document.dependencies)
    if mode == "poetry":
        out.extend(r for r in document.poetry_dependencies if r.name.lower() != "python")
        only = set(_words_after(install, "--only"))
        without = set(_words_after(install, "--without"))
        with_ = set(_words_after(install, "--with"))
        optional = _poetry_optional_groups(document)
        if install.has_option("--no-dev"):
            without.add("dev")
        if only:
            if "main" not in only:
                out = []
            groups = only - {"main"}
        else:
            groups = {g for g in document.poetry_groups
                      if g not in without and (g not in optional or g in with_)}
        for group in groups:
            out.extend(document.poetry_groups.get(group, ()))
        return out
    if extras is None:
        for items in document.optional_dependencies.values():
            out.extend(items)
    else:
        for extra in extras:
            out.extend(document.optional_dependencies.get(extra, ()))
    if mode == "uv":
        if install.has_option("--only-group", "--only-dev"):
            out = []
        groups = set(_words_after(install, "--group", "--only-group"))
        if install.has_option("--only-dev"):
            groups.add("dev")
        if not install.has_option("--no-dev", "--no-default-groups", "--only-group"):
            groups.add("dev")
        groups -= set(_words_after(install, "--no-group"))
        if install.has_option("--all-groups"):
            groups |= set(document.dependency_groups)
        for group in groups:
            out.extend(document.dependency_groups.get(group, ()))
        if "dev" in groups:
            out.extend(document.uv_dev_dependencies)
    return out


# --- entry points ----------------------------------------------------------------------------


def _builder(project: Project, path: str, dockerfile: Dockerfile) -> _Builder:
    cache = project.__dict__.setdefault("_pydeps_builders", {})
    builder = cache.get(path)
    if builder is None or builder.dockerfile is not dockerfile:
        builder = _Builder(project, dockerfile, path)
        cache[path] = builder
    return builder


def stage_model(project: Project, path: str, stage: Stage) -> StageModel | None:
    """The :class:`StageModel` of ``stage`` of the Dockerfile at ``path`` (memoised per project)."""
    dockerfile = stage.dockerfile or project.dockerfile(path)
    if dockerfile is None:
        return None
    return _builder(project, path, dockerfile).model(stage)


#: Dockerfile names of development/test variants (``Dockerfile.dev``, ``test.Dockerfile``)
_DEV_DOCKERFILE = re.compile(
    r"(?:^|[.\-_])(?:dev|devel|develop|development|test|tests|ci|debug)(?:[.\-_]|$)", re.I
)


def deployed_stages(project: Project) -> list[tuple[str, Dockerfile, Stage]]:
    """Stages that become images people run: the compose build targets (the final stage when a
    service gives no target) and, for Dockerfiles no compose service builds, the final stage -
    except development/test variants (``Dockerfile.dev``, ``test.Dockerfile``) next to a
    Dockerfile that compose does build."""
    from dockaudit.link.services import service_builds

    out: list[tuple[str, Dockerfile, Stage]] = []
    seen: set[tuple[str, int]] = set()
    built: set[str] = set()
    for link in service_builds(project):
        if link.dockerfile is None or link.dockerfile_path is None:
            continue
        built.add(link.dockerfile_path)
        if link.stage is None:
            continue
        key = (link.dockerfile_path, link.stage.index)
        if key not in seen:
            seen.add(key)
            out.append((link.dockerfile_path, link.dockerfile, link.stage))
    built_folders = {posixpath.dirname(p) for p in built}
    for path, dockerfile in sorted(project.dockerfiles.items()):
        if path in built or dockerfile.final_stage is None:
            continue
        if posixpath.dirname(path) in built_folders and _DEV_DOCKERFILE.search(posixpath.basename(path)):
            continue
        out.append((path, dockerfile, dockerfile.final_stage))
    return out


def built_stages(dockerfile: Dockerfile, targets: list[Stage]) -> list[Stage]:
    """Stages BuildKit builds for ``targets``: the targets, their parents, and the stages they
    copy from or mount (``COPY --from``, ``RUN --mount=from=``), in file order."""
    from dockaudit.installs import run_mounts

    wanted: dict[int, Stage] = {}
    todo = list(targets)
    while todo:
        stage = todo.pop()
        if stage.index in wanted:
            continue
        wanted[stage.index] = stage
        if stage.parent is not None:
            todo.append(stage.parent)
        for instruction in stage.instructions:
            refs = []
            if instruction.keyword in ("COPY", "ADD") and instruction.flag("from"):
                refs.append(instruction.flag("from") or "")
            if instruction.keyword == "RUN":
                refs.extend(m.from_ for m in run_mounts(instruction) if m.from_)
            for ref in refs:
                other = dockerfile.stage(ref)
                if other is not None and other.index < stage.index:
                    todo.append(other)
    return [wanted[i] for i in sorted(wanted)]

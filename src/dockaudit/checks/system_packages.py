"""Rules about the distribution packages that Python (and npm) dependencies need: DA701-DA705.

The facts (which package needs which apt/apk package, at build or at run time, and where a
binary wheel makes the requirement go away) live in ``rules/knowledge/system_packages.toml``
and are read through :mod:`dockaudit.knowledge`. What an image installs is read by
:mod:`dockaudit.link.pydeps`. The rules stay quiet whenever they cannot see the whole picture:
an unknown base image, installs through variables or scripts, conda environments, files copied
from other images, or the missing program being mentioned anywhere in the stage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from dockaudit.engine import rule
from dockaudit.findings import Finding, Related, Severity

if TYPE_CHECKING:
    from dockaudit.knowledge import ImageFacts, SysReq
    from dockaudit.link.pydeps import PyInstall, PyPackage, StageModel, SysPackage
    from dockaudit.parse.dockerfile import Dockerfile, Stage
    from dockaudit.project import Project
    from dockaudit.source import Span


# --- facts -------------------------------------------------------------------------------------


@cache
def _relations() -> dict:
    from dockaudit.catalog import load_table

    table = load_table("system_packages")
    out = {
        "base": {k: frozenset(v) for k, v in (table.get("base_system") or {}).items()},
        "satisfied": {},
        "pulled": {k: {n: frozenset(v) for n, v in rows.items()}
                   for k, rows in (table.get("pulled_in_by") or {}).items()},
        "ubuntu": dict(table.get("ubuntu_names") or {}),
    }
    for family, rows in (table.get("satisfied_by") or {}).items():
        compiled = {}
        for name, items in rows.items():
            plain = frozenset(i for i in items if not i.startswith("re:"))
            patterns = tuple(re.compile(i[3:]) for i in items if i.startswith("re:"))
            compiled[name] = (plain, patterns)
        out["satisfied"][family] = compiled
    return out


def _strip_t64(name: str) -> str:
    return name[:-3] if name.endswith("t64") else name


@dataclass
class _Image:
    """The platform of a stage's base image."""

    facts: ImageFacts
    family: str  # "debian" (Debian and Ubuntu) or "alpine"
    distro: str
    version: str | None
    libc: str
    arch: str

    @property
    def manager(self) -> str:
        return "apk" if self.family == "alpine" else "apt"

    def display(self, name: str) -> str:
        """The name to tell the user for this distribution and release."""
        from dockaudit.knowledge import debian_package_name

        if self.family != "debian":
            return name
        if self.distro == "ubuntu" and name in _relations()["ubuntu"]:
            return _relations()["ubuntu"][name]
        return debian_package_name(name, self.distro, self.version)


def _image_of(stage: Stage) -> _Image | None:
    from dockaudit.knowledge import base_image_provides

    root = stage.root
    image = root.base_image
    if not image or root.is_scratch:
        return None
    facts = base_image_provides(image)
    if facts is None or facts.package_manager not in ("apt", "apk") or not facts.distro:
        return None
    distro = facts.distro
    family = "alpine" if distro == "alpine" else "debian" if distro in ("debian", "ubuntu") else ""
    if not family:
        return None
    libc = facts.libc or ("musl" if family == "alpine" else "glibc")
    arch = "x86_64"
    platform = (root.platform or "").lower()
    if "arm64" in platform or "aarch64" in platform:
        arch = "aarch64"
    elif platform and "amd64" not in platform and "$" not in platform:
        arch = platform.rsplit("/", 1)[-1]
    return _Image(facts, family, distro, facts.distro_version, libc, arch)


@dataclass
class _Have:
    """Distribution packages an image has at some point of its build."""

    image: _Image
    installed: dict[str, SysPackage]
    names: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        rel = _relations()
        self.names = {_strip_t64(n) for n in self.installed}
        self.names |= {_strip_t64(n) for n in self.image.facts.packages}
        self.names |= set(rel["base"].get(self.image.family, ()))

    def explicit(self, name: str, dev: bool = True) -> str | None:
        """The installed package that is ``name`` or stands in for it (no dependency closure);
        without ``dev``, a -dev package does not count as standing in for a library."""
        wanted = _strip_t64(name)
        if wanted in self.names:
            return wanted
        plain, patterns = _relations()["satisfied"].get(self.image.family, {}).get(wanted, (frozenset(), ()))
        for candidate in sorted(self.names):
            if not dev and candidate.endswith("-dev"):
                continue
            if candidate in plain or any(p.fullmatch(candidate) for p in patterns):
                return candidate
        return None

    def has(self, name: str) -> bool:
        if self.explicit(name) is not None:
            return True
        wanted = _strip_t64(name)
        pulled = _relations()["pulled"].get(self.image.family, {}).get(wanted, frozenset())
        if pulled & self.names:
            return True
        plain, _patterns = _relations()["satisfied"].get(self.image.family, {}).get(wanted, (frozenset(), ()))
        for other in plain:
            if _relations()["pulled"].get(self.image.family, {}).get(other, frozenset()) & self.names:
                return True
        return False


def _mentioned(model: StageModel, names: list[str], provides: tuple[str, ...]) -> bool:
    """Is the package (or the program it provides) installed some way we do not model - a
    download, a file copied from another image, conda?"""
    wanted = {_strip_t64(n) for n in names} | {p for p in provides if ".so" not in p and "." not in p}
    for word in model.words:
        parts = set(re.split(r"[/:@]", word))
        if word in wanted or parts & wanted:
            return True
    for _instruction, image in model.copied_images:
        if any(w in image.lower() for w in wanted):
            return True
    return bool(model.conda_packages & wanted)


def _marker_applies(marker: str | None, image: _Image) -> bool:
    if not marker:
        return True
    from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName

    python = image.facts.python_version
    if "python" in marker and not python:
        return True
    env = {
        "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
        "platform_machine": image.arch, "implementation_name": "cpython",
        "platform_python_implementation": "CPython", "extra": "",
    }
    if python:
        short = ".".join(python.split(".")[:2])
        env["python_version"] = short
        env["python_full_version"] = python if python.count(".") >= 2 else short + ".0"
    try:
        return bool(Marker(marker).evaluate(env))
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName, ValueError, TypeError):
        return True


def _compiled(reqs: list[SysReq]) -> bool:
    """Does pip certainly compile the package on this platform (a build requirement applies)?"""
    return any(r.phase == "build" and r.strength == "required" and (r.when == "always" or (
        r.when == "no_wheel" and r.certain)) for r in reqs)


def _run_level(req: SysReq) -> Severity | None:
    if req.phase != "run":
        return None
    if req.when == "optional":
        return Severity.WARNING if req.strength == "documented" else None
    if req.when == "no_wheel" and not req.certain:
        return Severity.WARNING
    return Severity.ERROR


# --- message parts -----------------------------------------------------------------------------


def _stage_name(stage: Stage) -> str:
    return stage.name or f"#{stage.index}"


def _where(path: str, stage: Stage) -> str:
    return f"{path} stage {_stage_name(stage)} (line {stage.from_instruction.span.line})"


def _quote(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _package_manager_event(model: StageModel, image: _Image, before: int | None = None):
    found = None
    for event in model.events:
        if before is not None and event.seq >= before:
            break
        if event.kind == "add" and event.install is not None and event.install.manager == image.manager:
            found = event
    return found


def _how_to_add(names: list[str], model: StageModel, image: _Image, path: str, stage: Stage,
                before: int | None = None) -> tuple[str, Related | None]:
    """"add X to the apt-get install in <file> stage <s> (line n)", and that install's location."""
    event = _package_manager_event(model, image, before)
    listed = " ".join(names)
    if event is not None and event.install is not None:
        install = event.install
        program = install.words[0].rsplit("/", 1)[-1] if install.words else image.manager
        verb = f"{program} {install.action}"
        where = event.stage or stage
        text = (f"add {_quote(names)} to the {verb} in {path} stage {_stage_name(where)} "
                f"(line {install.span.line})")
        return text, Related(install.span,
                             f"system packages of stage {_stage_name(where)} are installed here")
    if image.manager == "apk":
        run = f"RUN apk add --no-cache {listed}"
    else:
        run = (f"RUN apt-get update && apt-get install -y --no-install-recommends {listed} "
               "&& rm -rf /var/lib/apt/lists/*")
    return f"add `{run}` to {_where(path, stage)}", None


def _why_run(req: SysReq, package: str, names: list[str]) -> str:
    what = f"the system package{'s' if len(names) > 1 else ''} {_quote(names)}"
    if req.when == "optional":
        note = f" ({req.note.rstrip('.')})" if req.note else ""
        return f"{package} needs {what} for some uses{note}"
    if req.strength == "documented":
        return f"{package} needs {what} at run time (its install instructions say to install it)"
    if req.when == "no_wheel":
        return f"{package} has no binary wheel bundling it for this platform, so it needs {what} at run time"
    return f"{package} needs {what} at run time"


# --- analysis ----------------------------------------------------------------------------------


@dataclass
class _Candidate:
    rule: str
    finding: Finding
    key: tuple
    rank: int


def _installed_here(py: PyInstall, path: str) -> Related:
    stage = py.stage
    program = py.install.words[0].rsplit("/", 1)[-1] if py.install.words else "pip"
    return Related(py.install.span, f"{program} installs it here, in {path} stage {_stage_name(stage)}")


def _analyse(project: Project) -> dict[str, list[Finding]]:
    cached = project.__dict__.get("_system_package_findings")
    if cached is not None:
        return cached
    from dockaudit.link.pydeps import built_stages, deployed_stages

    candidates: list[_Candidate] = []
    by_file: dict[str, tuple[Dockerfile, list[Stage]]] = {}
    for path, dockerfile, stage in deployed_stages(project):
        if any(d.rule == "DA001" for d in dockerfile.diagnostics):
            continue
        by_file.setdefault(path, (dockerfile, []))[1].append(stage)
    for path, (dockerfile, targets) in by_file.items():
        for stage in built_stages(dockerfile, targets):
            candidates.extend(_build_dependencies(project, path, stage))
            candidates.extend(_node_build(project, path, stage))
        for stage in targets:
            candidates.extend(_runtime(project, path, dockerfile, stage))
            candidates.extend(_node_runtime(project, path, stage))
    best: dict[tuple, _Candidate] = {}
    for candidate in candidates:
        known = best.get(candidate.key)
        if known is None or candidate.rank > known.rank:
            best[candidate.key] = candidate
    out: dict[str, list[Finding]] = {}
    for candidate in best.values():
        out.setdefault(candidate.rule, []).append(candidate.finding)
    project.__dict__["_system_package_findings"] = out
    return out


def _build_dependencies(project: Project, path: str, stage: Stage) -> Iterator[_Candidate]:
    """DA702: a package compiled at install time in a stage without its build dependencies."""
    from dockaudit.knowledge import system_package_info, system_requirements
    from dockaudit.link.pydeps import stage_model

    image = _image_of(stage)
    model = stage_model(project, path, stage)
    if image is None or model is None:
        return
    for event in model.events:
        py = event.py
        if event.kind != "py" or py is None or py.stage is not stage:
            continue
        if py.prebuilt_only or py.builds_from_source:
            continue
        if model.opaque_before(event.seq):
            continue
        have = _Have(image, model.system_packages(before=event.seq))
        distro_python = _distro_python(image, have)
        for package in py.packages:
            if not _marker_applies(package.marker, image):
                continue
            reqs = system_requirements(package.spec, image.libc, image.arch)
            missing: list[str] = []
            applicable = [r for r in reqs if r.phase == "build" and r.strength == "required" and (
                r.when == "always" or (r.when == "no_wheel" and r.certain))]
            for req in applicable:
                for name in req.names(image.family):
                    if name == "python3-dev" and not distro_python:
                        continue
                    shown = image.display(name)
                    if not have.has(name) and shown not in missing:
                        missing.append(shown)
            if not missing:
                continue
            info = system_package_info(package.spec)
            reason = ("pip always compiles it on Linux" if any(r.when == "always" for r in applicable)
                      else f"it has no binary wheel for {image.libc} {image.arch}, so pip compiles it")
            add, apt_related = _how_to_add(missing, model, image, path, stage, before=event.seq)
            alternative = ""
            if info is not None and info.alternatives:
                alternative = f", or depend on {' / '.join(info.alternatives)} instead"
            message = (f"{package.spec} needs {_quote(missing)} to build: {reason}, and "
                       f"{_where(path, stage)} does not install {'them' if len(missing) > 1 else 'it'} "
                       f"before the install on line {py.install.span.line}; {add}{alternative}")
            related = [_installed_here(py, path),
                       Related(stage.from_instruction.span, f"stage {_stage_name(stage)} starts here")]
            if apt_related is not None:
                related.append(apt_related)
            finding = Finding(package.span, message, related=tuple(_dedupe(related, package.span)),
                              fix=f"{add}{alternative}")
            key = ("DA702", _span_key(package.span), tuple(missing))
            yield _Candidate("DA702", finding, key, stage.index)


def _distro_python(image: _Image, have: _Have) -> bool:
    """Is Python the distribution's (so its headers come from python3-dev)?"""
    if image.facts.python is not False:
        return False
    return any(re.fullmatch(r"python3(\.\d+)?(-venv|-pip|-full|-minimal)?", n) for n in have.names)


def _runtime(project: Project, path: str, dockerfile: Dockerfile, stage: Stage) -> Iterator[_Candidate]:
    """DA701, DA703 and DA704 for the image of a deployed stage."""
    from dockaudit.knowledge import system_package_info, system_requirements
    from dockaudit.link.pydeps import built_stages, stage_model
    from dockaudit.link.services import lineage

    image = _image_of(stage)
    model = stage_model(project, path, stage)
    if image is None or model is None or model.opaque:
        return
    have = _Have(image, model.system_packages())
    family = lineage(stage)
    in_lineage = {id(s) for s in family}
    present = {p.name for env in model.envs for p in env.packages} - model.removed
    # stages the runtime copies from (builders), not its own parents nor stages built on it
    others = [s for s in built_stages(dockerfile, [stage]) if id(s) not in in_lineage]
    seen: set[tuple] = set()
    for env in model.envs:
        for py in env.installs:
            copied = bool(env.copies) and id(py.stage) not in in_lineage
            for package in py.packages:
                if package.name in model.removed or not _marker_applies(package.marker, image):
                    continue
                info = system_package_info(package.spec)
                if info is not None and any(_canon(a) in present for a in info.alternatives):
                    continue  # opencv-python next to opencv-python-headless: which one wins is unknown
                reqs = system_requirements(package.spec, image.libc, image.arch)
                compiled = _compiled(reqs)
                if compiled and not copied:
                    continue  # built in this image: DA702 covers the -dev packages, which bring the library
                for req in reqs:
                    level = _run_level(req)
                    if level is None:
                        continue
                    names = [n for n in req.names(image.family)]
                    missing = [n for n in names if not have.has(n)]
                    if not missing or _mentioned(model, missing, req.provides):
                        continue
                    key = (package.span, tuple(missing))
                    if key in seen:
                        continue
                    seen.add(key)
                    yield from _runtime_findings(project, path, model, image, stage, others, env, py, package,
                                                 req, missing, level, compiled)


def _runtime_findings(project: Project, path: str, model: StageModel, image: _Image, stage: Stage,
                      others: list[Stage], env, py: PyInstall, package: PyPackage, req: SysReq,
                      missing: list[str], level: Severity, compiled: bool) -> Iterator[_Candidate]:
    from dockaudit.link.pydeps import stage_model

    elsewhere: dict[str, tuple[Stage, SysPackage]] = {}
    for other in others:
        other_image = _image_of(other)
        other_model = stage_model(project, path, other)
        if other_image is None or other_model is None or other_image.family != image.family:
            continue
        installed = {s.name: s for s in other_model.system_packages().values() if s.stage is other}
        other_have = _Have(other_image, installed)
        other_have.names -= set(other_image.facts.packages) | set(_relations()["base"].get(image.family, ()))
        for name in missing:
            if name in elsewhere:
                continue
            found = other_have.explicit(name, dev=False)
            if found is not None and found in installed:
                elsewhere[name] = (other, installed[found])
    rest = [n for n in missing if n not in elsewhere]
    related_common: list[Related] = [Related(stage.from_instruction.span,
                                             f"the image of stage {_stage_name(stage)} starts here")]
    if env.copies:
        copy = env.copies[0]
        related_common.append(Related(copy.span,
                                      f"{package.spec} is copied into stage {_stage_name(stage)} here"))
    related_common.append(_installed_here(py, path))
    if elsewhere:
        names = [image.display(n) for n in missing if n in elsewhere]
        stages = sorted({_stage_name(s) for s, _ in elsewhere.values()})
        add, apt_related = _how_to_add(names, model, image, path, stage)
        many = len(stages) > 1
        message = (f"{_why_run(req, package.spec, names)}, but only {path} stage{'s' if many else ''} "
                   f"{', '.join(stages)} install{'' if many else 's'} it, and {_where(path, stage)} "
                   f"does not inherit from {'them' if many else 'it'}; {add}")
        related = list(related_common)
        for other, sys_package in elsewhere.values():
            related.append(Related(sys_package.span, f"installed only in stage {_stage_name(other)}"))
        if apt_related is not None:
            related.append(apt_related)
        finding = Finding(package.span, message, related=tuple(_dedupe(related, package.span)), fix=add,
                          severity=level if level != Severity.ERROR else None)
        yield _Candidate("DA704", finding, ("DA704", _span_key(package.span), tuple(names)), stage.index)
    if rest:
        names = [image.display(n) for n in rest]
        add, apt_related = _how_to_add(names, model, image, path, stage)
        rule_id = "DA703" if compiled else "DA701"
        if compiled:
            built = py.stage
            message = (f"{package.spec} is compiled in {path} stage {_stage_name(built)} and copied into "
                       f"{_where(path, stage)}, which lacks the shared "
                       f"librar{'ies' if len(names) > 1 else 'y'} "
                       f"it links against at run time ({_quote(names)}); {add}")
        else:
            message = (f"{_why_run(req, package.spec, names)}, but the image of {_where(path, stage)} "
                       f"does not install {'them' if len(names) > 1 else 'it'}; {add}")
        related = list(related_common)
        if apt_related is not None:
            related.append(apt_related)
        finding = Finding(package.span, message, related=tuple(_dedupe(related, package.span)), fix=add,
                          severity=level if level != Severity.ERROR else None)
        yield _Candidate(rule_id, finding, (rule_id, _span_key(package.span), tuple(names)), stage.index)


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _span_key(span: Span) -> tuple:
    return (span.path, span.line, span.column, span.end_line, span.end_column)


def _dedupe(related: list[Related], own: Span) -> list[Related]:
    out: list[Related] = []
    seen = {_span_key(own)}
    for item in related:
        key = _span_key(item.span)
        if key in seen:
            continue
        seen.add(key)
        out.append(item)
    return out


# --- npm native modules (DA705) ---------------------------------------------------------------


def _node_reqs(name: str, image: _Image, phase: str) -> list[SysReq]:
    from dockaudit.knowledge import system_requirements

    return [r for r in system_requirements(name, image.libc, image.arch, ecosystem="npm")
            if r.phase == phase and r.strength == "required" and r.when in ("always", "no_wheel")]


def _no_prebuilt(req: SysReq, image: _Image) -> str:
    if req.when == "always":
        return "it is always compiled on Linux"
    return f"no prebuilt binary is published for {image.libc} {image.arch}, so node-gyp compiles it"


def _node_build(project: Project, path: str, stage: Stage) -> Iterator[_Candidate]:
    """DA705, build side: an npm package compiled at install time without its -dev packages."""
    from dockaudit.link.pydeps import stage_model

    image = _image_of(stage)
    model = stage_model(project, path, stage)
    if image is None or model is None:
        return
    for event in model.events:
        node = event.py
        if event.kind != "node" or node is None or node.stage is not stage or node.prebuilt_only:
            continue
        if model.opaque_before(event.seq):
            continue
        have = _Have(image, model.system_packages(before=event.seq))
        for package in node.packages:
            reqs = _node_reqs(package.name, image, "build")
            missing: list[str] = []
            for req in reqs:
                for name in req.names(image.family):
                    shown = image.display(name)
                    if not have.has(name) and shown not in missing:
                        missing.append(shown)
            if not reqs or not missing:
                continue
            add, apt_related = _how_to_add(missing, model, image, path, stage, before=event.seq)
            verb = " ".join(node.install.words[:2]) if node.install.words else "npm install"
            message = (f"{package.spec}: {_no_prebuilt(reqs[0], image)} during `{verb}` in "
                       f"{_where(path, stage)}, which lacks {_quote(missing)}; {add}")
            related = [Related(node.install.span, f"`{verb}` runs here, in stage {_stage_name(stage)}"),
                       Related(stage.from_instruction.span, f"stage {_stage_name(stage)} starts here")]
            if apt_related is not None:
                related.append(apt_related)
            finding = Finding(package.span, message, related=tuple(_dedupe(related, package.span)), fix=add,
                              severity=Severity.WARNING)
            key = ("DA705", _span_key(package.span), tuple(missing))
            yield _Candidate("DA705", finding, key, stage.index)


def _node_runtime(project: Project, path: str, stage: Stage) -> Iterator[_Candidate]:
    """DA705, run side: node_modules with a module compiled elsewhere, without its shared libraries."""
    from dockaudit.link.pydeps import stage_model
    from dockaudit.link.services import lineage

    image = _image_of(stage)
    model = stage_model(project, path, stage)
    if image is None or model is None or model.opaque:
        return
    have = _Have(image, model.system_packages())
    in_lineage = {id(s) for s in lineage(stage)}
    for env in model.node_envs:
        if not env.copies:
            continue
        for node in env.installs:
            if id(node.stage) in in_lineage or node.prebuilt_only:
                continue
            for package in node.packages:
                if not _node_reqs(package.name, image, "build"):
                    continue
                for req in _node_reqs(package.name, image, "run"):
                    missing = [n for n in req.names(image.family) if not have.has(n)]
                    if not missing or _mentioned(model, missing, req.provides):
                        continue
                    names = [image.display(n) for n in missing]
                    add, apt_related = _how_to_add(names, model, image, path, stage)
                    message = (f"{package.spec}: {_no_prebuilt(req, image)} in {path} stage "
                               f"{_stage_name(node.stage)}, and its node_modules are copied into "
                               f"{_where(path, stage)}, which lacks the shared libraries it loads "
                               f"({_quote(names)}); {add}")
                    related = [Related(stage.from_instruction.span,
                                       f"the image of stage {_stage_name(stage)} starts here"),
                               Related(env.copies[0].span, f"node_modules are copied into stage "
                                                           f"{_stage_name(stage)} here"),
                               Related(node.install.span,
                                       f"installed here, in stage {_stage_name(node.stage)}")]
                    if apt_related is not None:
                        related.append(apt_related)
                    finding = Finding(package.span, message, related=tuple(_dedupe(related, package.span)),
                                      fix=add, severity=Severity.WARNING)
                    key = ("DA705", _span_key(package.span), tuple(names))
                    yield _Candidate("DA705", finding, key, stage.index)


# --- the rules ---------------------------------------------------------------------------------


@rule("DA701")
def missing_system_package(project: Project) -> Iterator[Finding]:
    """A Python package in the final image needs a distribution package the image does not install.

    kokoro and phonemizer need ``espeak-ng``, openai-whisper ``ffmpeg``, opencv-python ``libgl1``
    and ``libglib2.0-0``, pdf2image ``poppler-utils``, pytesseract ``tesseract-ocr``, WeasyPrint
    Pango, soundfile ``libsndfile`` where no wheel bundles it (musl). The finding sits on the
    requirement; the message names the package to add and the apt-get/apk line to add it to.
    Quiet for unknown base images and for stages that install things we cannot read.
    """
    yield from _analyse(project).get("DA701", ())


@rule("DA702")
def missing_build_dependency(project: Project) -> Iterator[Finding]:
    """A package pip must compile (no wheel for the platform) is installed in a stage without its
    build dependencies: psycopg2 needs ``libpq-dev`` and a compiler, mysqlclient
    ``default-libmysqlclient-dev`` and ``pkg-config``, PyAudio ``portaudio19-dev``. The image
    build fails. Fix: install the -dev packages before the pip install, or use the binary variant.
    """
    yield from _analyse(project).get("DA702", ())


@rule("DA703")
def runtime_library_missing(project: Project) -> Iterator[Finding]:
    """A package compiled in a builder stage is copied into a runtime stage that lacks the shared
    library it links against (``libpq5`` for psycopg2, ``libmariadb3`` for mysqlclient,
    ``libportaudio2`` for PyAudio): the import fails when the container starts.
    """
    yield from _analyse(project).get("DA703", ())


@rule("DA704")
def system_package_in_builder_only(project: Project) -> Iterator[Finding]:
    """The distribution package a Python package needs at run time is installed, but only in a
    stage the runtime image does not inherit from (a builder): move or repeat the install in the
    runtime stage.
    """
    yield from _analyse(project).get("DA704", ())


@rule("DA705")
def native_node_module_dependencies(project: Project) -> Iterator[Finding]:
    """An npm package with a native addon (node-canvas) is compiled by node-gyp where no prebuilt
    binary exists (Alpine/musl, arm64), and the stage lacks the -dev packages it needs; or it was
    compiled in a builder and its node_modules are copied into a stage without the shared
    libraries. Heuristic (warning): prebuilt coverage changes between releases.
    """
    yield from _analyse(project).get("DA705", ())

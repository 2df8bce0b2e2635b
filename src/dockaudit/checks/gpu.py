"""Rules about CUDA images, NVIDIA drivers, the GPU fleet and PyTorch wheels (DA601-DA612).

The fleet is what the project deploys to: ``[gpu] driver = "535.183.01"`` and
``devices = ["Tesla P40"]`` in ``.dockaudit.toml`` (or ``--gpu-driver`` / ``--gpu``). Without a
declared driver the driver checks only leave a note (DA605); without devices the architecture
checks stay quiet.

Decisions (see also :mod:`dockaudit.knowledge`):

* **Which driver an ``nvidia/cuda`` image needs** (DA603): the image sets
  ``NVIDIA_REQUIRE_CUDA="cuda>=X.Y ..."`` and nvidia-container-cli refuses to start it when the
  host driver reports an older CUDA. So an X.Y.Z image needs the GA driver of CUDA X.Y (Table 3
  of the CUDA release notes): 12.1 needs 530.30.02 and a 525 driver fails. Minor-version
  compatibility does not help here: it applies to applications, not to that start check.
  Forward compatibility (the ``brand=...,driver>=B`` clauses of the same variable plus the
  image's cuda-compat package) is counted only when the driver is on a data-centre branch NVIDIA
  still supports and the fleet's GPUs are data-centre GPUs; the finding is then a warning that
  says so. An end-of-life branch (R470, R525 ...) is reported as an error, naming the clause.
* **Which driver a PyTorch wheel needs** (DA606): the wheel carries its own CUDA libraries and
  relies on CUDA minor-version compatibility: cu12x wheels run on drivers >= 525, cu13x on
  >= 580, cu11x on >= 450.80.02 (Table 2).
* **Which GPUs a wheel can run on** (DA607): the wheel's arch list (SASS for X.Y runs on X.Z,
  Z >= Y; PTX runs on anything newer).
* **Unpinned torch** (``torch>=2.1``): the releases the specifier admits are taken from the
  knowledge table. When every one of them fails, the finding keeps the rule's severity. When
  only the newest fails (what pip installs today), the finding is a warning and says that it is
  a heuristic (other requirements may hold torch back). Otherwise the rules stay quiet.

Everything here reads the project model and the knowledge tables; nothing is fetched.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dockaudit import knowledge as kn
from dockaudit.catalog import load_table
from dockaudit.engine import rule
from dockaudit.findings import Finding, Related, Severity
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.installs import Install
    from dockaudit.parse.compose import ComposeProject, Service
    from dockaudit.parse.dockerfile import Dockerfile, Instruction, Stage
    from dockaudit.parse.manifests import Requirement
    from dockaudit.project import Project

_CUDA_REPOS = frozenset({"nvidia/cuda", "nvcr.io/nvidia/cuda"})
_CACHE_ATTR = "_gpu_checks_cache"


def _cache(project: Project) -> dict[str, Any]:
    cache = getattr(project, _CACHE_ATTR, None)
    if cache is None:
        cache = {}
        setattr(project, _CACHE_ATTR, cache)
    return cache


def _mm(version: str) -> str:
    """``"12.1.1"`` -> ``"12.1"``."""
    parts = version.split(".")
    return ".".join(parts[:2])


def _rel(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


# =============================================================================================
# The fleet


@dataclass
class _Device:
    name: str
    info: kn.GpuInfo | None
    span: Span | None


@dataclass
class _Fleet:
    driver: str | None
    devices: list[_Device]
    span: Span | None
    driver_span: Span | None
    devices_span: Span | None
    config_path: str | None

    @property
    def known(self) -> list[_Device]:
        return [d for d in self.devices if d.info is not None]

    def where(self) -> str:
        return self.config_path or "the --gpu-driver/--gpu options"

    def driver_related(self) -> tuple[Related, ...]:
        span = self.driver_span or self.span
        if span is None or self.driver is None:
            return ()
        return (Related(span, f"the fleet's NVIDIA driver {self.driver} is declared here"),)

    def device_related(self, devices: Iterable[_Device]) -> tuple[Related, ...]:
        out = []
        for device in devices:
            span = device.span or self.devices_span or self.span
            if span is not None and device.info is not None:
                out.append(
                    Related(
                        span,
                        f"fleet GPU {device.name} (compute capability "
                        f"{_cc_text(device.info.compute_capability)}, {device.info.arch})",
                    )
                )
        return tuple(out)


def _cc_text(cc: tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def _gpu_table_region(text: str) -> tuple[int, int] | None:
    """Character range of the ``[gpu]`` table (or ``[tool.dockaudit.gpu]``) in a config text."""
    match = re.search(
        r"(?m)^[ \t]*\[[ \t]*(?:tool[ \t]*\.[ \t]*dockaudit[ \t]*\.[ \t]*)?gpu[ \t]*\][^\n]*$", text
    )
    if match is None:
        return None
    following = re.search(r"(?m)^[ \t]*\[", text[match.end() :])
    end = match.end() + following.start() if following else len(text)
    return match.end(), end


def _fleet(project: Project) -> _Fleet:
    cache = _cache(project)
    if "fleet" in cache:
        return cache["fleet"]
    gpu = project.config.gpu
    source = project.sources.get(gpu.span.path) if gpu.span is not None else None
    text = source.text if source is not None else ""
    region = _gpu_table_region(text) if text else None
    driver_span = devices_span = None
    device_spans: dict[str, Span] = {}
    if source is not None and region is not None:
        start, end = region
        body = text[start:end]
        match = re.search(r"""(?m)^[ \t]*driver[ \t]*=[ \t]*(["'])([^"'\n]*)\1""", body)
        if match is not None and match.group(2) == (gpu.driver or ""):
            driver_span = source.span_of_offsets(start + match.start(2) - 1, start + match.end(2) + 1)
        match = re.search(r"(?m)^[ \t]*devices[ \t]*=", body)
        if match is not None:
            line = source.position(start + match.start())[0]
            devices_span = source.line_span(line)
            for item in re.finditer(r"""(["'])([^"'\n]*)\1""", body[match.end() :]):
                offset = start + match.end() + item.start()
                device_spans.setdefault(
                    item.group(2), source.span_of_offsets(offset, offset + len(item.group(0)))
                )
    fleet = _Fleet(
        driver=gpu.driver,
        devices=[_Device(name, kn.gpu_info(name), device_spans.get(name)) for name in gpu.devices],
        span=gpu.span,
        driver_span=driver_span,
        devices_span=devices_span,
        config_path=gpu.span.path if gpu.span is not None else None,
    )
    cache["fleet"] = fleet
    return fleet


_DATACENTER = re.compile(
    r"(?i)\b(?:tesla|[abhlvpk]\d{1,3}[sgx]?|t4|gh200|gb200|gb300|dgx)\b"
    r"|\bquadro rtx [68]000\b|\brtx pro \d+ blackwell server\b"
)


def _is_datacenter(device: _Device) -> bool:
    name = device.info.name if device.info is not None else device.name
    return bool(_DATACENTER.search(name) or _DATACENTER.search(device.name))


# =============================================================================================
# CUDA toolkit versions the knowledge tables know


def _toolkit_minors() -> list[str]:
    """Every CUDA ``X.Y`` of Table 3, newest first."""
    seen: dict[str, tuple[int, ...]] = {}
    for row in load_table("cuda_drivers").get("toolkit", ()):
        version = row["version"]
        seen.setdefault(_mm(version), _rel(version)[:2])
    return sorted(seen, key=lambda v: seen[v], reverse=True)


def _fitting_cuda(fleet: _Fleet, mode: str = "runtime") -> list[str]:
    """CUDA minors that run on the fleet's driver and GPUs, newest first."""
    out = []
    for minor in _toolkit_minors():
        if fleet.driver is not None and kn.driver_supports(fleet.driver, minor, mode) is not True:  # type: ignore[arg-type]
            continue
        if any(kn.cuda_supports_arch(minor, d.info.compute_capability) is False for d in fleet.known):
            continue
        out.append(minor)
    return out


def _image_minors() -> set[str]:
    """CUDA ``X.Y`` versions NVIDIA published ``nvidia/cuda`` images for."""
    return {_mm(row["version"]) for row in load_table("cuda_tags").get("release", ())}


def _cuda_choices(fitting: list[str]) -> str:
    """``"CUDA 12.0 or 11.8"``: the newest fitting minor, and the newest of the major below
    (among the versions that have images)."""
    published = _image_minors()
    fitting = [m for m in fitting if m in published]
    if not fitting:
        return ""
    first = fitting[0]
    others = [m for m in fitting if m.split(".")[0] != first.split(".")[0]]
    return f"CUDA {first} or {others[0]}" if others else f"CUDA {first}"


def _min_driver(minor: str) -> str | None:
    """GA driver of CUDA ``X.Y`` (what an X.Y.Z image's NVIDIA_REQUIRE_CUDA needs)."""
    return kn.min_driver_for_cuda(minor)


def _compat_min_driver(major: int) -> str | None:
    for row in load_table("cuda_drivers").get("minor_compat", ()):
        if row["major"] == major:
            return row["min_driver"]
    return None


# =============================================================================================
# nvidia/cuda images used by the project


@dataclass
class _CudaImage:
    """An ``nvidia/cuda`` image a Dockerfile stage is built FROM or a compose service runs."""

    ref: str
    tag: str
    span: Span
    origin: str  # "dockerfile" or "compose"
    dockerfile: str | None = None
    stage: Stage | None = None
    runs: bool = False  # runs on the fleet (runtime stage or compose image)
    feeds: bool = False  # a stage whose files are copied into a runtime stage
    related: tuple[Related, ...] = ()
    services: list[str] = field(default_factory=list)

    @property
    def version(self) -> str | None:
        found = kn.cuda_version_of_tag(self.tag)
        return str(found) if found is not None else None

    @property
    def label(self) -> str:
        name = kn.parse_image(self.ref).name
        return f"{name}:{self.tag}"


def _contexts(project: Project) -> dict[str, list[str]]:
    """Dockerfile path -> build contexts compose uses for it."""
    from dockaudit.link.services import service_builds

    out: dict[str, list[str]] = {}
    for link in service_builds(project):
        build = link.service.build
        if link.dockerfile_path and build is not None and build.context is not None:
            contexts = out.setdefault(link.dockerfile_path, [])
            if build.context not in contexts:
                contexts.append(build.context)
    return out


def _dockerfile_paths(project: Project) -> list[str]:
    from dockaudit.link.services import service_builds

    paths = list(project.dockerfiles)
    for link in service_builds(project):
        if link.dockerfile_path and link.dockerfile is not None and link.dockerfile_path not in paths:
            paths.append(link.dockerfile_path)
    return paths


def _stage_by_ref(dockerfile: Dockerfile, key: str) -> Stage | None:
    if not key or "$" in key:
        return None
    return dockerfile.stage(key)


def _stage_roles(
    project: Project, path: str, dockerfile: Dockerfile
) -> tuple[set[int], set[int], dict[int, list[str]]]:
    """(stage indexes that run on the fleet, stages copied into them, services per stage)."""
    from dockaudit.link.services import lineage, service_builds

    targets: list[Stage] = []
    services: dict[int, list[str]] = {}
    for link in service_builds(project):
        if link.dockerfile_path == path and link.stage is not None:
            targets.append(link.stage)
            for member in lineage(link.stage):
                services.setdefault(member.index, []).append(link.service.name)
    if not targets and dockerfile.final_stage is not None:
        targets.append(dockerfile.final_stage)
    runs: set[int] = set()
    for target in targets:
        runs.update(member.index for member in lineage(target))
    feeds: set[int] = set()
    pending = [dockerfile.stages[i] for i in runs if i < len(dockerfile.stages)]
    seen: set[int] = set()
    while pending:
        stage = pending.pop()
        if stage.index in seen:
            continue
        seen.add(stage.index)
        for inst in stage.instructions:
            if inst.keyword not in ("COPY", "ADD"):
                continue
            source = _stage_by_ref(dockerfile, inst.flag("from") or "")
            if source is None:
                continue
            for member in lineage(source):
                if member.index not in runs:
                    feeds.add(member.index)
                pending.append(member)
    return runs, feeds, services


def _complete(stage: Stage, scope: dict[str, str | None]) -> bool:
    """Do the variables of the stage's FROM image all have a value (or a default)?"""
    from dockaudit.parse.dockerfile import variable_references

    escape = stage.dockerfile.escape if stage.dockerfile is not None else "\\"
    for ref in variable_references(stage.base, escape):
        if ref.depth:
            continue
        if ref.has_default and ref.word:
            continue
        if scope.get(ref.name) in (None, ""):
            return False
    return True


def _arg_related(stage: Stage) -> tuple[Related, ...]:
    """The global ARG lines a FROM's variables come from."""
    from dockaudit.parse.dockerfile import variable_references

    document = stage.dockerfile
    if document is None or "$" not in stage.base:
        return ()
    names = {ref.name for ref in variable_references(stage.base, document.escape)}
    out = []
    for inst in document.global_args:
        for kv in inst.key_values:
            if kv.key in names and kv.value is not None:
                out.append(Related(kv.span, f"ARG {kv.key} sets the image tag"))
    return tuple(out)


def _cuda_images(project: Project) -> list[_CudaImage]:
    cache = _cache(project)
    if "images" in cache:
        return cache["images"]
    from dockaudit.link.services import service_builds

    images: list[_CudaImage] = []
    seen: set[tuple[str, Span]] = set()

    def add(image: _CudaImage) -> None:
        key = (image.tag, image.span)
        if key in seen:
            for other in images:
                if (other.tag, other.span) == key:
                    other.runs = other.runs or image.runs
                    other.feeds = other.feeds or image.feeds
                    other.services.extend(s for s in image.services if s not in other.services)
            return
        seen.add(key)
        images.append(image)

    links_by_path: dict[str, list] = {}
    for link in service_builds(project):
        if link.dockerfile_path:
            links_by_path.setdefault(link.dockerfile_path, []).append(link)

    for path in _dockerfile_paths(project):
        dockerfile = project.dockerfile(path)
        if dockerfile is None:
            continue
        runs, feeds, services = _stage_roles(project, path, dockerfile)
        for stage in dockerfile.stages:
            if not stage.uses_external_image:
                continue
            variants: list[tuple[str, tuple[Related, ...]]] = []
            if "$" not in stage.base:
                variants.append((stage.base_image, ()))
            else:
                if _complete(stage, dockerfile.global_arg_defaults):
                    variants.append((stage.base_image, _arg_related(stage)))
                for link in links_by_path.get(path, ()):
                    args = {k: v for k, v in (link.service.build.args or {}).items() if v is not None}
                    if not args:
                        continue
                    scope = dockerfile.global_scope(args)
                    if not _complete(stage, scope):
                        continue
                    resolved = stage.resolve_base(args)
                    if resolved != stage.base_image or not variants:
                        span = link.service.span_of("build", "args")
                        variants.append(
                            (resolved, (Related(span, f"build args of service {link.service.name!r}"),))
                        )
            for ref_text, related in variants:
                ref = kn.parse_image(ref_text)
                if ref.name not in _CUDA_REPOS or not ref.tag or ref.has_variables:
                    continue
                add(
                    _CudaImage(
                        ref=ref_text,
                        tag=ref.tag,
                        span=stage.base_span,
                        origin="dockerfile",
                        dockerfile=path,
                        stage=stage,
                        runs=stage.index in runs,
                        feeds=stage.index in feeds,
                        related=related,
                        services=list(services.get(stage.index, ())),
                    )
                )
    for compose in project.compose_projects:
        for service in compose.services.values():
            if service.build is not None or not service.image:
                continue
            ref = kn.parse_image(service.image)
            if ref.name not in _CUDA_REPOS or not ref.tag or ref.has_variables:
                continue
            add(
                _CudaImage(
                    ref=service.image,
                    tag=ref.tag,
                    span=service.value_span_of("image"),
                    origin="compose",
                    runs=True,
                    services=[service.name],
                )
            )
    cache["images"] = images
    return images


def _similar_tag(
    tag: str, *, supported_only: bool = False, max_minor: str | None = None, same_minor: bool = False
) -> str | None:
    """A published tag like ``tag`` (optionally supported, at most CUDA ``max_minor``)."""
    info = kn.cuda_tag_info(tag)
    probe = tag
    if info is not None:
        # a tag that does not exist, so that the search looks around it (patch 9 sorts last)
        minor = max_minor or _mm(info.version)
        probe = f"{minor}.9-{info.extra + '-' if info.extra else ''}{info.flavour}-{info.os}{info.os_version}"
    want = _rel(info.version if info else (str(kn.cuda_version_of_tag(tag) or "")))
    for candidate in kn.iter_nearest_cuda_tags(probe):
        if supported_only and kn.cuda_tag_status(candidate) != "supported":
            continue
        version = kn.cuda_version_of_tag(candidate)
        if version is None:
            continue
        if max_minor is not None and _rel(str(version))[:2] > _rel(max_minor)[:2]:
            continue
        if same_minor and _rel(str(version))[:2] != want[:2]:
            continue
        return candidate
    return None


# =============================================================================================
# Where files of the build context end up in an image


@dataclass
class _Copy:
    sources: list[str]
    dest: str
    dest_is_dir: bool
    instruction: Instruction


def _expand(text: str, scope: dict[str, str | None], escape: str) -> str | None:
    """Expand Docker variables; None when a variable has no value."""
    from dockaudit.parse.dockerfile import expand, variable_references

    if "$" not in text:
        return text
    for ref in variable_references(text, escape):
        if ref.depth == 0 and scope.get(ref.name) is None and not (ref.has_default and ref.word):
            return None
    return expand(text, scope, escape)


class _Layout:
    """COPY/ADD and WORKDIR of a stage's lineage, replayed in build order."""

    def __init__(self, stage: Stage) -> None:
        from dockaudit.link.services import lineage

        self.workdir_before: dict[int, str] = {}
        self.copies: list[_Copy] = []
        self.instructions: list[Instruction] = []
        escape = stage.dockerfile.escape if stage.dockerfile is not None else "\\"
        workdir = "/"
        for member in reversed(lineage(stage)):
            for inst in member.instructions:
                self.instructions.append(inst)
                self.workdir_before[id(inst)] = workdir
                if inst.keyword == "WORKDIR" and inst.value:
                    value = _expand(inst.value, member.env_at(inst), escape)
                    if value is None:
                        workdir = "/?"
                    else:
                        workdir = posixpath.normpath(posixpath.join(workdir, value))
                elif inst.keyword in ("COPY", "ADD") and not inst.flag("from"):
                    args = inst.args
                    if len(args) < 2 or any(a.startswith("<<") for a in args):
                        continue
                    scope = member.env_at(inst)
                    words = [_expand(a, scope, escape) for a in args]
                    if any(w is None for w in words):
                        continue
                    sources = [w for w in words[:-1] if w and "://" not in w]  # type: ignore[misc]
                    dest = words[-1] or "."
                    dest_is_dir = dest.endswith("/") or len(words) > 2
                    self.copies.append(
                        _Copy(sources, posixpath.normpath(posixpath.join(workdir, dest)), dest_is_dir, inst)
                    )

    def workdir(self, inst: Instruction) -> str:
        return self.workdir_before.get(id(inst), "/")


_MUTATORS = frozenset({"mv", "cp", "ln", "install", "rsync", "curl", "wget", "sed", "tee", "envsubst", "cat"})


def _rewritten(layout: _Layout, target: str, after: Instruction, before: Instruction | None) -> bool:
    """Does a RUN between ``after`` and ``before`` write to ``target`` (``mv x requirements.txt``)?"""
    from dockaudit.installs import run_commands

    name = posixpath.basename(target)
    started = False
    for inst in layout.instructions:
        if inst is after:
            started = True
            continue
        if inst is before:
            break
        if not started or inst.keyword != "RUN" or name not in inst.raw:
            continue
        for command, _span in run_commands(inst):
            words = command.words[1:] + command.redirects
            if (command.name in _MUTATORS or command.redirects) and any(
                posixpath.basename(w.lstrip(">")) == name for w in words
            ):
                return True
    return False


def _host_file(
    project: Project,
    layout: _Layout,
    container_path: str,
    contexts: list[str],
    before: Instruction | None = None,
) -> str | None:
    """The build-context file that ends up at ``container_path`` (root-relative), or None (also
    when a RUN rewrites it after the COPY)."""
    found = _copied_file(project, layout, container_path, contexts, before)
    if found is None:
        return None
    host, copy = found
    if _rewritten(layout, posixpath.normpath(container_path), copy.instruction, before):
        return None
    return host


def _copied_file(
    project: Project, layout: _Layout, container_path: str, contexts: list[str], before: Instruction | None
) -> tuple[str, _Copy] | None:
    target = posixpath.normpath(container_path)
    for copy in reversed(layout.copies):
        if (
            before is not None
            and copy.instruction.span.line >= before.span.line
            and copy.instruction.span.path == before.span.path
        ):
            continue
        for context in contexts:
            for source in copy.sources:
                host_src = (
                    project.resolve(context, source.lstrip("/")) if source not in (".", "./") else context
                )
                if host_src is None:
                    continue
                if any(ch in source for ch in "*?["):
                    folder = posixpath.dirname(target)
                    if folder == copy.dest and fnmatch.fnmatch(
                        posixpath.basename(target), posixpath.basename(source)
                    ):
                        candidate = posixpath.normpath(
                            posixpath.join(posixpath.dirname(host_src) or ".", posixpath.basename(target))
                        )
                        if candidate in project.tree.files:
                            return candidate, copy
                    continue
                if project.tree.is_dir(host_src):
                    if target == copy.dest:
                        continue
                    if target.startswith(copy.dest.rstrip("/") + "/"):
                        rest = target[len(copy.dest.rstrip("/")) + 1 :]
                        candidate = (
                            posixpath.normpath(posixpath.join(host_src, rest)) if host_src != "." else rest
                        )
                        if candidate in project.tree.files:
                            return candidate, copy
                    continue
                # `COPY file /existing/dir` copies into the folder even without a trailing slash
                placed = {posixpath.normpath(posixpath.join(copy.dest, posixpath.basename(source)))}
                if not copy.dest_is_dir:
                    placed.add(copy.dest)
                if target in placed and host_src in project.tree.files:
                    return host_src, copy
    return None


def _bind_mount_file(
    project: Project, inst: Instruction, container_path: str, contexts: list[str]
) -> str | None:
    from dockaudit.installs import run_mounts

    target = posixpath.normpath(container_path)
    for mount in run_mounts(inst):
        if mount.type != "bind" or mount.from_ or not mount.target:
            continue
        mount_target = posixpath.normpath(mount.target)
        source = mount.source or "."
        for context in contexts:
            host = project.resolve(context, source)
            if host is None:
                continue
            if mount_target == target and host in project.tree.files:
                return host
            if target.startswith(mount_target + "/") and project.tree.is_dir(host):
                candidate = posixpath.normpath(posixpath.join(host, target[len(mount_target) + 1 :]))
                if candidate in project.tree.files:
                    return candidate
    return None


# =============================================================================================
# PyTorch wheels an image installs


_PYPI_HOSTS = ("pypi.org", "pypi.python.org", "files.pythonhosted.org")


@dataclass
class _TorchUse:
    """One place a torch wheel is declared for an image."""

    specifier: str  # PEP 440 specifier ("==2.3.0", ">=2.1", "")
    version: str | None  # pinned public version, e.g. "2.3.0"
    local: str | None  # "+cu121" label of the pin
    span: Span
    written: str
    index_variant: str | None = None  # variant of a download.pytorch.org index in effect
    index_extra: bool = False  # that index is an extra index (PyPI still consulted)
    index_unknown: bool = False  # a non-PyPI, non-PyTorch index replaces PyPI
    index_related: tuple[Related, ...] = ()
    manager: str = "pip"
    locked: bool = False  # read from uv.lock
    related: tuple[Related, ...] = ()
    stage: Stage | None = None
    dockerfile: str | None = None
    image_variant: str | None = None  # from a pytorch/pytorch image tag


@dataclass
class _Resolution:
    release: str  # "2.7"
    version: str  # "2.7.1" or "2.7"
    variant: str  # "cu128"
    how: str  # why we think this wheel is installed


def _requirement_of(text: str) -> tuple[str, str, str | None] | None:
    """``"torch==2.3.0+cu121"`` -> (``"torch"``, ``"==2.3.0+cu121"``, marker) or None."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as Pep508

    try:
        parsed = Pep508(text)
    except (InvalidRequirement, ValueError):
        return None
    marker = str(parsed.marker) if parsed.marker is not None else None
    return parsed.name.lower().replace("_", "-"), str(parsed.specifier), marker


def _pin(specifier: str) -> tuple[str | None, str | None]:
    """(public version, local label) of an ``==`` pin without wildcards."""
    for part in specifier.split(","):
        match = re.match(r"\s*===?\s*([^\s*]+)\s*$", part)
        if match:
            version = match.group(1)
            public, _, local = version.partition("+")
            return public, local or None
    return None, None


def _marker_excludes_linux(marker: str | None) -> bool:
    """Does a PEP 508 marker rule out Linux x86_64 (the platform of the GPU servers)?"""
    if not marker:
        return False
    text = marker.replace(" ", "").replace('"', "'")
    if re.search(r"sys_platform=='(?:darwin|win32)'|platform_system=='(?:Darwin|Windows)'", text):
        return "linux" not in text.lower()
    return (
        bool(re.search(r"platform_machine=='(?:aarch64|arm64|ppc64le|s390x)'", text)) and "x86_64" not in text
    )


def _marker_extras_ok(marker: str | None, extras: set[str]) -> bool:
    """Do the ``extra == 'x'`` / ``extra != 'y'`` clauses of a marker hold for these extras?"""
    if not marker or "extra" not in marker:
        return True
    text = marker.replace('"', "'")
    wanted = re.findall(r"extra\s*==\s*'([^']+)'", text)
    unwanted = re.findall(r"extra\s*!=\s*'([^']+)'", text)
    return all(e in extras for e in wanted) and not any(e in extras for e in unwanted)


def _variant_of_url(url: str) -> str | None:
    return kn.torch_variant_from_index_url(url)


@dataclass
class _IndexState:
    variant: str | None = None
    extra: bool = False
    unknown: bool = False
    related: list[Related] = field(default_factory=list)

    def add(self, url: str, span: Span, *, primary: bool, manager: str) -> None:
        variant = _variant_of_url(url)
        if variant is not None:
            self.variant = variant
            # uv consults extra indexes first and stops at the first index that has the package
            self.extra = not primary and manager == "pip"
            self.related.append(Related(span, f"PyTorch wheel index {url}"))
        elif primary and not any(host in url for host in _PYPI_HOSTS):
            self.unknown = True


def _index_options(install: Install, scope: dict[str, str | None], state: _IndexState) -> None:
    manager = "pip" if install.manager == "pip" else "uv"
    env_primary = ("PIP_INDEX_URL",) if manager == "pip" else ("UV_INDEX_URL", "UV_DEFAULT_INDEX")
    env_extra = ("PIP_EXTRA_INDEX_URL",) if manager == "pip" else ("UV_EXTRA_INDEX_URL", "UV_INDEX")
    span = install.span
    for name in env_primary:
        if scope.get(name):
            state.add(str(scope[name]), span, primary=True, manager=manager)
    for name in env_extra:
        for url in str(scope.get(name) or "").split():
            state.add(url, span, primary=False, manager=manager)
    options = install.options
    for index, option in enumerate(options):
        name, eq, value = option.partition("=")
        if not eq:
            value = options[index + 1] if index + 1 < len(options) else ""
        if name in ("-i", "--index-url", "--default-index"):
            state.add(
                value, install.instruction.locate(value) if value else span, primary=True, manager=manager
            )
        elif name in ("--extra-index-url", "--index"):
            state.add(
                value, install.instruction.locate(value) if value else span, primary=False, manager=manager
            )
        elif name == "--torch-backend" and value.startswith("cu"):
            state.variant = value
            state.extra = False
            state.related.append(Related(install.instruction.locate(option), f"uv --torch-backend={value}"))
    backend = scope.get("UV_TORCH_BACKEND") if manager == "uv" else None
    if backend and str(backend).startswith("cu"):
        state.variant = str(backend)


def _torch_from_requirement(
    req: Requirement,
    state: _IndexState,
    manager: str,
    related: tuple[Related, ...],
    stage: Stage | None,
    dockerfile: str | None,
) -> _TorchUse | None:
    if req.key != "torch" or req.url or _marker_excludes_linux(req.marker):
        return None
    specifier = req.specifier if req.kind != "poetry" else _poetry_to_pep440(req.specifier)
    version, local = _pin(specifier)
    return _TorchUse(
        specifier=specifier,
        version=version,
        local=local,
        span=req.span,
        written=req.text.strip(),
        index_variant=state.variant,
        index_extra=state.extra,
        index_unknown=state.unknown,
        index_related=tuple(state.related),
        manager=manager,
        related=related,
        stage=stage,
        dockerfile=dockerfile,
    )


def _poetry_to_pep440(spec: str) -> str:
    """Poetry constraints (``^2.1``, ``~2.1``, ``2.3.0``, ``*``) as a PEP 440 specifier."""
    text = (spec or "").strip()
    if text in ("", "*"):
        return ""
    parts = []
    for piece in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", text):
        piece = piece.strip()
        if not piece:
            continue
        if piece.startswith("^"):
            nums = _rel(piece[1:])
            if not nums:
                return ""
            upper = [nums[0] + 1] if nums[0] > 0 else [0, (nums[1] if len(nums) > 1 else 0) + 1]
            parts += [f">={piece[1:]}", "<" + ".".join(str(n) for n in upper)]
        elif piece.startswith("~") and not piece.startswith("~="):
            nums = _rel(piece[1:])
            if not nums:
                return ""
            upper = [nums[0], nums[1] + 1] if len(nums) > 1 else [nums[0] + 1]
            parts += [f">={piece[1:]}", "<" + ".".join(str(n) for n in upper)]
        elif re.match(r"^\d", piece):
            parts.append(f"=={piece}")
        else:
            parts.append(piece)
    return ",".join(parts)


def _pyproject_torch(
    project: Project,
    pyproject_path: str,
    manager: str,
    related: tuple[Related, ...],
    stage: Stage | None,
    dockerfile: str | None,
    lock_path: str | None,
    extras: Iterable[str] = (),
) -> list[_TorchUse]:
    """torch declared by a pyproject.toml (or locked in the uv.lock next to it) for the extras the
    install command selects. Stays empty when the variant the image gets cannot be told."""
    out: list[_TorchUse] = []
    wanted = {e.strip().lower().replace("_", "-") for e in extras if e.strip()}
    lock = project.document(lock_path, "uvlock") if lock_path and lock_path in project.tree.files else None
    if lock is not None and manager == "uv":
        linux = [
            p
            for p in lock.all_packages
            if p.key == "torch"
            and (
                not p.wheel_urls
                or any("linux" in u and ("x86_64" in u or "amd64" in u) for u in p.wheel_urls)
            )
        ]
        variants = {}
        for package in linux:
            if package.version is None:
                continue
            public, _, local = package.version.partition("+")
            registry = package.index_url or ""
            variant = local or _variant_of_url(registry)
            if variant is None and any(host in registry for host in _PYPI_HOSTS):
                variant = "pypi"
            if variant is not None:
                variants[(public, variant)] = package
        if len(variants) == 1:
            (public, variant), package = next(iter(variants.items()))
            out.append(
                _TorchUse(
                    specifier=f"=={public}",
                    version=public,
                    local=None if variant == "pypi" else variant,
                    span=package.span or Span(lock.path, 1),
                    written=f"torch {package.version}",
                    manager="uv",
                    locked=True,
                    related=related,
                    stage=stage,
                    dockerfile=dockerfile,
                )
            )
            return out
        # several builds locked (one per extra or platform): read the extras the command selects
    document = project.document(pyproject_path, "pyproject")
    if document is None:
        return out
    optional = {k.lower().replace("_", "-"): v for k, v in document.optional_dependencies.items()}
    selected = [req for extra in sorted(wanted) for req in optional.get(extra, ())]
    state = _IndexState()
    if manager == "uv":
        sources = document.uv_sources.get("torch")
        entries = sources if isinstance(sources, list) else [sources] if isinstance(sources, dict) else []
        indexes = {i.get("name"): i for i in document.uv_indexes if isinstance(i, dict)}
        chosen = [
            e
            for e in entries
            if isinstance(e, dict)
            and not _marker_excludes_linux(e.get("marker"))
            and str(e.get("extra", "")).lower().replace("_", "-") in (wanted | {""})
            and "group" not in e
        ]
        if len(chosen) == 1 and chosen[0].get("index") in indexes:
            index = indexes[chosen[0]["index"]]
            if isinstance(index.get("url"), str) and index.get("span") is not None:
                state.add(index["url"], index["span"], primary=True, manager="uv")
        elif entries:
            state.unknown = True  # per-extra or per-group sources, or a git/path/url source
        else:
            for index in document.uv_indexes:
                if (
                    isinstance(index.get("url"), str)
                    and index.get("span") is not None
                    and not index.get("explicit")
                ):
                    state.add(index["url"], index["span"], primary=bool(index.get("default")), manager="uv")
        requirements = [*document.dependencies, *document.uv_dev_dependencies, *selected]
        for group in document.dependency_groups.values():
            requirements.extend(group)
    elif manager == "poetry":
        poetry = (document.data.get("tool") or {}).get("poetry") or {}
        sources = {s.get("name"): s for s in poetry.get("source", []) if isinstance(s, dict)}
        requirements = [*document.poetry_dependencies]
        for group in document.poetry_groups.values():
            requirements.extend(group)
        torch_entries = [r for r in requirements if r.key == "torch"]
        applying = [
            r
            for r in torch_entries
            if _marker_extras_ok(r.marker, wanted) and not _marker_excludes_linux(r.marker)
        ]
        if len(torch_entries) > 1 and len(applying) != 1:
            return out  # one entry per extra or platform that the command does not pick
        for req in applying:
            if isinstance(req.options.get("source"), str):
                source = sources.get(req.options["source"])
                if source and isinstance(source.get("url"), str):
                    state.add(source["url"], req.span, primary=True, manager="uv")
                elif req.options["source"] != "pypi":
                    state.unknown = True
        requirements = [r for r in requirements if r.key != "torch" or r in applying]
        if not any(r.key == "torch" and r.specifier for r in requirements):
            # Poetry 2: the version is in [project] (optional) dependencies, the source in tool.poetry
            requirements = [r for r in requirements if r.key != "torch"] + [
                r for r in (*document.dependencies, *selected) if r.key == "torch"
            ]
    else:
        requirements = [*document.dependencies, *selected]
    torch = [
        r
        for r in requirements
        if r.key == "torch" and not _marker_excludes_linux(r.marker) and _marker_extras_ok(r.marker, wanted)
    ]
    if len({(r.specifier, r.text) for r in torch}) > 1 and len({_pin(r.specifier) for r in torch}) > 1:
        return out  # conflicting declarations: not ours to guess
    for req in torch[:1]:
        use = _torch_from_requirement(req, state, manager, related, stage, dockerfile)
        if use is not None:
            out.append(use)
    return out


def _install_extras(install: Install, scope: dict[str, str | None], escape: str) -> list[str]:
    """Extras an install command selects (``--extra gpu``, ``-E cuda``, ``--extras "a b"``)."""
    out: list[str] = []
    options = install.options
    for index, option in enumerate(options):
        name, eq, value = option.partition("=")
        if name in ("--extra", "--extras", "-E"):
            if not eq:
                value = options[index + 1] if index + 1 < len(options) else ""
            expanded = _expand(value, scope, escape) or ""
            out.extend(v for v in re.split(r"[\s,]+", expanded) if v)
    return out


_PYTHON_INSTALLERS = re.compile(r"pip|uv|poetry")
_PYTORCH_IMAGE_TAG = re.compile(
    r"^(\d+\.\d+(?:\.\d+)?)-cuda(\d+)\.(\d+)(?:\.\d+)?-cudnn\d*-(?:runtime|devel)$"
)


def _torch_uses(project: Project) -> list[_TorchUse]:
    """Every torch wheel the project's Dockerfiles install (deduplicated by declaration)."""
    cache = _cache(project)
    if "torch" in cache:
        return cache["torch"]
    from dockaudit.installs import stage_installs
    from dockaudit.parse.manifests import requirements_closure

    uses: list[_TorchUse] = []
    seen: set[tuple[Span, str | None]] = set()

    def add(use: _TorchUse) -> None:
        key = (use.span, use.index_variant)
        if key not in seen:
            seen.add(key)
            uses.append(use)

    contexts_of = _contexts(project)
    for path in _dockerfile_paths(project):
        dockerfile = project.dockerfile(path)
        if dockerfile is None:
            continue
        contexts = contexts_of.get(path) or [posixpath.dirname(path) or "."]
        for stage in dockerfile.stages:
            if stage.uses_external_image:
                ref = kn.parse_image(stage.base_image)
                match = _PYTORCH_IMAGE_TAG.match(ref.tag or "") if ref.name == "pytorch/pytorch" else None
                if match:
                    variant = f"cu{match.group(2)}{match.group(3)}"
                    add(
                        _TorchUse(
                            specifier=f"=={match.group(1)}",
                            version=match.group(1),
                            local=variant,
                            span=stage.base_span,
                            written=stage.base_image,
                            stage=stage,
                            dockerfile=path,
                            image_variant=variant,
                        )
                    )
            runs = [inst for inst in stage.instructions if inst.keyword == "RUN"]
            if not any(_PYTHON_INSTALLERS.search(inst.raw) for inst in runs):
                continue  # no pip, uv or poetry here: skip the shell parsing
            installs = [i for i in stage_installs(stage) if i.is_install]
            if not installs:
                continue
            layout = _Layout(stage)
            for install in installs:
                if install.manager not in ("pip", "uv-pip", "uv-sync", "poetry"):
                    continue
                inst = install.instruction
                scope = stage.env_at(inst)
                escape = dockerfile.escape
                cwd = layout.workdir(inst)
                here = (Related(install.span, "installed here"),)
                if install.manager in ("pip", "uv-pip"):
                    manager = "pip" if install.manager == "pip" else "uv"
                    state = _IndexState()
                    _index_options(install, scope, state)
                    for package in install.packages:
                        word = _expand(package, scope, escape)
                        if not word:
                            continue
                        local = re.match(r"^(\.{1,2}(?:/[^\[]*)?)(?:\[([^\]]*)\])?$", word)
                        if local is not None or word.endswith("pyproject.toml"):
                            folder = local.group(1) if local is not None else posixpath.dirname(word)
                            extras = (local.group(2) or "").split(",") if local is not None else []
                            target = posixpath.join(cwd, folder, "pyproject.toml")
                            host = _host_file(project, layout, target, contexts, inst)
                            if host is not None:
                                for use in _pyproject_torch(
                                    project, host, "pip", here, stage, path, None, extras
                                ):
                                    add(use)
                            continue
                        parsed = _requirement_of(word)
                        if parsed is None or parsed[0] != "torch" or _marker_excludes_linux(parsed[2]):
                            continue
                        version, local = _pin(parsed[1])
                        add(
                            _TorchUse(
                                specifier=parsed[1],
                                version=version,
                                local=local,
                                span=inst.locate(package),
                                written=word,
                                index_variant=state.variant,
                                index_extra=state.extra,
                                index_unknown=state.unknown,
                                index_related=tuple(state.related),
                                manager=manager,
                                stage=stage,
                                dockerfile=path,
                            )
                        )
                    for file in install.requirement_files:
                        name = _expand(file, scope, escape)
                        if not name:
                            continue
                        container = posixpath.normpath(posixpath.join(cwd, name))
                        host = _bind_mount_file(project, inst, container, contexts) or _host_file(
                            project, layout, container, contexts, inst
                        )
                        if host is None:
                            continue
                        if host.endswith("pyproject.toml"):
                            for use in _pyproject_torch(project, host, "pip", here, stage, path, None):
                                add(use)
                            continue
                        if project.requirements_file(host) is None:
                            continue
                        closure = requirements_closure(project, host)
                        file_state = _IndexState(
                            state.variant, state.extra, state.unknown, list(state.related)
                        )
                        for url, span in closure.index_urls:
                            file_state.add(url, span, primary=True, manager=manager)
                        for url, span in closure.extra_index_urls:
                            file_state.add(url, span, primary=False, manager=manager)
                        for requirement, _document in closure:
                            use = _torch_from_requirement(requirement, file_state, manager, here, stage, path)
                            if use is not None:
                                add(use)
                elif install.manager in ("uv-sync", "poetry"):
                    manager = "uv" if install.manager == "uv-sync" else "poetry"
                    project_dir = install.option_value("--directory", "--project", "-C") or "."
                    base = posixpath.normpath(posixpath.join(cwd, _expand(project_dir, scope, escape) or "."))
                    host = _host_file(
                        project, layout, posixpath.join(base, "pyproject.toml"), contexts, inst
                    ) or _bind_mount_file(project, inst, posixpath.join(base, "pyproject.toml"), contexts)
                    if host is None:
                        continue
                    lock = _host_file(
                        project, layout, posixpath.join(base, "uv.lock"), contexts, inst
                    ) or _bind_mount_file(project, inst, posixpath.join(base, "uv.lock"), contexts)
                    if lock is None and manager == "uv":
                        sibling = (
                            posixpath.join(posixpath.dirname(host), "uv.lock")
                            if posixpath.dirname(host)
                            else "uv.lock"
                        )
                        lock = sibling if sibling in project.tree.files else None
                    extras = _install_extras(install, scope, escape)
                    for use in _pyproject_torch(project, host, manager, here, stage, path, lock, extras):
                        add(use)
    cache["torch"] = uses
    return uses


def _known_releases() -> list[str]:
    releases = [row["version"] for row in load_table("torch_wheels").get("release", ())]
    return sorted(releases, key=_rel)


def _admits(specifier: str, release: str) -> bool:
    """Does the PEP 440 ``specifier`` admit some final version of torch ``release`` (X.Y)?"""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        spec = SpecifierSet(specifier)
    except InvalidSpecifier:
        return False
    return any(spec.contains(f"{release}.{patch}") for patch in range(0, 10))


def _resolve(use: _TorchUse) -> tuple[list[_Resolution], bool] | None:
    """The (release, variant) pairs the declaration may install, and whether it is pinned.

    None when the wheel cannot be known (a private index, a release the tables do not know).
    """
    if use.image_variant:
        release = _mm(use.version or "")
        return [
            _Resolution(
                release,
                use.version or "",
                use.image_variant,
                f"the pytorch/pytorch image ships torch {use.version}+{use.image_variant}",
            )
        ], True
    if use.locked:
        release = _mm(use.version or "")
        if not kn.torch_variants(release):
            return None
        if use.local:
            return [
                _Resolution(
                    release,
                    use.version or release,
                    use.local,
                    f"uv.lock pins torch {use.version}+{use.local}",
                )
            ], True
        default = kn.torch_default_cuda(release)
        if default is None:
            return None
        return [
            _Resolution(
                release,
                use.version or release,
                default,
                f"uv.lock pins torch {use.version} from PyPI, which is the {default} build",
            )
        ], True
    if use.version is not None:
        release = _mm(use.version)
        variants = kn.torch_variants(release)
        if not variants:
            return None
        if use.local:
            if not use.local.startswith("cu"):
                return [_Resolution(release, use.version, use.local, f"the +{use.local} pin")], True
            return [_Resolution(release, use.version, use.local, f"the +{use.local} pin")], True
        found = _variant_for(use, release)
        if found is None:
            return None
        return [_Resolution(release, use.version, found[0], found[1])], True
    # unpinned: every known release the specifier admits, oldest first
    out = []
    for release in _known_releases():
        if not _admits(use.specifier, release):
            continue
        found = _variant_for(use, release)
        if found is None:
            continue
        out.append(_Resolution(release, release, found[0], found[1]))
    return (out, False) if out else None


def _variant_for(use: _TorchUse, release: str) -> tuple[str, str] | None:
    """(variant, how) of a torch ``release`` installed through the declaration's indexes."""
    variants = kn.torch_variants(release)
    if use.index_variant is not None:
        if use.index_variant in variants or not use.index_variant.startswith("cu"):
            return use.index_variant, f"from {kn.torch_index_url(use.index_variant) or use.index_variant}"
        if not use.index_extra:
            return None  # the install fails outright; not this rule's business
    if use.index_unknown:
        return None
    default = kn.torch_default_cuda(release)
    if default is None:
        return None
    if use.index_variant is not None:
        return default, (
            f"the extra index {kn.torch_index_url(use.index_variant)} has no torch {release}, so pip "
            f"takes PyPI's, which is the {default} build"
        )
    return default, f"PyPI's torch {release} wheels are the {default} build"


def _pick(
    use: _TorchUse, resolutions: list[_Resolution], pinned: bool, problem
) -> tuple[_Resolution, Severity | None, str] | None:
    """Apply the unpinned-torch policy: (resolution to report, severity override, note) or None."""
    if pinned:
        res = resolutions[0]
        return (res, None, "") if problem(res) else None
    if not resolutions:
        return None
    if use.manager == "pip" and use.index_extra and use.index_variant:
        # pip takes the highest version across PyPI and the extra index
        newest_release = _known_releases()[-1]
        if _admits(use.specifier, newest_release):
            default = kn.torch_default_cuda(newest_release)
            if default and all(r.release != newest_release for r in resolutions):
                resolutions = [
                    *resolutions,
                    _Resolution(
                        newest_release,
                        newest_release,
                        default,
                        f"pip picks the highest version across PyPI and the extra index: PyPI's torch "
                        f"{newest_release} ({default})",
                    ),
                ]
    failing = [r for r in resolutions if problem(r)]
    if not failing:
        return None
    newest = resolutions[-1]
    if len(failing) == len(resolutions):
        note = (
            f"torch is not pinned (`{use.written}`), and no torch release from {resolutions[0].release} to "
            f"{newest.release} it allows would work"
        )
        return newest, None, note
    if problem(newest):
        note = (
            f"torch is not pinned (`{use.written}`): pip installs the newest release it allows, torch "
            f"{newest.release} today (heuristic: other requirements may hold torch back)"
        )
        return newest, Severity.WARNING, note
    return None


def _variant_cuda(variant: str) -> str | None:
    match = re.fullmatch(r"cu(\d+)(\d)", variant)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _use_related(use: _TorchUse, fleet_related: tuple[Related, ...]) -> tuple[Related, ...]:
    out = list(use.related) + list(use.index_related)
    out.extend(fleet_related)
    return tuple(r for i, r in enumerate(out) if r.span != use.span and r not in out[:i])


# =============================================================================================
# DA601-DA605: nvidia/cuda images


def _newest_listed() -> tuple[int, ...]:
    """The newest CUDA version in NVIDIA's tag lists as dockaudit has them (a snapshot)."""
    return max(_rel(row["version"]) for row in load_table("cuda_tags").get("release", ()))


@rule("DA601")
def cuda_tag_unknown(project: Project) -> Iterator[Finding]:
    """An ``nvidia/cuda`` image tag that NVIDIA never published.

    Checked after ARG expansion (defaults, and compose ``build.args``) for every FROM and for
    compose ``image:``. The message names the nearest published tag(s). Tags whose variables have
    no value stay quiet. Why: the pull fails with "manifest unknown" and the build stops, often
    on the deploy machine. Fix: use the suggested tag (``12.1.1-cudnn8-runtime-ubuntu22.04``).
    """
    for image in _cuda_images(project):
        if kn.cuda_tag_exists(image.tag):
            continue
        info = kn.cuda_tag_info(image.tag)
        if info is not None and info.version.count(".") == 2 and _rel(info.version) >= _newest_listed():
            continue  # NVIDIA may have published it after the tag list was taken
        name = kn.parse_image(image.ref).name
        nearest = kn.nearest_cuda_tags(image.tag, 3)
        why = ""
        if image.tag == "latest":
            why = " NVIDIA removed the `latest` tag: name the CUDA version, flavour and OS."
        elif info is not None and info.version.count(".") == 1:
            why = f" Tags carry the full CUDA version (`{info.version}.x-...`), not `{info.version}-...`."
            best = _similar_tag(image.tag, supported_only=True, same_minor=True)
            if best is not None:
                nearest = [best, *[t for t in nearest if t != best]][:3]
        elif info is not None:
            version = _rel(info.version)
            if info.extra == "cudnn" and version < (12, 4, 1):
                why = (
                    " Before CUDA 12.4.1 the cuDNN tags name the cuDNN major version (`cudnn8`; `cudnn9` "
                    "only for 12.3.2); plain `cudnn` starts with 12.4.1."
                )
            elif info.extra in ("cudnn8", "cudnn9") and version >= (12, 4, 1):
                why = " From CUDA 12.4.1 on, the cuDNN tags say plain `cudnn` (cuDNN 9)."
            elif not any(
                kn.cuda_version_of_tag(t) is not None and str(kn.cuda_version_of_tag(t)) == info.version
                for t in nearest
            ):
                why = f" NVIDIA published no CUDA {info.version} images."
        suggestion = ""
        if nearest:
            first = nearest[0]
            others = [f"`{t}`" for t in nearest[1:]]
            suggestion = f" Did you mean `{first}`" + (f" (or {', '.join(others)})" if others else "") + "?"
        fix = (
            f"FROM {name}:{nearest[0]}"
            if nearest and image.origin == "dockerfile"
            else (f"image: {name}:{nearest[0]}" if nearest else None)
        )
        yield Finding(
            span=image.span,
            message=f"`{name}:{image.tag}` is not a tag NVIDIA published, so pulling it fails "
            f"(manifest unknown).{why}{suggestion}",
            related=image.related,
            fix=fix,
        )


@rule("DA602")
def cuda_tag_eol(project: Project) -> Iterator[Finding]:
    """An ``nvidia/cuda`` tag that NVIDIA lists as unsupported (end of life).

    NVIDIA supports only the latest point release of each CUDA minor, for two CUDA majors, and
    deletes EOL tags from Docker Hub and NGC six months after they go EOL; the unsupported list
    says the remaining ones "may contain critical vulnerabilities". Fix: move to the supported tag
    the message names (the newest point release of the same minor when there is one).
    """
    for image in _cuda_images(project):
        if kn.cuda_tag_status(image.tag) != "eol":
            continue
        name = kn.parse_image(image.ref).name
        replacement = _similar_tag(image.tag, supported_only=True, same_minor=True) or _similar_tag(
            image.tag, supported_only=True
        )
        version = image.version or ""
        same_minor = replacement is not None and _mm(str(kn.cuda_version_of_tag(replacement))) == _mm(version)
        reason = (
            f"CUDA {version} was superseded by a newer point release"
            if same_minor
            else f"NVIDIA no longer supports CUDA {_mm(version)} images"
        )
        message = (
            f"`{name}:{image.tag}` is end of life: NVIDIA lists it as unsupported ({reason}) and deletes EOL "
            f"tags from Docker Hub and NGC six months after; the remaining ones get no security fixes."
        )
        if replacement:
            message += f" Use `{name}:{replacement}`."
        yield Finding(
            span=image.span,
            message=message,
            related=image.related,
            fix=f"{name}:{replacement}" if replacement else None,
        )


def _forward_compat(fleet: _Fleet, image_version: str) -> tuple[str, bool] | None:
    """(branch name, still supported) when the image lets the fleet's driver branch start it
    through forward compatibility; None otherwise."""
    if fleet.driver is None:
        return None
    requirement = kn.cuda_image_requirement(image_version)
    match = re.match(r"(\d+)", fleet.driver)
    if requirement is None or match is None:
        return None
    number = int(match.group(1))
    if number not in requirement.forward_compat_branches:
        return None
    branch = kn.driver_branch(fleet.driver)
    supported = branch is not None and branch.eol >= _dt.date.today()
    return f"R{number}", supported


@rule("DA603")
def cuda_driver_too_old(project: Project) -> Iterator[Finding]:
    """An ``nvidia/cuda`` image that needs a newer NVIDIA driver than the declared fleet runs.

    The image's ``NVIDIA_REQUIRE_CUDA="cuda>=X.Y"`` makes nvidia-container-cli refuse to start it
    when the host driver supports an older CUDA: an X.Y image needs the GA driver of CUDA X.Y
    (12.1 needs 530.30.02). Only images that run on the fleet are checked (the stages compose
    services run, or the final stage, and compose ``image:``). Forward compatibility is counted
    only on a supported data-centre branch with data-centre GPUs (then a warning). Fix: upgrade
    the driver, or use an image whose CUDA fits it (the message names the newest one).
    """
    fleet = _fleet(project)
    if fleet.driver is None:
        return
    for image in _cuda_images(project):
        if not image.runs or image.version is None:
            continue
        minor = _mm(image.version)
        supported = kn.driver_supports(fleet.driver, minor, "runtime")
        if supported is not False:
            continue
        need = _min_driver(minor) or "?"
        reported = kn.newest_cuda_for_driver(fleet.driver, "runtime")
        name = kn.parse_image(image.ref).name
        fitting = [m for m in _fitting_cuda(fleet) if m in _image_minors()]
        choices = _cuda_choices(fitting)
        replacement = _similar_tag(image.tag, max_minor=fitting[0], supported_only=True) if fitting else None
        severity = None
        compat = _forward_compat(fleet, image.version)
        datacenter = all(_is_datacenter(d) for d in fleet.devices)
        message = (
            f"`{name}:{image.tag}` needs NVIDIA driver >= {need} (its NVIDIA_REQUIRE_CUDA asks for "
            f"cuda>={minor}), but the fleet's driver {fleet.driver} ({fleet.where()}) supports CUDA "
            f"{reported or 'older than 10.0'} at most"
        )
        if compat is not None and compat[1] and datacenter:
            severity = Severity.WARNING
            message += (
                f". The image also accepts the {compat[0]} branch for CUDA forward compatibility, so it "
                f"starts on data-centre GPUs and relies on the cuda-compat libraries it ships; that works "
                f"only on data-centre GPUs and supported branches."
            )
        elif compat is not None:
            message += (
                f': the container will not start ("unsatisfied condition: cuda>={minor}"). The image '
                f"also lists driver branch {compat[0]} for forward compatibility, but "
                + ("that branch is end of life" if not compat[1] else "only data-centre GPUs support it")
                + "; do not rely on it."
            )
        else:
            message += f': the container will not start ("unsatisfied condition: cuda>={minor}").'
        message += f" Upgrade the fleet's driver to >= {need}"
        if choices:
            message += f", or build on a {choices} image"
            if replacement:
                message += f" (e.g. `{name}:{replacement}`)"
        message += "."
        yield Finding(
            span=image.span,
            message=message,
            related=(*image.related, *fleet.driver_related()),
            severity=severity,
            fix=f"{name}:{replacement}" if replacement else None,
        )


def _arch_reason(version: str, cc: tuple[int, int]) -> str:
    major = _rel(version)[0]
    table = load_table("gpus")
    minimum = None
    for row in table.get("cuda_arch_support", ()):
        if row["cuda_major"] == major:
            minimum = kn.parse_compute_capability(row["min_cc"])
    if minimum is not None and cc < minimum:
        dropped = sorted(
            {
                kn.arch_name(c) or ""
                for c in [(a, b) for a in range(3, minimum[0] + 1) for b in range(0, 10)]
                if c < minimum
            }
            - {""},
            key=lambda n: (
                ["Kepler", "Maxwell", "Pascal", "Volta"].index(n)
                if n in ("Kepler", "Maxwell", "Pascal", "Volta")
                else 9
            ),
        )
        return (
            f"CUDA {major} dropped {', '.join(dropped[-3:]) if dropped else 'this architecture'} "
            f"(its minimum is sm_{minimum[0]}{minimum[1]})"
        )
    for row in table.get("cc_first_cuda", ()):
        if kn.parse_compute_capability(row["cc"]) == cc:
            return f"compute capability {_cc_text(cc)} needs CUDA {row['first_cuda']} or newer"
    return f"CUDA {_mm(version)} cannot target compute capability {_cc_text(cc)}"


_APT_CUDA = re.compile(
    r"^cuda-(?:toolkit|nvcc|compiler|libraries|libraries-dev|runtime|cudart|cudart-dev|"
    r"minimal-build|command-line-tools)-(\d+)-(\d+)(?:=.*)?$"
)


def _cuda_range(fitting: list[str]) -> str:
    """``"CUDA 12.9 or older"`` / ``"CUDA 12.8 to 13.1"`` for the minors (newest first) that fit."""
    if not fitting:
        return ""
    known = sorted(_image_minors(), key=_rel)
    if fitting[-1] == known[0]:
        return f"CUDA {fitting[0]} or older"
    if fitting[0] == known[-1]:
        return f"CUDA {fitting[-1]} or newer"
    return f"CUDA {fitting[-1]} to {fitting[0]}"


def _dockerfiles_with_cuda_torch(project: Project) -> set[str]:
    out = set()
    for use in _torch_uses(project):
        resolved = _resolve(use)
        if use.dockerfile and resolved and any(r.variant.startswith("cu") for r in resolved[0]):
            out.add(use.dockerfile)
    return out


@rule("DA604")
def cuda_arch_unsupported(project: Project) -> Iterator[Finding]:
    """A CUDA image or toolkit that cannot target a GPU of the declared fleet.

    CUDA 13 dropped Maxwell, Pascal and Volta (minimum sm_75), CUDA 12 dropped Kepler (minimum
    sm_50), and GPUs newer than a toolkit need a newer one (Blackwell needs 12.8). Checks the
    images that run on the fleet or build code for it, and ``apt-get install cuda-toolkit-X-Y``
    style installs. Fix: use a CUDA version that supports every fleet GPU (the message names the
    newest), e.g. CUDA 12.x for a Tesla P40.
    """
    fleet = _fleet(project)
    if not fleet.known:
        return
    fitting = [
        m for m in _fitting_cuda(_Fleet(None, fleet.devices, None, None, None, None)) if m in _image_minors()
    ]
    advice = _cuda_range(fitting)
    wheel_images = _dockerfiles_with_cuda_torch(project)
    for image in _cuda_images(project):
        if not (image.runs or image.feeds) or image.version is None:
            continue
        bad = [
            d for d in fleet.known if kn.cuda_supports_arch(image.version, d.info.compute_capability) is False
        ]
        if not bad:
            continue
        name = kn.parse_image(image.ref).name
        first = bad[0]
        gpus = ", ".join(
            f"{d.name} (compute capability {_cc_text(d.info.compute_capability)}, {d.info.arch})" for d in bad
        )
        replacement = _similar_tag(image.tag, max_minor=fitting[0], supported_only=True) if fitting else None
        compiles = image.stage is not None and bool(_extension_builds(image.stage))
        with_wheels = image.dockerfile in wheel_images
        severity = None
        if not image.runs and not compiles:
            if with_wheels:
                continue  # a builder that only installs wheels: they bring their own CUDA
            severity = Severity.WARNING
        message = (
            f"`{name}:{image.tag}` (CUDA {_mm(image.version)}) cannot run code for the fleet's {gpus}: "
            f"{_arch_reason(image.version, first.info.compute_capability)}, so kernels built with or linked "
            f"against this image's CUDA fail with \"no kernel image is available for execution on the "
            f'device".'
        )
        if image.runs and with_wheels and not compiles:
            # the PyTorch wheels bring their own CUDA libraries (DA607 checks them); only code that
            # uses the image's own CUDA libraries is affected
            severity = Severity.WARNING
            message += (
                " The PyTorch CUDA wheels this image installs bring their own CUDA libraries (DA607 checks "
                "them); anything else that uses the image's CUDA libraries fails."
            )
        if advice:
            message += f" Use an image with {advice}"
            message += f", e.g. `{name}:{replacement}`." if replacement else "."
        yield Finding(
            span=image.span,
            message=message,
            related=(*image.related, *fleet.device_related(bad)),
            severity=severity,
            fix=f"{name}:{replacement}" if replacement else None,
        )
    for path in _dockerfile_paths(project):
        dockerfile = project.dockerfile(path)
        if dockerfile is None:
            continue
        from dockaudit.installs import stage_installs

        for stage in dockerfile.stages:
            for install in stage_installs(stage):
                if install.manager != "apt" or not install.is_install:
                    continue
                for package in install.packages:
                    match = _APT_CUDA.match(package)
                    if not match:
                        continue
                    version = f"{match.group(1)}.{match.group(2)}"
                    bad = [
                        d
                        for d in fleet.known
                        if kn.cuda_supports_arch(version, d.info.compute_capability) is False
                    ]
                    if not bad:
                        continue
                    gpus = ", ".join(
                        f"{d.name} ({_cc_text(d.info.compute_capability)}, {d.info.arch})" for d in bad
                    )
                    message = (
                        f"`{package}` installs CUDA {version}, which cannot build for the fleet's {gpus}: "
                        f"{_arch_reason(version, bad[0].info.compute_capability)}."
                    )
                    if advice:
                        message += f" Install {advice} instead."
                    yield Finding(
                        span=install.instruction.locate(package),
                        message=message,
                        related=fleet.device_related(bad),
                    )


@rule("DA605")
def cuda_driver_requirement(project: Project) -> Iterator[Finding]:
    """The minimum NVIDIA driver of each CUDA image, when no fleet driver is declared.

    One note per ``nvidia/cuda`` image that runs (``NVIDIA_REQUIRE_CUDA`` makes older drivers
    refuse it), so the requirement is visible in review. Declaring the servers in
    ``.dockaudit.toml`` (``[gpu] driver = ...``, ``devices = [...]``) turns this note into the
    DA603/DA604 checks.
    """
    fleet = _fleet(project)
    if fleet.driver is not None:
        return
    config = project.config.path or ".dockaudit.toml"
    for image in _cuda_images(project):
        if not image.runs or image.version is None:
            continue
        minor = _mm(image.version)
        need = _min_driver(minor)
        if need is None:
            continue
        name = kn.parse_image(image.ref).name
        yield Finding(
            span=image.span,
            message=f"`{name}:{image.tag}` needs NVIDIA driver >= {need} on the host (CUDA {minor}; "
            f"nvidia-container-cli refuses older drivers). Declare the servers in {config} "
            f'(`[gpu]` with `driver = "..."` and `devices = ["..."]`, or --gpu-driver/--gpu) so dockaudit '
            f"checks the driver and GPU architectures.",
            related=image.related,
        )


# =============================================================================================
# DA606-DA608: PyTorch wheels


@rule("DA606")
def torch_cuda_driver_too_old(project: Project) -> Iterator[Finding]:
    """A PyTorch CUDA wheel that needs a newer NVIDIA driver than the declared fleet runs.

    The wheel's CUDA comes from a ``+cuNNN`` pin, the ``download.pytorch.org/whl/cuNNN`` index in
    effect (requirements options, RUN pip flags, ``PIP_*``/``UV_*`` env, ``[tool.uv.index]`` and
    sources, Poetry sources), uv.lock, or PyPI's default build of that release. Wheels rely on CUDA
    minor-version compatibility: cu12x needs a driver >= 525, cu13x >= 580, cu11x >= 450.80.02.
    Fix: install a variant whose CUDA the driver supports, or upgrade the driver.
    """
    fleet = _fleet(project)
    if fleet.driver is None:
        return
    driver = fleet.driver

    def problem(res: _Resolution) -> bool:
        cuda = _variant_cuda(res.variant)
        return cuda is not None and kn.driver_supports(driver, cuda, "minor_compat") is False

    for use in _torch_uses(project):
        resolved = _resolve(use)
        if resolved is None:
            continue
        picked = _pick(use, *resolved, problem)
        if picked is None:
            continue
        res, severity, note = picked
        cuda = _variant_cuda(res.variant) or "?"
        need = _compat_min_driver(_rel(cuda)[0])
        reported = kn.newest_cuda_for_driver(driver, "runtime")
        good = [
            v
            for v in kn.torch_variants(res.release)
            if _variant_cuda(v) and kn.driver_supports(driver, _variant_cuda(v) or "", "minor_compat")
        ]
        message = (
            f"torch {res.version} {res.variant} ({res.how}) is built for CUDA {cuda} and needs NVIDIA driver "
            f">= {need} (CUDA {_rel(cuda)[0]}.x minor-version compatibility), but the fleet's driver "
            f"{driver} ({fleet.where()}) supports CUDA {reported or '?'}: torch.cuda.is_available() "
            f"returns False."
        )
        if note:
            message = f"{note}. " + message
        if good:
            message += (
                f" Install the {good[-1]} build (--index-url {kn.torch_index_url(good[-1])}) or upgrade "
                f"the driver."
            )
        else:
            older = _older_release_for(fleet, res.release)
            if older is not None:
                message += (
                    f" No build of torch {res.release} fits that driver: upgrade the driver, or use torch "
                    f"{older[0]} with the {older[1]} build (--index-url {kn.torch_index_url(older[1])})."
                )
            else:
                message += " Upgrade the driver."
        yield Finding(
            span=use.span,
            message=message,
            related=_use_related(use, fleet.driver_related()),
            severity=severity,
        )


def _older_release_for(fleet: _Fleet, release: str) -> tuple[str, str] | None:
    """The newest torch release before ``release`` with a variant the fleet's driver and GPUs run."""
    for candidate in reversed(_known_releases()):
        if _rel(candidate) >= _rel(release):
            continue
        for variant in reversed(kn.torch_variants(candidate)):
            cuda = _variant_cuda(variant)
            if cuda is None or (fleet.driver and not kn.driver_supports(fleet.driver, cuda, "minor_compat")):
                continue
            if all(
                kn.torch_wheel_supports(candidate, variant, d.info.compute_capability) is not False
                for d in fleet.known
            ):
                return candidate, variant
    return None


@rule("DA607")
def torch_arch_unsupported(project: Project) -> Iterator[Finding]:
    """A PyTorch CUDA wheel with no kernels for a GPU of the declared fleet.

    Each (release, variant) wheel is built for a list of architectures: torch >= 2.7 cu128 has no
    sm_60/61, so a Tesla P40 fails with "no kernel image is available"; cu130 has no Volta. The
    wheel is found as for DA606. Fix: install the variant the message names (cu126 keeps
    Maxwell to Hopper), or an older release.
    """
    fleet = _fleet(project)
    if not fleet.known:
        return

    def bad_devices(res: _Resolution) -> list[_Device]:
        if not res.variant.startswith("cu"):
            return []
        return [
            d
            for d in fleet.known
            if kn.torch_wheel_supports(res.release, res.variant, d.info.compute_capability) is False
        ]

    for use in _torch_uses(project):
        resolved = _resolve(use)
        if resolved is None:
            continue
        picked = _pick(use, *resolved, lambda r: bool(bad_devices(r)))
        if picked is None:
            continue
        res, severity, note = picked
        bad = bad_devices(res)
        archs = kn.torch_wheel_archs(res.release, res.variant) or []
        working = None
        for variant in reversed(kn.torch_variants(res.release)):
            if all(
                kn.torch_wheel_supports(res.release, variant, d.info.compute_capability) for d in fleet.known
            ):
                working = variant
                break
        gpus = ", ".join(
            f"{d.name} (sm_{d.info.compute_capability[0]}{d.info.compute_capability[1]}, {d.info.arch})"
            for d in bad
        )
        message = (
            f"torch {res.version} {res.variant} ({res.how}) has no kernels for the fleet's {gpus}: the wheel "
            f'is built for {" ".join(archs)}, so CUDA calls fail with "no kernel image is available for '
            f'execution on the device".'
        )
        if note:
            message = f"{note}. " + message
        if working:
            message += (
                f" Install the {working} build of torch {res.release} "
                f"(--index-url {kn.torch_index_url(working)})."
            )
        else:
            message += " No variant of this release supports it; use an older torch release (cu126 or older)."
        yield Finding(
            span=use.span,
            message=message,
            related=_use_related(use, fleet.device_related(bad)),
            severity=severity,
            fix=f"--index-url {kn.torch_index_url(working)}" if working else None,
        )


_EXT_PACKAGES = frozenset(
    {
        "flash-attn",
        "flash_attn",
        "apex",
        "xformers",
        "deepspeed",
        "mamba-ssm",
        "causal-conv1d",
        "auto-gptq",
        "exllamav2",
        "natten",
        "pytorch3d",
        "detectron2",
        "torch-scatter",
        "torch-sparse",
        "torch-cluster",
        "spconv",
        "gsplat",
        "tiny-cuda-nn",
        "nvdiffrast",
        "diff-gaussian-rasterization",
        "simple-knn",
        "mmcv",
        "mmcv-full",
        "bitsandbytes",
    }
)
_ALWAYS_SOURCE = frozenset(
    {
        "apex",
        "pytorch3d",
        "detectron2",
        "nvdiffrast",
        "tiny-cuda-nn",
        "diff-gaussian-rasterization",
        "simple-knn",
    }
)


def _extension_builds(stage: Stage) -> list[tuple[Span, str]]:
    """Commands of a stage's lineage that compile CUDA code against torch."""
    from dockaudit.installs import run_commands, stage_installs
    from dockaudit.link.services import lineage

    out: list[tuple[Span, str]] = []
    for member in reversed(lineage(stage)):
        for inst in member.instructions:
            if inst.keyword in ("ENV", "ARG"):
                for kv in inst.key_values:
                    if kv.key == "TORCH_CUDA_ARCH_LIST" and kv.value:
                        out.append((kv.span, "TORCH_CUDA_ARCH_LIST is set for building CUDA extensions"))
            if inst.keyword != "RUN":
                continue
            for command, span in run_commands(inst):
                words = command.words
                if "TORCH_CUDA_ARCH_LIST" in command.assignments:
                    out.append((span, "TORCH_CUDA_ARCH_LIST is set for building CUDA extensions"))
                elif command.name == "nvcc" or (
                    command.name.startswith("python")
                    and "setup.py" in [posixpath.basename(w) for w in words[1:3]]
                    and any(w in ("build", "build_ext", "install", "develop", "bdist_wheel") for w in words)
                ):
                    out.append((span, f"`{' '.join(words[:3])}` compiles CUDA code"))
        for install in stage_installs(member):
            if install.manager not in ("pip", "uv-pip") or not install.is_install:
                continue
            no_binary = install.option_value("--no-binary") or ""
            for package in install.packages:
                lowered = package.lower()
                name = re.split(r"[\[<>=!~; @]", lowered, maxsplit=1)[0].replace("_", "-")
                from_git = lowered.startswith("git+") or "github.com" in lowered
                repo = re.search(r"github\.com/[^/]+/([^/@#.]+)", lowered)
                repo_name = repo.group(1) if repo else ""
                if from_git and (
                    repo_name in _EXT_PACKAGES
                    or repo_name.replace("-", "_") in _EXT_PACKAGES
                    or repo_name in ("flash-attention", "xformers", "apex")
                ):
                    out.append(
                        (
                            install.instruction.locate(package),
                            f"`{package}` builds CUDA extensions from source",
                        )
                    )
                elif name in _EXT_PACKAGES and (
                    name in _ALWAYS_SOURCE
                    or name in ("flash-attn",)
                    or install.has_option("--no-build-isolation")
                    or name in no_binary
                    or ":all:" in no_binary
                ):
                    out.append(
                        (
                            install.instruction.locate(package),
                            f"`pip install {package}` compiles CUDA code against the installed torch",
                        )
                    )
    return out


def _image_nvcc(stage: Stage) -> tuple[str, Span, str] | None:
    """(CUDA X.Y of nvcc, where, what) when the stage's lineage has nvcc: a devel image or an
    ``apt-get install cuda-nvcc-X-Y``/``cuda-toolkit-X-Y``."""
    from dockaudit.installs import stage_installs
    from dockaudit.link.services import lineage

    root = lineage(stage)[-1]
    found = None
    ref = kn.parse_image(root.base_image) if root.uses_external_image else None
    if ref is not None and ref.name in _CUDA_REPOS and ref.tag and kn.cuda_image_flavour(ref.tag) == "devel":
        version = kn.cuda_version_of_tag(ref.tag)
        if version is not None:
            found = (_mm(str(version)), root.base_span, f"the {ref.name}:{ref.tag} devel image")
    for member in reversed(lineage(stage)):
        for install in stage_installs(member):
            if install.manager != "apt" or not install.is_install:
                continue
            for package in install.packages:
                match = _APT_CUDA.match(package)
                if (
                    match
                    and "runtime" not in package
                    and "cudart" not in package
                    and "libraries" not in package
                ):
                    found = (
                        f"{match.group(1)}.{match.group(2)}",
                        install.instruction.locate(package),
                        f"`{package}`",
                    )
    return found


@rule("DA608")
def torch_cuda_image_mismatch(project: Project) -> Iterator[Finding]:
    """A PyTorch wheel built for a newer CUDA than the nvcc that compiles extensions against it.

    Only where it matters: a stage that has nvcc (a ``devel`` image or an apt CUDA toolkit) and
    builds CUDA extensions (flash-attn, apex, xformers from source, ``TORCH_CUDA_ARCH_LIST``,
    ``setup.py build_ext``, ``nvcc``). torch.utils.cpp_extension refuses a different CUDA major
    (error) and warns on a different minor; a runtime image needs no match (the wheel ships its
    own CUDA libraries). Heuristic in how it spots extension builds. Fix: use a devel image of the
    wheel's CUDA version, or the wheel variant of the image's CUDA.
    """
    from dockaudit.link.services import lineage

    reported: set[tuple[Span, Span]] = set()
    for use in _torch_uses(project):
        if use.stage is None or use.dockerfile is None:
            continue
        resolved = _resolve(use)
        if resolved is None or not resolved[1]:
            continue
        res = resolved[0][0]
        wheel_cuda = _variant_cuda(res.variant)
        dockerfile = project.dockerfile(use.dockerfile)
        if wheel_cuda is None or dockerfile is None:
            continue
        # the stage installing torch and the stages built on it: one finding per nvcc source,
        # at the first command that compiles (a TORCH_CUDA_ARCH_LIST setting when there is none)
        groups: dict[Span, tuple[tuple[str, Span, str], list[tuple[Span, str]]]] = {}
        for stage in dockerfile.stages:
            if use.stage not in lineage(stage):
                continue
            nvcc = _image_nvcc(stage)
            builds = _extension_builds(stage) if nvcc is not None else []
            if nvcc is None or not builds:
                continue
            _, found = groups.setdefault(nvcc[1], (nvcc, []))
            found.extend(b for b in builds if b not in found)
        for nvcc, builds in groups.values():
            image_cuda, image_span, image_what = nvcc
            wheel_v, image_v = _rel(wheel_cuda), _rel(image_cuda)
            if wheel_v[0] == image_v[0] and wheel_v <= image_v:
                continue
            builds.sort(key=lambda b: ("TORCH_CUDA_ARCH_LIST" in b[1], b[0].line))
            span, what = builds[0]
            if (span, image_span) in reported:
                continue
            reported.add((span, image_span))
            major = wheel_v[0] != image_v[0]
            consequence = (
                'torch.utils.cpp_extension refuses to build ("The detected CUDA version mismatches the '
                'version that was used to compile PyTorch")'
                if major
                else "torch.utils.cpp_extension only warns, and the extension is compiled with an older nvcc "
                "than torch, which can fail to build or load"
            )
            more = f" ({len(builds) - 1} more build step(s) in this image)" if len(builds) > 1 else ""
            yield Finding(
                span=span,
                message=f"{what}{more}, but nvcc comes from {image_what} (CUDA {image_cuda}) while torch "
                f"{res.version} is the {res.variant} build (CUDA {wheel_cuda}, {res.how}): {consequence}. "
                f"Use a CUDA {wheel_cuda} devel image, or install the torch build for CUDA {image_cuda}.",
                related=(
                    Related(image_span, f"nvcc: CUDA {image_cuda}"),
                    Related(use.span, f"torch {res.variant} (CUDA {wheel_cuda})"),
                ),
                severity=Severity.ERROR if major else None,
            )


# =============================================================================================
# DA609-DA611: compose services and environment


def _reserves_gpu(service: Service) -> bool:
    deploy = service.deploy or {}
    resources = deploy.get("resources") if isinstance(deploy, dict) else None
    reservations = resources.get("reservations") if isinstance(resources, dict) else None
    if isinstance(reservations, dict):
        for device in reservations.get("devices") or ():
            if not isinstance(device, dict):
                continue
            capabilities = device.get("capabilities") or ()
            flat = [
                str(c).lower() for c in (capabilities if isinstance(capabilities, list) else [capabilities])
            ]
            if "gpu" in flat or str(device.get("driver", "")).lower() == "nvidia":
                return True
        for resource in reservations.get("generic_resources") or ():
            spec = resource.get("discrete_resource_spec") if isinstance(resource, dict) else None
            if isinstance(spec, dict) and "gpu" in str(spec.get("kind", "")).lower():
                return True
    if service.gpus not in (None, "", [], {}):
        return True
    if (service.runtime or "").lower() == "nvidia":
        return True
    for device in service.data.get("devices") or ():
        text = str(device.get("source", "")) if isinstance(device, dict) else str(device)
        if "nvidia.com/gpu" in text or text.startswith(("/dev/nvidia", "/dev/kfd", "/dev/dri")):
            return True  # NVIDIA through CDI or device nodes; AMD (ROCm) and Intel GPUs
    return False


def _reservation(service: Service) -> tuple[int | None, list[str] | None, Span] | None:
    """(count, device_ids, span) of the service's first GPU device reservation."""
    deploy = service.deploy or {}
    resources = deploy.get("resources") if isinstance(deploy, dict) else None
    reservations = resources.get("reservations") if isinstance(resources, dict) else None
    if isinstance(reservations, dict):
        for index, device in enumerate(reservations.get("devices") or ()):
            if not isinstance(device, dict):
                continue
            capabilities = device.get("capabilities") or ()
            flat = [
                str(c).lower() for c in (capabilities if isinstance(capabilities, list) else [capabilities])
            ]
            if "gpu" not in flat and str(device.get("driver", "")).lower() != "nvidia":
                continue
            path = ("deploy", "resources", "reservations", "devices", index)
            ids = device.get("device_ids")
            if isinstance(ids, list) and ids:
                return None, [str(i) for i in ids], service.span_of(*path, "device_ids")
            count = device.get("count")
            if isinstance(count, int) and not isinstance(count, bool):
                return count, None, service.span_of(*path, "count")
            if isinstance(count, str) and count.isdecimal():
                return int(count), None, service.span_of(*path, "count")
            return None, None, service.span_of(*path)
    gpus = service.gpus
    if isinstance(gpus, int) and not isinstance(gpus, bool):
        return gpus, None, service.span_of("gpus")
    return None


@dataclass
class _EnvValue:
    key: str
    value: str
    span: Span
    where: str  # "compose", "env_file", "dockerfile"
    from_variable: bool = False


def _compose_env_entries(compose: ComposeProject, service: Service) -> dict[str, _EnvValue]:
    node = service.node_at("environment")
    out: dict[str, _EnvValue] = {}
    if node is None:
        return out
    variable_spans = [v.span for v in compose.variables]

    def interpolated(span: Span) -> bool:
        return any(
            v.path == span.path
            and (span.line, span.column) <= (v.line, v.column) <= (span.end_line, span.end_column)
            for v in variable_spans
        )

    if node.kind == "map":
        for key, child in node.value.items():
            if child.kind != "scalar" or child.value is None:
                continue
            value = (
                str(child.value)
                if not isinstance(child.value, bool)
                else ("true" if child.value else "false")
            )
            out[key] = _EnvValue(key, value, child.span, "compose", interpolated(child.span))
    elif node.kind == "seq":
        for item in node.value:
            if item.kind != "scalar" or item.value is None:
                continue
            key, sep, value = str(item.value).partition("=")
            if sep:
                out[key.strip()] = _EnvValue(
                    key.strip(), value, item.span, "compose", interpolated(item.span)
                )
    return out


def _service_env(
    project: Project, compose: ComposeProject, service: Service, stage: Stage | None
) -> dict[str, _EnvValue]:
    """The container's environment as compose sets it: image ENV < env_file < environment."""
    env: dict[str, _EnvValue] = {}
    if stage is not None:
        definitions = stage.env_definitions
        for key, value in stage.env.items():
            inst = definitions.get(key)
            span = inst.span if inst is not None else stage.base_span
            if inst is not None:
                for kv in inst.key_values:
                    if kv.key == key:
                        span = kv.span
            env[key] = _EnvValue(key, value, span, "dockerfile")
    for ref in service.env_files:
        if ref.path is None or ref.path not in project.tree.files:
            continue
        document = project.env_file(ref.path)
        if document is None:
            continue
        for entry in document.entries:
            if entry.has_equals:
                env[entry.key] = _EnvValue(entry.key, entry.value, entry.span, "env_file")
    env.update(_compose_env_entries(compose, service))
    return env


_DEVICE_KEY = re.compile(r"(?:^|_)DEVICE$")
_CPU_NAME = re.compile(r"(?i)(?:^|[-_.:])cpu(?:$|[-_.])")


def _gpu_env_signals(env: dict[str, _EnvValue]) -> tuple[list[_EnvValue], bool]:
    """(entries that ask for a GPU, an entry explicitly asks for the CPU)."""
    signals = []
    cpu = False
    for entry in env.values():
        value = entry.value.strip().lower()
        if _DEVICE_KEY.search(entry.key.upper()):
            if value.startswith("cuda") or value == "gpu":
                signals.append(entry)
            elif value in ("cpu", "mps"):
                cpu = True
        elif entry.key == "NVIDIA_VISIBLE_DEVICES" and entry.where != "dockerfile":
            if value and value not in ("void", "none"):
                signals.append(entry)
        elif (entry.key == "CUDA_VISIBLE_DEVICES" and entry.where != "dockerfile"
              and re.fullmatch(r"[0-9, ]+|gpu-[0-9a-f-]+(,.*)?|mig-.*", value)):
            signals.append(entry)
    return signals, cpu


def _service_links(project: Project) -> list:
    from dockaudit.link.services import service_builds

    return service_builds(project)


def _image_gpu_signals(project: Project, link) -> list[Related]:
    """Why the service's image looks like a GPU image: a CUDA base, a CUDA torch wheel."""
    from dockaudit.link.services import lineage

    out: list[Related] = []
    if link.stage is not None:
        chain = lineage(link.stage)
        root = chain[-1]
        args = {
            k: v
            for k, v in ((link.service.build.args if link.service.build else None) or {}).items()
            if v is not None
        }
        base = root.resolve_base(args) if args else root.base_image
        ref = kn.parse_image(base) if root.uses_external_image else None
        if ref is not None and (
            ref.name in _CUDA_REPOS or (ref.name == "pytorch/pytorch" and "cuda" in (ref.tag or ""))
        ):
            out.append(Related(root.base_span, f"CUDA base image {base}"))
        dockerfile = link.dockerfile
        members = {s.index for s in chain}
        if dockerfile is not None:
            # stages whose files are copied into this service's stage
            pending = list(chain)
            while pending:
                stage = pending.pop()
                for inst in stage.instructions:
                    if inst.keyword in ("COPY", "ADD") and inst.flag("from"):
                        source = _stage_by_ref(dockerfile, inst.flag("from") or "")
                        if source is not None:
                            for member in lineage(source):
                                if member.index not in members:
                                    members.add(member.index)
                                    pending.append(member)
        for use in _torch_uses(project):
            if use.dockerfile != link.dockerfile_path or use.stage is None or use.stage.index not in members:
                continue
            if not (use.local or use.index_variant or use.image_variant):
                continue  # PyPI's default build is a CUDA build, but CPU-only services install it too
            resolved = _resolve(use)
            if resolved is None:
                continue
            res = resolved[0][-1]
            if res.variant.startswith("cu"):
                out.append(Related(use.span, f"CUDA build of torch ({res.variant})"))
                break
    elif link.service.image:
        ref = kn.parse_image(link.service.image)
        if ref.name in _CUDA_REPOS or (ref.name == "pytorch/pytorch" and "cuda" in (ref.tag or "")):
            out.append(Related(link.service.value_span_of("image"), f"CUDA image {link.service.image}"))
    return out


def _same_image(a, b) -> bool:
    if a.dockerfile_path and a.dockerfile_path == b.dockerfile_path:
        return True
    return bool(
        a.service.image and a.service.image == b.service.image and (a.service.build or b.service.build)
    )


@rule("DA609")
def gpu_not_reserved(project: Project) -> Iterator[Finding]:
    """A compose service that needs a GPU but reserves none.

    Needs a GPU: its environment asks for CUDA (``*_DEVICE=cuda``, ``NVIDIA_VISIBLE_DEVICES``,
    ``CUDA_VISIBLE_DEVICES``), or its image is a CUDA image / installs CUDA torch wheels. A
    reservation is ``deploy.resources.reservations.devices`` (driver nvidia or capability gpu),
    ``gpus:``, ``runtime: nvidia`` or a CDI ``nvidia.com/gpu`` device. A service that only shares
    the image of a GPU service that does reserve one, with its own command (migrations, admin
    jobs), is left alone. Without a reservation the container sees no GPU (unless the daemon's
    default runtime is nvidia) and the app falls back to the CPU or crashes.
    """
    links = _service_links(project)
    for link in links:
        service = link.service
        if _reserves_gpu(service):
            continue
        names = (
            service.name,
            *service.profiles,
            kn.parse_image(service.image).tag or "" if service.image else "",
            *(posixpath.basename(f) for f in link.compose.files),
        )
        if any(_CPU_NAME.search(name) for name in names):
            continue  # `tts-cpu`, profile `cpu`, image `app:1.0-cpu`, compose.cpu.yaml: meant for the CPU
        env = _service_env(project, link.compose, service, link.stage)
        env_signals, wants_cpu = _gpu_env_signals(env)
        env_signals = [e for e in env_signals if e.where != "dockerfile"]
        if wants_cpu and not env_signals:
            continue
        image_signals = _image_gpu_signals(project, link)
        if not env_signals and not image_signals:
            continue
        if not env_signals:
            siblings = [
                other
                for other in links
                if other is not link
                and other.compose is link.compose
                and _same_image(link, other)
                and _reserves_gpu(other.service)
            ]
            own_command = service.command is not None or service.entrypoint is not None
            if siblings and own_command:
                continue
        reasons = [f"`{e.key}={e.value}`" for e in env_signals] + [r.message for r in image_signals]
        related = tuple(Related(e.span, f"{e.key}={e.value}") for e in env_signals) + tuple(image_signals)
        yield Finding(
            span=service.span,
            message=f"service {service.name!r} needs a GPU ({'; '.join(reasons)}) but reserves none, so the "
            "container sees no GPU (unless the Docker daemon's default runtime is nvidia) and falls back "
            "to the CPU or "
            "fails. Add `deploy.resources.reservations.devices: [{driver: nvidia, count: 1, "
            "capabilities: [gpu]}]` (or `gpus: all`).",
            related=related,
            fix="deploy: {resources: {reservations: {devices: "
            "[{driver: nvidia, count: 1, capabilities: [gpu]}]}}}",
        )


def _index_list(value: str) -> list[str] | None:
    items = [v.strip() for v in value.split(",")]
    if not items or any(not v for v in items):
        return None
    return items


@rule("DA610")
def visible_devices_mismatch(project: Project) -> Iterator[Finding]:
    """``CUDA_VISIBLE_DEVICES`` / ``NVIDIA_VISIBLE_DEVICES`` that contradict the GPU reservation.

    Inside a container the reserved GPUs are renumbered from 0: with one GPU reserved
    (``count: 1`` or ``device_ids: ["1"]``) ``CUDA_VISIBLE_DEVICES=1`` names a GPU that does not
    exist and CUDA reports no device. ``NVIDIA_VISIBLE_DEVICES`` names host GPUs, so it must not
    ask for others than ``device_ids`` reserves (or more than ``count``). Values come from the
    compose environment, the env files and the image's ENV.
    """
    for link in _service_links(project):
        service = link.service
        env = _service_env(project, link.compose, service, link.stage)
        reservation = _reservation(service)
        nvidia = env.get("NVIDIA_VISIBLE_DEVICES")
        visible_count: int | None = None
        reserved_span: Span | None = None
        reserved_text = ""
        if reservation is not None:
            count, ids, reserved_span = reservation
            if ids is not None:
                visible_count = len(ids)
                reserved_text = f"device_ids {ids}"
            elif count is not None:
                visible_count = count
                reserved_text = f"count: {count}"
            if nvidia is not None and nvidia.where != "dockerfile":
                values = _index_list(nvidia.value.strip())
                if values and nvidia.value.strip().lower() not in ("all", "void", "none"):
                    if ids is not None and set(values) != set(ids):
                        yield Finding(
                            span=nvidia.span,
                            message=f"NVIDIA_VISIBLE_DEVICES={nvidia.value} asks for host GPU(s) "
                            f"{', '.join(values)} but service {service.name!r} reserves {', '.join(ids)} "
                            f"(device_ids): which GPU "
                            "the container gets then depends on the runtime. Drop NVIDIA_VISIBLE_DEVICES and "
                            "let the reservation choose, or make them name the same GPUs.",
                            related=(Related(reserved_span, f"reserves device_ids {ids}"),),
                        )
                        continue
                    if count is not None and len(values) > count:
                        yield Finding(
                            span=nvidia.span,
                            message=f"NVIDIA_VISIBLE_DEVICES={nvidia.value} asks for {len(values)} GPUs but "
                            f"service {service.name!r} reserves count: {count}. Drop "
                            f"NVIDIA_VISIBLE_DEVICES or "
                            "reserve the GPUs it names with device_ids.",
                            related=(Related(reserved_span, f"reserves count: {count}"),),
                        )
                        continue
        elif nvidia is not None and (service.runtime or "").lower() == "nvidia":
            values = _index_list(nvidia.value.strip())
            if values and nvidia.value.strip().lower() not in ("all", "void", "none"):
                visible_count = len(values)
                reserved_span = nvidia.span
                reserved_text = f"NVIDIA_VISIBLE_DEVICES={nvidia.value}"
        cuda = env.get("CUDA_VISIBLE_DEVICES")
        if cuda is None or visible_count is None or reserved_span is None:
            continue
        values = _index_list(cuda.value.strip())
        if not values or not all(v.isdecimal() for v in values):
            continue
        beyond = [v for v in values if int(v) >= visible_count]
        if not beyond:
            continue
        inside = ", ".join(str(i) for i in range(visible_count)) if visible_count else "none"
        yield Finding(
            span=cuda.span,
            message=f"CUDA_VISIBLE_DEVICES={cuda.value} names GPU index {', '.join(beyond)}, but inside the "
            f"container of service {service.name!r} the {visible_count} GPU(s) it gets ({reserved_text}) "
            f"are numbered "
            f"{inside}: CUDA finds no such device. GPUs are renumbered from 0 in the container; use "
            f"CUDA_VISIBLE_DEVICES={','.join(str(i) for i in range(min(len(values), visible_count))) or '0'} "
            "(choose the host GPU with device_ids) or drop it.",
            related=(Related(reserved_span, f"the service gets {visible_count} GPU(s): {reserved_text}"),),
        )


_ALLOC_BOOL = frozenset(
    {
        "expandable_segments",
        "release_lock_on_cudamalloc",
        "pinned_use_cuda_host_register",
        "pinned_use_background_threads",
        "graph_capture_record_stream_reuse",
        "release_lock_on_hipmalloc",
        "pinned_use_hip_host_register",
    }
)
_ALLOC_KEYS = (
    frozenset(
        {
            "max_split_size_mb",
            "max_non_split_rounding_mb",
            "garbage_collection_threshold",
            "roundup_power2_divisions",
            "backend",
            "pinned_num_register_threads",
            "pinned_reserve_segment_size_mb",
        }
    )
    | _ALLOC_BOOL
)
_ALLOC_VARS = ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF", "PYTORCH_HIP_ALLOC_CONF")


def _power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def _alloc_conf_error(text: str) -> str | None:
    """Why PyTorch would reject an allocator config string (None when it is fine).

    Follows c10's tokenizer: the string splits into words at ``,`` ``:`` ``[`` ``]`` (spaces are
    dropped), then ``key:value`` pairs separated by commas.
    """
    tokens: list[str] = []
    buffer = ""
    for ch in text:
        if ch in ",:[]":
            if buffer:
                tokens.append(buffer)
                buffer = ""
            tokens.append(ch)
        elif not ch.isspace():
            buffer += ch
    if buffer:
        tokens.append(buffer)
    i = 0
    n = len(tokens)

    def integer(token: str) -> int | None:
        match = re.match(r"\+?(\d+)", token)
        return int(match.group(1)) if match else None

    while i < n:
        key = tokens[i]
        if key in ",:[]":
            return f"expected an option name, found `{key}`"
        if key not in _ALLOC_KEYS and "=" in key and key.split("=", 1)[0] in _ALLOC_KEYS:
            name, _, rest = key.partition("=")
            return f"`{key}` uses `=`: options are written `{name}:{rest}`"
        if key not in _ALLOC_KEYS:
            close = [
                k
                for k in sorted(_ALLOC_KEYS)
                if k.replace("_", "") == key.lower().replace("_", "") or k.startswith(key.lower()[:8])
            ]
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            return f"unknown option `{key}`{hint}; PyTorch knows " + ", ".join(
                sorted(k for k in _ALLOC_KEYS if "hip" not in k)
            )
        if i + 1 >= n or tokens[i + 1] != ":":
            return (f"`{key}` needs a value: write `{key}:<value>` (options are comma-separated `key:value` "
                    "pairs)")
        if i + 2 >= n or tokens[i + 2] in ",:]":
            return f"`{key}:` has no value"
        value = tokens[i + 2]
        i += 3
        if key in _ALLOC_BOOL:
            if value not in ("True", "False"):
                return f"`{key}:{value}`: PyTorch accepts only `True` or `False` (capitalised)"
        elif key in ("max_split_size_mb", "max_non_split_rounding_mb"):
            number = integer(value)
            if number is None:
                return f"`{key}:{value}`: the value must be a whole number of MiB"
            if number < 20:
                return f"`{key}:{value}` is too small: PyTorch requires at least 20 (MiB)"
        elif key == "garbage_collection_threshold":
            try:
                threshold = float(value)
            except ValueError:
                return f"`{key}:{value}`: the value must be a number between 0 and 1"
            if not 0.0 < threshold < 1.0:
                return f"`{key}:{value}`: the threshold must be greater than 0 and less than 1"
        elif key == "backend":
            if value not in ("native", "cudaMallocAsync"):
                return f"`backend:{value}`: the backend is `native` or `cudaMallocAsync`"
        elif key == "pinned_num_register_threads":
            number = integer(value)
            if number is None or not _power_of_two(number) or number > 128:
                return f"`{key}:{value}`: the value must be a power of 2, at most 128"
        elif key == "pinned_reserve_segment_size_mb":
            number = integer(value)
            if number is None or number <= 0:
                return f"`{key}:{value}`: the value must be a positive whole number"
        elif key == "roundup_power2_divisions":
            if value == "[":
                while True:
                    if i >= n:
                        return "`roundup_power2_divisions:[` is not closed with `]`"
                    if tokens[i] == "]":
                        i += 1
                        break
                    interval = tokens[i]
                    if i + 2 >= n or tokens[i + 1] != ":":
                        return f"`roundup_power2_divisions`: `{interval}` needs `:<divisions>`"
                    divisions = integer(tokens[i + 2])
                    if interval != ">":
                        size = integer(interval)
                        if size is None or not _power_of_two(size):
                            return (f"`roundup_power2_divisions`: the interval `{interval}` must be a power "
                                    "of 2 (MiB)")
                    if divisions is None or (divisions != 0 and not _power_of_two(divisions)):
                        return (
                            f"`roundup_power2_divisions`: the divisions `{tokens[i + 2]}` must be a "
                            f"power of 2 "
                            "(or 0)"
                        )
                    i += 3
                    if i < n and tokens[i] == ",":
                        i += 1
            else:
                number = integer(value)
                if number is None or not _power_of_two(number):
                    return (
                        f"`roundup_power2_divisions:{value}`: the value must be a power of 2 (or a [..] list)"
                    )
        if i < n:
            if tokens[i] != ",":
                return f"expected `,` after `{key}:{value}`, found `{tokens[i]}`"
            i += 1
            if i >= n:
                return "the value ends with a `,`"
    return None


@rule("DA611")
def bad_pytorch_alloc_conf(project: Project) -> Iterator[Finding]:
    """A malformed ``PYTORCH_CUDA_ALLOC_CONF`` (or ``PYTORCH_ALLOC_CONF``).

    PyTorch parses it at the first CUDA allocation and raises on an unknown option, a missing
    ``:value``, ``expandable_segments:true`` (only ``True``/``False``), ``max_split_size_mb`` below
    20, a garbage-collection threshold outside (0, 1), a backend other than ``native`` or
    ``cudaMallocAsync``, or a roundup that is not a power of 2. Checked in compose
    ``environment:``, env files (templates too) and Dockerfile ENV.
    """
    for path, document in project.env_files.items():
        for entry in document.entries:
            if entry.key in _ALLOC_VARS and entry.has_equals and entry.value.strip():
                error = _alloc_conf_error(entry.value)
                if error:
                    yield Finding(
                        span=entry.value_span,
                        message=f"{entry.key}={entry.value} in {path}: {error}. "
                        "PyTorch raises this at the first CUDA allocation.",
                    )
    for path in _dockerfile_paths(project):
        dockerfile = project.dockerfile(path)
        if dockerfile is None:
            continue
        for inst in dockerfile.instructions:
            if inst.keyword != "ENV":
                continue
            stage = dockerfile.stages[inst.stage] if 0 <= inst.stage < len(dockerfile.stages) else None
            for kv in inst.key_values:
                if kv.key not in _ALLOC_VARS or kv.value is None:
                    continue
                value = _expand(kv.value, stage.env_at(inst) if stage else {}, dockerfile.escape)
                if value is None:
                    continue
                value = value.strip("\"'") if value[:1] in "\"'" and value[-1:] == value[:1] else value
                error = _alloc_conf_error(value) if value.strip() else None
                if error:
                    yield Finding(
                        span=kv.value_span or kv.span,
                        message=f"ENV {kv.key}={value}: {error}. PyTorch "
                        "raises this at the first CUDA allocation.",
                    )
    seen: set[Span] = set()
    for compose in project.compose_projects:
        for service in compose.services.values():
            for entry in _compose_env_entries(compose, service).values():
                if entry.key not in _ALLOC_VARS or not entry.value.strip() or entry.span in seen:
                    continue
                seen.add(entry.span)
                if entry.from_variable and _defined_in_env_file(project, compose, entry.key):
                    continue  # the env file's own line is checked above
                error = _alloc_conf_error(entry.value)
                if error:
                    yield Finding(
                        span=entry.span,
                        message=f"{entry.key}={entry.value} (service {service.name!r}): "
                        f"{error}. PyTorch raises this at the first CUDA allocation.",
                    )


def _defined_in_env_file(project: Project, compose: ComposeProject, key: str) -> bool:
    if compose.dotenv is None:
        return False
    document = project.env_file(compose.dotenv)
    return document is not None and any(e.key == key for e in document.entries)


# =============================================================================================
# DA612: the fleet itself


@rule("DA612")
def unknown_gpu_model(project: Project) -> Iterator[Finding]:
    """A ``[gpu] devices`` entry the knowledge table does not know.

    Without its compute capability the architecture checks (DA604, DA607) cannot say anything
    about that GPU. Fix: use the model name as NVIDIA writes it (``Tesla P40``, ``NVIDIA A100``,
    ``L4``, ``RTX 4090``), or report the missing model.
    """
    fleet = _fleet(project)
    for device in fleet.devices:
        if device.info is not None:
            continue
        span = device.span or fleet.devices_span or fleet.span or Span.whole_file(project.display_root)
        suggestion = _close_gpu(device.name)
        yield Finding(
            span=span,
            message=f"dockaudit does not know the GPU model {device.name!r}"
            + (f" ({suggestion})" if suggestion else "")
            + ", so the CUDA and PyTorch architecture checks (DA604, DA607) cannot check it. Write the model "
            'as NVIDIA names it (e.g. "Tesla P40", "NVIDIA A100", "L4", "RTX 4090").',
        )


def _gpu_tokens(name: str) -> list[str]:
    text = re.sub(r"(?i)\b(rtx|gtx|gt)(\d)", r"\1 \2", name)
    return [
        t for t in re.findall(r"[a-z0-9]+", text.lower()) if t not in ("nvidia", "tesla", "geforce", "gpu")
    ]


def _close_gpu(name: str) -> str | None:
    """A hint for an unknown GPU name: the models it may mean (ambiguous), or a close spelling."""
    import difflib

    rows = load_table("gpus").get("gpu", ())
    wanted = _gpu_tokens(name)
    containing = []
    if wanted:
        for row in rows:
            for alias in (row["name"], *row.get("aliases", ())):
                tokens = _gpu_tokens(alias)
                if all(t in tokens for t in wanted):
                    if row["name"] not in containing:
                        containing.append(row["name"])
                    break
    if len(containing) > 1:
        shown = ", ".join(repr(n) for n in containing[:4])
        return f"it is ambiguous: {shown}{' ...' if len(containing) > 4 else ''}"
    if containing:
        return f"did you mean {containing[0]!r}?"
    names = [row["name"] for row in rows]
    aliases = {alias: row["name"] for row in rows for alias in row.get("aliases", ())}
    pool = names + list(aliases)
    by_upper = {p.upper(): p for p in pool}
    found = difflib.get_close_matches(name.upper(), list(by_upper), n=1, cutoff=0.75)
    if not found:
        return None
    original = by_upper[found[0]]
    return f"did you mean {aliases.get(original, original)!r}?"

"""Rules about base images and reproducible builds: floating and end-of-life image tags, platform
pins in ``FROM``, moving sources (branch archives, unpinned ``git+`` URLs, ``git clone`` of a
default branch), BuildKit settings passed where they do nothing, and code bind-mounted over the
image in production compose files.
"""

from __future__ import annotations

import datetime as _dt
import posixpath
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dockaudit.checks.context import build_units, context_view, real_dockerfiles
from dockaudit.engine import rule
from dockaudit.findings import Finding, Related, Severity
from dockaudit.parse.dockerfile import variable_references
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.parse.compose import ComposeProject, Service
    from dockaudit.parse.dockerfile import Dockerfile, Instruction, Stage
    from dockaudit.project import Project

#: tags that move to new releases (besides ``latest``)
_FLOATING_TAG = re.compile(r"^(?:lts|current|stable|mainline|edge|rolling|nightly|alpine|slim|main|master|"
                           r"dev|"
                           r"develop|unstable|testing|sid)(?:-[a-z][a-z-]*)?$")
_BRANCHES = frozenset({"main", "master", "develop", "development", "dev", "trunk", "head", "latest", "stable",
                       "nightly", "next", "default"})


# --- image references ------------------------------------------------------------------------


def _split_ref(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag as written or None, digest or None)."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:] or None, digest
    return image, None, digest


def _resolved_base(stage: Stage, build_args: dict[str, str] | None = None) -> str | None:
    """The base image with the global ARGs expanded, or None when a variable has no value."""
    document = stage.dockerfile
    base = stage.base
    if "$" not in base:
        return base
    scope = document.global_scope(build_args or None) if document is not None else {}
    for ref in variable_references(base, document.escape if document else "\\"):
        if ref.has_default or ref.modifier in (":+", "+"):
            continue
        if not scope.get(ref.name):
            return None
    resolved = stage.resolve_base(build_args or None)
    return resolved or None


def _external_stages(document: Dockerfile) -> Iterator[Stage]:
    """Stages built on a registry image (not scratch, not another stage)."""
    for stage in document.stages:
        if stage.parent is not None:
            continue
        if stage.base_image.strip().lower() == "scratch" or stage.base.strip().lower() == "scratch":
            continue
        yield stage


def _build_args_for(project: Project, path: str) -> list[dict[str, str]]:
    """The build-arg sets compose passes to a Dockerfile (``[{}]`` when none)."""
    from dockaudit.checks.context import units_by_dockerfile

    out: list[dict[str, str]] = [{}]
    for unit in units_by_dockerfile(project).get(path, ()):
        if unit.build_args and unit.build_args not in out:
            out.append(unit.build_args)
    return out


def _local_images(project: Project) -> set[str]:
    """Image names compose builds locally (``image:`` of services with ``build:``), with and
    without their tag: a FROM naming one of them uses a project image, not a registry one."""
    out: set[str] = set()
    for compose in project.compose_projects:
        for service in compose.services.values():
            if service.build is not None and service.image:
                out.add(service.image)
                name, tag, _digest = _split_ref(service.image)
                if tag in (None, "latest"):
                    out.add(name)
                    out.add(f"{name}:latest")
    return out


def _images_of(project: Project) -> Iterator[tuple[str, Span, str, Stage | None, Service | None]]:
    """(image, span, where, stage, service) for every FROM image and every compose ``image:`` of a
    service that does not build. An image resolved differently by compose build args is listed
    once per distinct value; images that compose builds locally are left out."""
    local = _local_images(project)
    for path, document in real_dockerfiles(project):
        arg_sets = _build_args_for(project, path)
        for stage in _external_stages(document):
            seen: set[str] = set()
            for args in arg_sets:
                image = _resolved_base(stage, args)
                if image is None or image in seen or image.lower() == "scratch" or image in local:
                    continue
                if document.stage(image) is not None:
                    continue
                seen.add(image)
                yield image, stage.base_span, f"FROM in {path}", stage, None
    for compose in project.compose_projects:
        for service in compose.services.values():
            if service.build is not None or not service.image or service.image in local:
                continue
            if _unresolved_image(project, compose, service):
                continue
            yield service.image, service.value_span_of("image"), f"service {service.name!r}", None, service


def _unresolved_image(project: Project, compose: ComposeProject, service: Service) -> bool:
    span = service.value_span_of("image")
    for use in compose.variables:
        if use.span.path != span.path or not (span.line <= use.span.line <= span.end_line):
            continue
        if not use.defined and use.default is None:
            return True
    return False


# --- DA850 -----------------------------------------------------------------------------------


@rule("DA850")
def image_tag_floating(project: Project) -> Iterator[Finding]:
    """A base image (``FROM``) or a compose service image without a tag, or tagged ``latest``.

    Docker then pulls whatever ``latest`` is on the day of the build or deploy: two builds of
    the same commit get different bases, a rebuild can pull a new major version (Python, Node.js,
    Postgres) and break, and the offline cache of an exact tag stops matching. Tags that float
    by design (``alpine``, ``lts``, ``stable``, ``slim``) are reported as a note. Stage names,
    ``scratch`` and references whose variables have no default are skipped; a digest pins.
    """
    seen: set[tuple[Span, str]] = set()
    for image, span, where, stage, _service in _images_of(project):
        name, tag, digest = _split_ref(image)
        if digest or (span, image) in seen or "{" in image or "}" in image:
            continue
        seen.add((span, image))
        if "$" in image:
            continue
        if tag is None or tag == "latest":
            what = "has no tag, so Docker uses :latest" if tag is None else "is tagged :latest"
            subject = f"base image `{image}`" if stage is not None else f"image `{image}` of {where}"
            yield Finding(
                span=span,
                message=(f"{subject} {what}, which moves with every release: builds and deploys of the same "
                         f"commit get different images; pin a version tag (e.g. `{name}:<version>`), or a "
                         "digest"),
                fix=f"{name}:<version> (or {name}:<version>@sha256:<digest>)",
            )
        elif _FLOATING_TAG.match(tag):
            subject = f"base image `{image}`" if stage is not None else f"image `{image}` of {where}"
            variant = tag.split("-", 1)[0] in ("alpine", "slim") or tag.startswith(("lts-", "current-"))
            suffix = tag.split("-", 1)[-1] if tag.startswith(("lts-", "current-")) else tag
            pinned = f"{name}:<version>-{suffix}" if variant else f"{name}:<version>"
            yield Finding(
                span=span,
                message=(f"{subject} uses the floating tag `{tag}`, which points at a new version after each "
                         f"release; pin the version (e.g. `{pinned}`) so rebuilds are repeatable"),
                fix=pinned,
                severity=Severity.NOTE,
            )


# --- DA851 -----------------------------------------------------------------------------------

_DEBIAN_CODENAMES = {"9": "stretch", "10": "buster", "11": "bullseye", "12": "bookworm", "13": "trixie",
                     "14": "forky", "15": "duke"}
_UBUNTU_CODENAMES = {"16.04": "xenial", "18.04": "bionic", "20.04": "focal", "22.04": "jammy",
                     "24.04": "noble"}


def _suggest(image: str, infos: list) -> str | None:
    """A concrete tag to move to, when it can be derived safely."""
    from dockaudit import knowledge

    name, tag, _digest = _split_ref(image)
    if not tag:
        return None
    family = knowledge.image_family(image)
    new = tag
    if family in ("python", "node"):
        # a patch release (3.11.4) does not exist for newer distributions: keep major.minor
        pattern = r"^(\d+\.\d+)\.\d+" if family == "python" else r"^(\d+)[.\d]*"
        new = re.sub(pattern, r"\1", new)
    for info in infos:
        if not info.replacement:
            return None
        if info.product in ("python", "node") and family == info.product:
            new = re.sub(r"^\d+(?:\.\d+)*", info.replacement, new, count=1)
        elif info.product == "debian":
            old_name = _DEBIAN_CODENAMES.get(info.version)
            new_name = _DEBIAN_CODENAMES.get(info.replacement)
            if old_name and new_name and old_name in new:
                new = new.replace(old_name, new_name)
            elif family == "debian" and re.match(r"^\d+", new):
                new = re.sub(r"^\d+(?:\.\d+)*", info.replacement, new, count=1)
            else:
                return None
        elif info.product == "ubuntu":
            if family == "cuda":
                candidate = None
                for version in ("22.04", "24.04"):
                    trial = new.replace(f"ubuntu{info.version}", f"ubuntu{version}")
                    if trial != new and knowledge.cuda_tag_exists(trial):
                        candidate = trial
                if candidate is None:
                    return None
                new = candidate
            elif family == "ubuntu":
                old_name = _UBUNTU_CODENAMES.get(info.version)
                if new.startswith(info.version):
                    new = info.replacement + new[len(info.version):]
                elif old_name and new.startswith(old_name):
                    new = _UBUNTU_CODENAMES.get(info.replacement, info.replacement) + new[len(old_name):]
                else:
                    return None
            else:
                return None
        elif info.product == "alpine":
            if f"alpine{info.version}" in new:
                new = new.replace(f"alpine{info.version}", f"alpine{info.replacement}")
            elif family == "alpine" and new.startswith(info.version):
                new = info.replacement + new[len(info.version):]
            else:
                return None
        else:
            return None
    return f"{name}:{new}" if new != tag else None


@rule("DA851")
def image_end_of_life(project: Project) -> Iterator[Finding]:
    """A base image (``FROM``) or a compose service image pins a runtime or distribution that is
    past its end of life: Python (e.g. 3.9 and older), Node.js (18 and older, odd releases),
    Debian (buster, bullseye), Ubuntu (20.04 and older), Alpine branches.

    No more security fixes, and package repositories (Debian archives, deadsnakes, NodeSource)
    and wheels for the version dry up, so a rebuild may fail or ship known vulnerabilities. The
    dates come from ``rules/knowledge/eol_images.toml`` (with sources); compose build args that
    change the image (``args: {PYTHON_VERSION: "3.9"}``) are followed.
    """
    from dockaudit import knowledge

    today = _dt.date.today()
    by_span: dict[Span, list[tuple[str, str, list]]] = {}
    for image, span, where, _stage, _service in _images_of(project):
        if "$" in image or "{" in image:
            continue
        infos = [i for i in knowledge.eol_statuses(image, today) if i.is_eol]
        if infos and knowledge.image_family(image) == "cuda":
            tag = _split_ref(image)[1] or ""
            if knowledge.cuda_tag_exists(tag) and knowledge.cuda_tag_status(tag) == "eol":
                continue  # NVIDIA lists the tag itself as end of life: DA602 reports it
        if infos:
            by_span.setdefault(span, []).append((image, where, infos))
    for span, items in by_span.items():
        image, where, infos = items[0]
        parts = []
        for info in infos:
            move = f", move to {info.label} {info.replacement}" if info.replacement else ""
            parts.append(f"{info.label} {info.version} reached end of life on {info.eol.isoformat()}{move}")
        suggestion = _suggest(image, infos)
        tail = f" (e.g. `{suggestion}`)" if suggestion else ""
        also = ""
        if len(items) > 1:
            others = ", ".join(f"`{other}`" for other, _w, _i in items[1:])
            also = f" Compose build args make it {others}, also end of life."
        yield Finding(
            span=span,
            message=(f"`{image}` ({where}): {'; '.join(parts)}{tail}. End-of-life images get no security "
                     "fixes "
                     f"and their package sources disappear, so rebuilds start failing.{also}"),
            fix=f"use {suggestion}" if suggestion else "move to a supported version of the image",
        )


# --- DA852 / DA853 ---------------------------------------------------------------------------


@rule("DA852")
def from_platform_constant(project: Project) -> Iterator[Finding]:
    """``FROM --platform=linux/amd64`` (a constant platform) in a Dockerfile.

    The stage is always built for that platform: a multi-platform build is impossible, and on
    an ARM machine (Apple silicon, Graviton) the image is built and run under emulation. Select
    the platform when building (``docker build --platform``, compose ``platform:`` or
    ``build.platforms``), or use ``$BUILDPLATFORM``/``$TARGETPLATFORM``. As in BuildKit, a stage
    whose name contains the OS or architecture (``build_amd64``) is taken as deliberately
    per-platform and not reported.
    """
    for path, document in real_dockerfiles(project):
        for stage in document.stages:
            flag = next((f for f in stage.from_instruction.flags if f.name == "platform"), None)
            if flag is None or not flag.value or "$" in flag.value:
                continue
            parts = flag.value.strip().lower().split("/")
            if len(parts) < 2:
                continue
            os_name, arch = parts[0], parts[1]
            name = (stage.name or "").lower()
            if name and (os_name in name or arch in name):
                continue
            yield Finding(
                span=flag.span,
                message=(f"FROM --platform={flag.value} pins {stage.label} of {path} to one platform: it "
                         "cannot "
                         "be built for another (no multi-platform image), and on ARM machines it builds and "
                         "runs "
                         "under emulation; choose the platform at build time (compose `platform:` or "
                         "`docker build --platform`) instead"),
                fix="remove --platform from FROM and pass --platform (or compose platform:) when building",
            )


@rule("DA853")
def final_stage_on_build_platform(project: Project) -> Iterator[Finding]:
    """The stage an image is made of is built ``FROM --platform=$BUILDPLATFORM``.

    ``$BUILDPLATFORM`` is the machine running the build. It is right for stages that only
    compile or download (cross-compilation), but the final image then has the build machine's
    architecture whatever platform was asked for: an image built on an amd64 CI runner for
    arm64 contains amd64 binaries and fails with "exec format error".
    """
    from dockaudit.link.services import lineage

    seen: set[tuple[str, int]] = set()
    for unit in build_units(project):
        for target in unit.targets:
            root = lineage(target)[-1]
            flag = next((f for f in root.from_instruction.flags if f.name == "platform"), None)
            if flag is None or not flag.value or "BUILDPLATFORM" not in flag.value:
                continue
            key = (unit.dockerfile_path, root.index)
            if key in seen:
                continue
            seen.add(key)
            related = () if root is target else (Related(target.from_instruction.span, "the image's stage"),)
            yield Finding(
                span=flag.span,
                message=(f"{target.label} of {unit.dockerfile_path} is an image's final stage but is built "
                         f"FROM --platform={flag.value}: the image gets the architecture of the machine that "
                         "builds it, not the one requested, so cross-platform builds ship binaries that fail "
                         "with \"exec format error\"; drop --platform here (keep $BUILDPLATFORM for "
                         "build-only "
                         "stages)"),
                related=related,
                fix="FROM <image> (or FROM --platform=$TARGETPLATFORM <image>) for the final stage",
            )


# --- DA854 -----------------------------------------------------------------------------------

_ARCHIVE = re.compile(
    r"(?i)^https?://(?:www\.)?(?:github\.com|gitlab\.com|bitbucket\.org|codeload\.github\.com)/"
    r"(?P<repo>[^/\s]+/[^/\s]+)/(?:-/)?(?:archive|tarball|zipball|zip|tar\.gz|get)/(?P<ref>[^\s#?]+)"
)


def moving_url(url: str) -> str | None:
    """Why a package URL points at moving code (None when it is pinned or not recognised)."""
    text = url.strip()
    if "$" in text:
        return None
    lowered = text.lower()
    if lowered.startswith("git+"):
        rest = text[4:].split("#", 1)[0]
        _scheme, sep, after = rest.partition("://")
        if not sep:
            return None
        _host, _slash, path = after.partition("/")
        if "@" in path:
            ref = path.rsplit("@", 1)[1]
            if ref.lower() in _BRANCHES or ref.startswith("refs/heads/"):
                return f"the branch `{ref}`"
            return None
        return "the repository's default branch (no @<tag or commit>)"
    match = _ARCHIVE.match(text)
    if match:
        ref = match.group("ref")
        ref = re.sub(r"\.(?:zip|tar\.gz|tgz|tar\.bz2|tar)$", "", ref)
        if ref.startswith("refs/tags/"):
            return None
        if ref.startswith("refs/heads/"):
            return f"the branch `{ref[len('refs/heads/'):]}`"
        first = ref.split("/", 1)[0]
        if first.lower() in _BRANCHES:
            return f"the branch `{first}`"
    return None


def _url_of(word: str) -> str | None:
    if "://" not in word:
        return None
    if " @ " in word:
        word = word.split(" @ ", 1)[1]
    if "@" in word and word.split("@", 1)[0].strip().replace("-", "").replace("_", "").isalnum() and \
            not word.lower().startswith(("git+", "http")):
        word = word.split("@", 1)[1].strip()
    return word


@rule("DA854")
def pip_install_moving_url(project: Project) -> Iterator[Finding]:
    """``pip install`` (or ``uv pip install``) of code that moves: a branch archive
    (``.../archive/main.zip``, ``.../archive/refs/heads/master.tar.gz``) or a ``git+`` URL without
    a tag or commit (``git+https://github.com/org/repo`` or ``@main``), in a ``RUN`` or in a
    requirements file a ``RUN`` installs.

    Each build installs whatever the branch holds that day, the layer cache hides the change
    until the cache is cleared, and two builds of one commit differ. Pin a tag or a commit.
    """
    from dockaudit.installs import stage_installs

    managers = ("pip", "uv-pip", "uv", "poetry", "pipenv")
    for _path, document in real_dockerfiles(project):
        for stage in document.stages:
            for install in stage_installs(stage):
                if install.manager not in managers or not install.is_install:
                    continue
                for word in install.packages:
                    url = _url_of(word)
                    if url is None:
                        continue
                    why = moving_url(url)
                    if why is None:
                        continue
                    yield Finding(
                        span=install.instruction.locate(word) if word in install.instruction.line
                        else install.span,
                        message=(f"{install.words[0]} installs `{url}`, which follows {why}: every build "
                                 "gets "
                                 "whatever that branch holds then; pin a tag or commit (`...@v1.2.3` or "
                                 "`.../archive/<commit>.zip`)"),
                        fix="pin the URL to a release tag or a commit hash",
                    )
    for path, requirements in sorted(_installed_requirement_files(project).items()):
        for requirement in requirements.requirements:
            if not requirement.url:
                continue
            why = moving_url(requirement.url)
            if why is None:
                continue
            yield Finding(
                span=requirement.span,
                message=(f"`{requirement.text.strip()}` follows {why}, and a Dockerfile installs {path}: "
                         "every build "
                         "gets whatever that branch holds then; pin a tag or commit"),
                fix="pin the URL to a release tag or a commit hash",
            )


def _installed_requirement_files(project: Project) -> dict[str, object]:
    """Requirements files that a Dockerfile RUN installs (``pip install -r``), found in the build
    context by their path, with their ``-r`` includes."""
    from dockaudit.checks.models import _script_file
    from dockaudit.installs import stage_installs
    from dockaudit.parse.manifests import requirements_closure

    out: dict[str, object] = {}
    for unit in build_units(project):
        for install_stage in unit.dockerfile.stages:
            for install in stage_installs(install_stage):
                for name in install.requirement_files:
                    if "$" in name:
                        continue
                    found = _script_file(project, unit, name, (install_stage, install.instruction))
                    if found is None or found not in project.tree.classified:
                        continue
                    for document in requirements_closure(project, found).files:
                        out[document.path] = document
    return out


# --- DA855 -----------------------------------------------------------------------------------


def _clone_target(args: list[str]) -> tuple[str | None, str | None, str | None]:
    """(url, branch, directory) of ``git clone`` arguments."""
    branch = None
    positional: list[str] = []
    index = 0
    takes_value = {"-b", "--branch", "--depth", "-o", "--origin", "-c", "--config", "--reference",
                   "--separate-git-dir", "-u", "--upload-pack", "--template", "-j", "--jobs",
                   "--shallow-since", "--shallow-exclude", "--filter", "--revision"}
    while index < len(args):
        word = args[index]
        if word in ("-b", "--branch"):
            branch = args[index + 1] if index + 1 < len(args) else None
            index += 2
            continue
        if word.startswith("--branch="):
            branch = word.split("=", 1)[1]
        elif word.startswith("--revision="):
            branch = word.split("=", 1)[1] + "#revision"
        elif word == "--revision":
            branch = (args[index + 1] if index + 1 < len(args) else "") + "#revision"
            index += 2
            continue
        elif word in takes_value:
            index += 2
            continue
        elif not word.startswith("-"):
            positional.append(word)
        index += 1
    url = positional[0] if positional else None
    directory = positional[1] if len(positional) > 1 else None
    return url, branch, directory


def _git_verb(command) -> tuple[str | None, list[str], str | None]:
    """(verb, arguments, -C folder) of a git command."""
    args = list(command.args)
    folder = None
    while args and args[0] in ("-C", "-c") and len(args) > 1:
        if args[0] == "-C":
            folder = args[1]
        args = args[2:]
    if not args:
        return None, [], folder
    return args[0], args[1:], folder


def _pins(command) -> bool:
    """Is this ``git checkout <ref>`` / ``git reset --hard <ref>`` / ``git switch --detach <ref>`` to
    something other than a branch name?"""
    verb, args, _folder = _git_verb(command)
    refs = [a for a in args if not a.startswith("-")]
    if verb in ("checkout", "switch", "reset") and refs:
        ref = refs[0]
        return not (ref.lower() in _BRANCHES or ref.startswith("origin/"))
    return verb == "fetch" and len(refs) >= 2


def _pinned_later(runs: list[tuple[Instruction, list]], run_index: int, command_index: int, directory: str,
                  workdirs: dict[int, str]) -> bool:
    """Is the clone into ``directory`` followed by a checkout of a fixed ref: in the same RUN, or
    in a later RUN that works in that folder (``cd``, ``git -C``, ``WORKDIR``)?"""
    name = posixpath.basename(directory.rstrip("/"))
    for index in range(run_index, len(runs)):
        inst, commands = runs[index]
        start = command_index + 1 if index == run_index else 0
        inside = index == run_index or posixpath.basename(workdirs.get(id(inst), "").rstrip("/")) == name
        for command, _span in commands[start:]:
            if command.name == "cd" and command.args:
                inside = index == run_index or posixpath.basename(command.args[0].rstrip("/")) == name
                continue
            if command.name != "git":
                continue
            _verb, _args, folder = _git_verb(command)
            here = inside or (folder is not None and posixpath.basename(folder.rstrip("/")) == name)
            if here and _pins(command):
                return True
    return False


@rule("DA855")
def git_clone_unpinned(project: Project) -> Iterator[Finding]:
    """``git clone`` in a ``RUN`` without a tag or commit: no ``--branch <tag>`` and no later
    ``git checkout <ref>``/``git reset --hard <ref>`` in the same stage (or ``--branch main``).
    Also ``ADD`` of a git URL without a ``#<tag or commit>``.

    The image gets whatever the default branch holds on the day of the build, and the layer
    cache hides upstream changes until it is cleared: builds are not repeatable and an upstream
    commit can break them without any change on your side.
    """
    from dockaudit.checks.context import commands_of

    for path, document in real_dockerfiles(project):
        for stage in document.stages:
            runs: list[tuple[Instruction, list]] = []
            workdirs: dict[int, str] = {}
            workdir = ""
            for inst in stage.instructions:
                if inst.keyword == "WORKDIR" and inst.value:
                    workdir = inst.value
                elif inst.keyword == "RUN":
                    runs.append((inst, commands_of(inst)))
                    workdirs[id(inst)] = workdir
                elif inst.keyword == "ADD":
                    yield from _git_add(inst, path)
            for run_index, (_inst, commands) in enumerate(runs):
                for index, (command, span) in enumerate(commands):
                    if command.name != "git" or _git_verb(command)[0] != "clone":
                        continue
                    _verb, clone_args, _folder = _git_verb(command)
                    url, branch, directory = _clone_target(clone_args)
                    if url is None or ("://" not in url and not url.startswith("git@")):
                        continue
                    if branch is not None:
                        if "$" in branch or branch.endswith("#revision"):
                            continue
                        if branch.lower() not in _BRANCHES:
                            continue
                    last = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
                    directory = directory or re.sub(r"\.git$", "", last)
                    if _pinned_later(runs, run_index, index, directory, workdirs):
                        continue
                    what = f"the branch `{branch}`" if branch else "the default branch"
                    yield Finding(
                        span=span,
                        message=(f"git clone of {url} takes {what}, so the image gets whatever it holds on "
                                 "the day "
                                 "of the build (and the layer cache hides upstream changes); clone a tag "
                                 "with "
                                 "`--branch <tag>` or check out a commit after cloning"),
                        fix=f"git clone --depth 1 --branch <tag> {url}   (or: git checkout <commit>)",
                    )


def _git_add(inst: Instruction, path: str) -> Iterator[Finding]:
    words = inst.json_args[:-1] if inst.json_args is not None else inst.args[:-1]
    if inst.flag("checksum"):
        return
    for word in words:
        lowered = word.lower()
        remote = lowered.startswith(("https://", "http://", "ssh://", "git://"))
        repo_like = lowered.split("#", 1)[0].endswith(".git") or "#" in lowered
        is_git = lowered.startswith("git@") or (remote and repo_like)
        if not is_git or "$" in word:
            continue
        ref = word.split("#", 1)[1].split(":", 1)[0] if "#" in word else ""
        if ref and ref.lower() not in _BRANCHES and not ref.startswith("refs/heads/"):
            continue
        what = f"the branch `{ref}`" if ref else "the default branch"
        yield Finding(
            span=inst.locate(word),
            message=(f"ADD {word} fetches {what} of a git repository: every build gets what it holds then; "
                     "add "
                     "`#<tag>` or `#<commit>` to the URL (or --checksum)"),
            fix=f"ADD {word.split('#', 1)[0]}#<tag> ...",
        )


# --- DA856 / DA857 ---------------------------------------------------------------------------


def _arg_span(service: Service, name: str) -> Span:
    node = service.node_at("build", "args")
    if node is not None and node.kind == "map" and name in node.value:
        return service.span_of("build", "args", name)
    if node is not None and node.kind == "seq":
        for item in node.value:
            if item.kind == "scalar" and str(item.value).split("=", 1)[0] == name:
                return item.span
    return service.span_of("build", "args")


_CLIENT_VARS = {
    "DOCKER_BUILDKIT": "selects the builder in the docker CLI",
    "COMPOSE_DOCKER_CLI_BUILD": "selects how compose builds",
    "BUILDKIT_PROGRESS": "sets the CLI's progress output",
    "COMPOSE_BAKE": "selects how compose builds",
}


@rule("DA856")
def client_setting_as_build_arg(project: Project) -> Iterator[Finding]:
    """``DOCKER_BUILDKIT`` (or ``COMPOSE_DOCKER_CLI_BUILD``, ``BUILDKIT_PROGRESS``) given as a
    compose build arg or set with ``ARG``/``ENV`` in a Dockerfile.

    These are settings of the client (the ``docker``/``docker compose`` command's environment),
    read before the build starts; inside the build they are ordinary variables and change
    nothing. Compose v2 and Docker 23+ use BuildKit by default anyway.
    """
    for compose in project.compose_projects:
        for service in compose.services.values():
            build = service.build
            if build is None:
                continue
            for name in build.args:
                if name in _CLIENT_VARS:
                    yield Finding(
                        span=_arg_span(service, name),
                        message=(f"build arg {name} of service {service.name!r} does nothing: it "
                                 f"{_CLIENT_VARS[name]} "
                                 "and is read from the shell environment of the command, not from build "
                                 "args; "
                                 "remove it (BuildKit is the default in compose v2)"),
                        fix=f"remove {name} from build.args; if needed, export {name}=1 before running "
                            "compose",
                    )
    for path, document in real_dockerfiles(project):
        for inst in document.instructions:
            if inst.keyword not in ("ARG", "ENV"):
                continue
            for kv in inst.key_values:
                if kv.key in _CLIENT_VARS:
                    yield Finding(
                        span=kv.span,
                        message=(f"{inst.keyword} {kv.key} in {path} does nothing: it "
                                 f"{_CLIENT_VARS[kv.key]} and is "
                                 "read by the docker CLI before the build starts, not inside it; remove it"),
                        fix=f"remove {inst.keyword} {kv.key}",
                    )


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


@rule("DA857")
def inline_cache_unused(project: Project) -> Iterator[Finding]:
    """``BUILDKIT_INLINE_CACHE=1`` is set (compose ``build.args`` or a Dockerfile ``ARG``) but no
    compose ``build.cache_from`` reads a cache from an image.

    Inline cache writes cache metadata into the pushed image so that a later build can use it
    with ``cache_from``; without any ``cache_from`` it only makes the image slightly bigger.
    (A ``--cache-from`` on the command line or in CI would use it: this is a note.)
    """
    uses_cache_from = any(
        service.build is not None and service.build.node is not None and service.build.node.kind == "map"
        and service.build.node.get("cache_from") is not None
        for compose in project.compose_projects for service in compose.services.values()
    )
    if uses_cache_from:
        return
    for compose in project.compose_projects:
        for service in compose.services.values():
            build = service.build
            if build is None or not _truthy(build.args.get("BUILDKIT_INLINE_CACHE")):
                continue
            yield Finding(
                span=_arg_span(service, "BUILDKIT_INLINE_CACHE"),
                message=(f"service {service.name!r} builds with BUILDKIT_INLINE_CACHE=1, but no service sets "
                         "build.cache_from, so the inline cache is written and never read; add "
                         f"`cache_from: [<image>]` (the image this build pushes) or drop the arg"),
                fix="build:\n  cache_from:\n    - <registry>/<image>:<tag>",
            )
    for path, document in real_dockerfiles(project):
        for inst in document.instructions:
            if inst.keyword != "ARG":
                continue
            for kv in inst.key_values:
                if kv.key == "BUILDKIT_INLINE_CACHE" and _truthy(kv.value):
                    yield Finding(
                        span=kv.span,
                        message=(f"ARG BUILDKIT_INLINE_CACHE=1 in {path} writes an inline cache, but no "
                                 "compose "
                                 "service reads one with build.cache_from; add cache_from (or --cache-from "
                                 "in CI) "
                                 "or drop the ARG"),
                        fix="compose: build.cache_from: [<image>]",
                    )


# --- DA858 -----------------------------------------------------------------------------------

_DEV_TOKENS = frozenset({"dev", "development", "local", "override", "debug", "test", "tests", "ci",
                         "example"})
_PROD_TOKENS = frozenset({"prod", "production", "prd", "release", "deploy"})
_DEV_COMMAND = re.compile(r"(?:--reload\b|--debug\b|\bnodemon\b|\bnpm run dev\b|\bnext dev\b|\byarn dev\b|"
                          r"\bpnpm dev\b|\bvite\b(?! build)|\bwatch\b|runserver)")


def _name_tokens(path: str) -> set[str]:
    return {t for t in re.split(r"[._-]+", posixpath.basename(path).lower()) if t}


def _restart_policy(data: dict) -> bool:
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return False
    for body in services.values():
        if isinstance(body, dict) and str(body.get("restart", "")).strip() in ("always", "unless-stopped"):
            return True
        deploy = body.get("deploy") if isinstance(body, dict) else None
        if isinstance(deploy, dict) and isinstance(deploy.get("restart_policy"), dict):
            return True
    return False


def production_reason(project: Project, path: str, service: Service) -> str | None:
    """Why a compose file (where a setting of ``service`` is written) looks like production."""
    tokens = _name_tokens(path)
    if tokens & _DEV_TOKENS:
        return None
    if tokens & _PROD_TOKENS:
        return f"{path} is named for production"
    if any(p.lower() in _PROD_TOKENS for p in service.profiles):
        return f"service {service.name!r} is in a production profile"
    folder = posixpath.dirname(path) or "."
    siblings = [p for p, kind in project.tree.classified.items()
                if kind == "compose" and (posixpath.dirname(p) or ".") == folder]
    if len(siblings) < 2:
        return None
    with_restart = []
    for sibling in siblings:
        document = project.document(sibling, "compose")
        if document is not None and _restart_policy(document.data):
            with_restart.append(sibling)
    if with_restart == [path]:
        return f"{path} is the only compose file here with a restart policy (the deployed one)"
    return None


@rule("DA858")
def code_mounted_in_production(project: Project) -> Iterator[Finding]:
    """A production compose file bind-mounts a source folder over the code its Dockerfile copies
    into the image (``./api:/app/api`` where the Dockerfile has ``COPY api/ /app/api``).

    The image then no longer decides what runs: the server runs whatever is checked out on the
    host, the image cannot be deployed anywhere else (a registry, another server), and a
    rollback to an older image changes nothing. Production means: a file named for it
    (``docker-compose.prod.yml``, ``compose.production.yaml``), a ``prod``/``production``
    profile, or the only compose file of the folder with ``restart: always``/``unless-stopped``.
    Development overlays (``*.dev.yml``, ``compose.override.yml``) are never reported.
    """
    from dockaudit.checks.models import _copied_code_under, runtimes

    for unit in build_units(project):
        view = context_view(project, unit.context)
        for runtime in runtimes(project, unit):
            service = runtime.service
            if service is None:
                continue
            command = service.command if isinstance(service.command, str) else " ".join(service.command or [])
            if _DEV_COMMAND.search(command or ""):
                continue
            for volume in service.volumes:
                if volume.type != "bind" or volume.host_path is None or not volume.target.startswith("/"):
                    continue
                target = posixpath.normpath(volume.target)
                copied = _copied_code_under(project, unit, runtime.stage, target)
                if copied is None:
                    continue
                host = volume.host_path
                host_rel = host[len(view.prefix):] if view.prefix and host.startswith(view.prefix) else host
                if not any(f.endswith((".py", ".js", ".ts", ".mjs", ".cjs", ".go", ".rb", ".php"))
                           for f in (view.files_under(host_rel) if view.is_dir(host_rel) else [host_rel])):
                    continue
                reason = production_reason(project, volume.span.path, service)
                if reason is None:
                    continue
                inst, dest = copied
                yield Finding(
                    span=volume.span,
                    message=(f"service {service.name!r} bind-mounts {volume.source} over {target}, where "
                             "the image "
                             f"has its code ({dest}), and this is a production setup ({reason}): the "
                             "container runs "
                             "the host's checkout instead of the image, so the image cannot be deployed "
                             "elsewhere "
                             "and rolling back the image changes nothing; remove the mount and rebuild to "
                             "deploy"),
                    related=(Related(inst.span, f"the image copies the code to {dest}"),),
                    fix="remove the bind mount from the production compose file; keep it in a dev override",
                )


__all__ = ["moving_url", "production_reason"]

"""Rules about system package installs in RUN: apt (Debian/Ubuntu), apk (Alpine), dnf/yum.

Package lists and caches left in layers, installs that rely on a stale or missing package
index, prompts that abort a non-interactive build, recommended packages nobody asked for,
cache mounts that Debian's ``docker-clean`` hook empties, and compilers left in the runtime
image. Equivalent hadolint checks are named in each rule's catalog entry; like hadolint's
newer versions, these rules know BuildKit cache mounts.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dockaudit.checks.layers import (
    _dockerfiles,
    _runs,
    covers,
    in_devcontainer,
    run_stages,
    shipped_stages,
    state_of,
)
from dockaudit.engine import rule
from dockaudit.findings import Finding, Related, Severity
from dockaudit.installs import Install, Mount, stage_installs
from dockaudit.link.services import lineage
from dockaudit.parse.dockerfile import Instruction, Stage
from dockaudit.shell import Command
from dockaudit.source import Span

if TYPE_CHECKING:
    from dockaudit.project import Project

_APT_PROGRAMS = ("apt-get", "apt", "aptitude")
_LISTS = "/var/lib/apt/lists"


def _apt(install: Install, *actions: str) -> bool:
    return install.manager == "apt" and install.action in actions


def _label(words: list[str]) -> str:
    text = " ".join(words)
    return text if len(text) <= 60 else text[:57] + "..."


def _mount_holds(mounts: list[Mount], path: str) -> Mount | None:
    """A cache or tmpfs mount whose target is ``path`` or a parent of it."""
    for mount in mounts:
        if mount.type in ("cache", "tmpfs") and mount.target and covers(mount.target, path):
            return mount
    return None


def _rm_targets(commands: list[tuple[Command, Span]]) -> list[tuple[str, Span]]:
    out = []
    for command, span in commands:
        if command.name == "rm":
            out.extend((w, span) for w in command.words[1:] if not w.startswith("-"))
        elif command.name == "find" and "-delete" in command.words:
            out.extend((w, span) for w in command.words[1:2])
    return out


def _removes_lists(commands: list[tuple[Command, Span]]) -> bool:
    for word, _span in _rm_targets(commands):
        target = word[:-2] if word.endswith("/*") else word.rstrip("/")
        if target.startswith("/") and (covers(target, _LISTS) or target.startswith(_LISTS)):
            return True
    for command, _span in commands:
        if command.name in ("apt-get", "apt") and command.words[1:2] == ["dist-clean"]:
            return True
    return False


def _distro(stage: Stage) -> str | None:
    """``debian``/``ubuntu``/``alpine``... of the stage's base image, when the knowledge table knows it."""
    from dockaudit.knowledge import base_image_provides

    image = stage.external_image
    if not image or "$" in image:
        return None
    facts = base_image_provides(image)
    return facts.distro if facts is not None else None


# --- DA813 ------------------------------------------------------------------------------------


@rule("DA813")
def apt_lists_not_removed(project: Project) -> Iterator[Finding]:
    """``apt-get update`` in a RUN that does not delete ``/var/lib/apt/lists`` afterwards.

    The package index (tens of MB) stays in the layer; deleting it in a later RUN does not
    shrink the image. Quiet when the lists are a cache or tmpfs mount (``--mount=type=cache,
    target=/var/lib/apt``), and for build stages whose filesystem is not shipped (like
    hadolint, only stages in the final image's lineage are checked).
    """
    for path, document in _dockerfiles(project):
        for stage in shipped_stages(project, path, document):
            for facts in _runs(stage):
                updates = [i for i in facts.installs if _apt(i, "update")]
                if not updates:
                    continue
                if _mount_holds(facts.mounts, _LISTS) is not None:
                    continue
                if _removes_lists(facts.commands):
                    continue
                update = updates[0]
                yield Finding(
                    span=update.span,
                    message=(f"`{_label(update.words)}` downloads the package lists into this layer and the "
                             "RUN never deletes them: they ship in the image (removing them in a later RUN "
                             "does not help)"),
                    fix="End the same RUN with `&& rm -rf /var/lib/apt/lists/*`, or mount the lists as a "
                        "cache: `RUN --mount=type=cache,target=/var/lib/apt,sharing=locked ...`.",
                )


# --- DA814 ------------------------------------------------------------------------------------


def _recommends_off(stage: Stage, before: Instruction) -> bool:
    """Does an earlier RUN of the lineage write ``APT::Install-Recommends "false"`` into apt's config?"""
    order = state_of(stage, before).order
    for member in reversed(lineage(stage)):
        for inst in member.instructions:
            if inst.keyword != "RUN" or state_of(stage, inst).order >= order:
                continue
            text = inst.line + "".join(h.body for h in inst.heredocs)
            if re.search(r"APT::Install-Recommends\s*[\"']?\s*[\"']?(?:0|false)", text, re.IGNORECASE):
                return True
    return False


@rule("DA814")
def apt_no_install_recommends(project: Project) -> Iterator[Finding]:
    """``apt-get install`` without ``--no-install-recommends`` in a shipped stage.

    apt also installs every "recommended" package (documentation tools, X11 libraries, extra
    compilers), often doubling what the image carries. Quiet when recommends are switched off in
    apt's configuration by an earlier RUN, and in build stages that are not shipped.
    """
    for path, document in _dockerfiles(project):
        for stage in shipped_stages(project, path, document):
            for facts in _runs(stage):
                for install in facts.installs:
                    if not _apt(install, "install") or install.words[0].endswith("aptitude"):
                        continue
                    if install.has_option("--no-install-recommends"):
                        continue
                    if any(re.search(r"Install-Recommends[=\s]*[\"']?(?:0|false)", o, re.IGNORECASE)
                           for o in install.options):
                        continue
                    if _recommends_off(stage, facts.inst):
                        continue
                    yield Finding(
                        span=install.span,
                        message=(f"`{_label(install.words)}` also installs every recommended package: add "
                                 "`--no-install-recommends` and name what you need"),
                        fix="`apt-get install -y --no-install-recommends <packages>`; add back explicitly "
                            "any recommended package the app turns out to need.",
                    )


# --- DA815 ------------------------------------------------------------------------------------


def _earlier_updates(stage: Stage, before: Instruction) -> tuple[Instruction | None, bool]:
    """(the last earlier RUN of the lineage that ran ``apt-get update``, whether that RUN (or a
    later one before ``before``) deleted the lists)."""
    order = state_of(stage, before).order
    last: Instruction | None = None
    removed = False
    for member in reversed(lineage(stage)):
        for facts in _runs(member):
            if state_of(stage, facts.inst).order >= order:
                continue
            if any(_apt(i, "update") for i in facts.installs) and _mount_holds(facts.mounts, _LISTS) is None:
                last = facts.inst
                removed = _removes_lists(facts.commands)
            elif last is not None and _removes_lists(facts.commands):
                removed = True
    return last, removed


@rule("DA815")
def apt_install_without_update(project: Project) -> Iterator[Finding]:
    """``apt-get install`` in a RUN that does not run ``apt-get update`` first.

    Official Debian and Ubuntu images ship with empty package lists, so the install fails
    ("Unable to locate package"); when an earlier RUN did the update, this install uses lists
    frozen in that cached layer, and fails once the mirror drops the old versions. Also
    ``apt-get upgrade`` without an update upgrades nothing. Run update and install in the same RUN.
    """
    for _path, document in _dockerfiles(project):
        for stage in document.stages:
            for facts in _runs(stage):
                seen_update = False
                for install in facts.installs:
                    if _apt(install, "update"):
                        seen_update = True
                        continue
                    if seen_update or not _apt(install, "install", "upgrade", "dist-upgrade", "full-upgrade"):
                        continue
                    if install.packages and all(p.startswith(("./", "/")) or p.endswith(".deb")
                                                for p in install.packages):
                        continue  # local .deb files
                    if _mount_holds(facts.mounts, _LISTS) is not None:
                        continue  # lists kept in a cache mount
                    yield _without_update(stage, facts.inst, install)
                    break


def _without_update(stage: Stage, inst: Instruction, install: Install) -> Finding:
    earlier, removed = _earlier_updates(stage, inst)
    fix = "Run the update in the same RUN: `RUN apt-get update && apt-get install -y " \
          "--no-install-recommends " \
          "<packages> && rm -rf /var/lib/apt/lists/*`."
    if earlier is not None and not removed:
        return Finding(
            span=install.span,
            message=(f"`{_label(install.words)}` relies on the package lists of an earlier layer (line "
                     f"{earlier.span.line}): that layer is cached, so later builds install from stale lists "
                     "and fail when the mirror no longer has those versions"),
            related=(Related(earlier.span, "apt-get update runs in this separate RUN"),),
            fix=fix,
            severity=Severity.WARNING,
        )
    if earlier is not None and removed:
        return Finding(
            span=install.span,
            message=(f"`{_label(install.words)}` runs after the package lists were deleted (the update on "
                     f"line {earlier.span.line} is followed by `rm -rf /var/lib/apt/lists/*`): apt cannot "
                     "find any package and the build fails"),
            related=(Related(earlier.span, "the lists are downloaded and removed here"),),
            fix=fix,
            severity=Severity.ERROR,
        )
    distro = _distro(stage)
    if distro in ("debian", "ubuntu"):
        return Finding(
            span=install.span,
            message=(f"`{_label(install.words)}` without `apt-get update` in the same RUN: the "
                     f"`{stage.external_image}` image ships with empty package lists, so apt cannot locate "
                     "the packages and the build fails"),
            fix=fix,
            severity=Severity.ERROR,
        )
    return Finding(
        span=install.span,
        message=(f"`{_label(install.words)}` without `apt-get update` in the same RUN: it depends on "
                 "whatever package lists the base image happens to carry (official Debian/Ubuntu images "
                 "carry none)"),
        fix=fix,
        severity=Severity.WARNING,
    )


# --- DA816 ------------------------------------------------------------------------------------


@rule("DA816")
def apt_dist_upgrade(project: Project) -> Iterator[Finding]:
    """``apt-get dist-upgrade`` / ``full-upgrade`` in a Dockerfile.

    Unlike ``upgrade``, these may remove packages and switch library versions the base image
    and the packages installed after it were built against; the result depends on the day of the
    build and differs between builds of the same Dockerfile. Prefer a newer base image tag
    (rebuild with ``--pull``) or ``apt-get upgrade`` / ``apt-get install --only-upgrade <pkg>``.
    """
    for _path, document in _dockerfiles(project):
        for stage in document.stages:
            for install in stage_installs(stage):
                if _apt(install, "dist-upgrade", "full-upgrade"):
                    yield Finding(
                        span=install.span,
                        message=(f"`{_label(install.words)}` may remove packages and change library "
                                 "versions of the base image, differently on every build day"),
                        fix="Use a newer base image tag (and `docker build --pull`), or `apt-get upgrade "
                            "-y` / `apt-get install -y --only-upgrade <package>` for specific fixes.",
                    )


# --- DA817 ------------------------------------------------------------------------------------

_APT_PROMPTING = frozenset({"install", "upgrade", "dist-upgrade", "full-upgrade", "build-dep", "reinstall"})
_DNF_PROMPTING = frozenset({"install", "groupinstall", "localinstall", "reinstall", "update", "upgrade"})
_YES_OPTIONS = ("-y", "--yes", "--assume-yes", "-qq", "--force-yes", "-q=2", "--quiet=2")


def _says_yes(install: Install) -> bool:
    for option in install.options:
        if option in _YES_OPTIONS:
            return True
        if option.startswith("-") and not option.startswith("--") and "y" in option[1:]:
            return True  # -qy, -yq
        if option.startswith("-") and not option.startswith("--") and option[1:].count("q") >= 2:
            return True
        if re.search(r"APT::Get::Assume-Yes\s*=\s*(?:1|true|yes)", option, re.IGNORECASE):
            return True
        if re.search(r"assumeyes\s*=\s*(?:1|true|yes)", option, re.IGNORECASE):
            return True
    return sum(1 for o in install.options if o in ("-q", "--quiet")) >= 2


def _piped_yes(commands: list[tuple[Command, Span]]) -> bool:
    """``yes | apt-get install ...``."""
    return any(command.name == "yes" for command, _span in commands)


@rule("DA817")
def install_without_yes(project: Project) -> Iterator[Finding]:
    """``apt-get install`` / ``dnf install`` / ``yum install`` without ``-y``.

    A build has no terminal: when the package manager asks "Do you want to continue? [Y/n]" (any
    time it installs more than the named packages) it reads end-of-file and aborts, and the build
    fails. ``apt-get -qq`` implies ``-y``; ``DEBIAN_FRONTEND=noninteractive`` does not.
    """
    for _path, document in _dockerfiles(project):
        for stage in document.stages:
            for facts in _runs(stage):
                for install in facts.installs:
                    manager = install.manager
                    if manager == "apt":
                        if install.action not in _APT_PROMPTING:
                            continue
                        if install.words and posixpath.basename(install.words[0]) == "aptitude":
                            continue
                    elif manager in ("dnf", "yum"):
                        if install.action not in _DNF_PROMPTING:
                            continue
                    else:
                        continue
                    if _says_yes(install) or _piped_yes(facts.commands):
                        continue
                    env = {**state_of(stage, facts.inst).env, **install.assignments}
                    if manager in ("dnf", "yum") and install.words[0].endswith("microdnf"):
                        continue  # microdnf never asks
                    if manager == "apt" and re.search(r"Assume-Yes", env.get("APT_CONFIG", "") or ""):
                        continue
                    tool = posixpath.basename(install.words[0])
                    yield Finding(
                        span=install.span,
                        message=(f"`{_label(install.words)}` without `-y`: when {tool} asks for "
                                 "confirmation the build has no terminal to answer, so it aborts"),
                        fix=f"Add `-y`: `{tool} {install.action} -y ...`.",
                    )


# --- DA818 ------------------------------------------------------------------------------------


@rule("DA818")
def apk_no_cache(project: Project) -> Iterator[Finding]:
    """``apk add`` without ``--no-cache`` in a shipped stage.

    ``apk update`` / ``apk add --update`` store the package index under ``/var/cache/apk`` in
    the layer. ``apk add --no-cache`` fetches the index on the fly and keeps nothing. Quiet with a
    cache mount on ``/var/cache/apk`` or an ``rm -rf /var/cache/apk/*`` in the same RUN.
    """
    for path, document in _dockerfiles(project):
        for stage in shipped_stages(project, path, document):
            for facts in _runs(stage):
                for install in facts.installs:
                    if install.manager != "apk" or install.action != "add":
                        continue
                    if install.has_option("--no-cache", "--no-network"):
                        continue
                    if _mount_holds(facts.mounts, "/var/cache/apk") is not None:
                        continue
                    if any(covers(w.rstrip("*").rstrip("/") or "/", "/var/cache/apk")
                           or w.startswith("/var/cache/apk")
                           for w, _s in _rm_targets(facts.commands) if w.startswith("/")):
                        continue
                    if any(c.name == "apk" and c.words[1:3] in (["cache", "clean"], ["cache", "purge"])
                           for c, _s in facts.commands):
                        continue
                    yield Finding(
                        span=install.span,
                        message=(f"`{_label(install.words)}` without `--no-cache`: the package index apk "
                                 "downloads stays in /var/cache/apk in this layer"),
                        fix="Use `apk add --no-cache <packages>` (it replaces `apk update` / `--update` "
                            "and the `rm -rf /var/cache/apk/*` cleanup).",
                    )


# --- DA819 ------------------------------------------------------------------------------------


def _keeps_debs(stage: Stage, before: Instruction) -> bool:
    """Has an earlier (or this) RUN removed ``/etc/apt/apt.conf.d/docker-clean``?"""
    order = state_of(stage, before).order
    for member in reversed(lineage(stage)):
        for facts in _runs(member):
            if state_of(stage, facts.inst).order > order:
                continue
            for command, _span in facts.commands:
                if command.name in ("rm", "mv", "unlink", "truncate", "sed") \
                        and any("docker-clean" in w for w in command.words[1:]):
                    return True
    return False


@rule("DA819")
def apt_cache_mount_docker_clean(project: Project) -> Iterator[Finding]:
    """A cache mount on ``/var/cache/apt`` that Debian/Ubuntu's ``docker-clean`` hook keeps empty.

    Official Debian and Ubuntu images ship ``/etc/apt/apt.conf.d/docker-clean``, which deletes
    every downloaded ``.deb`` after each install and update. With it in place, a
    ``--mount=type=cache,target=/var/cache/apt`` never holds anything: each build downloads
    every package again. Docker's own example removes the hook first (and, for the ``apt``
    command, sets ``Binary::apt::APT::Keep-Downloaded-Packages "true"``). Only reported for base
    images known to be Debian or Ubuntu.
    """
    for _path, document in _dockerfiles(project):
        for stage in document.stages:
            for facts in _runs(stage):
                mount = _mount_holds(facts.mounts, "/var/cache/apt/archives")
                if mount is None or mount.type != "cache":
                    continue
                installs = [i for i in facts.installs if _apt(i, "install", "upgrade", "dist-upgrade",
                                                             "full-upgrade", "build-dep", "reinstall")]
                if not installs:
                    continue
                if _distro(stage) not in ("debian", "ubuntu"):
                    continue
                if _keeps_debs(stage, facts.inst):
                    continue
                uses_apt = any(posixpath.basename(i.words[0]) == "apt" for i in installs)
                keep = ("; echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > "
                        "/etc/apt/apt.conf.d/keep-cache") if uses_apt else ""
                yield Finding(
                    span=mount.span,
                    message=(f"the cache mount at {mount.target} stays empty: `{stage.external_image}` "
                             "ships /etc/apt/apt.conf.d/docker-clean, which deletes every downloaded .deb "
                             "after the install, so each build downloads all packages again"),
                    related=(Related(installs[0].span, "the install whose packages are deleted"),),
                    fix="Remove the hook in an earlier RUN: `RUN rm -f "
                        f"/etc/apt/apt.conf.d/docker-clean{keep}` (Docker's RUN --mount example does this), "
                        "and use `sharing=locked` on both apt mounts.",
                )


# --- DA820 ------------------------------------------------------------------------------------

_TOOLCHAIN_APT = re.compile(r"^(?:build-essential|gcc(?:-\d+)?|g\+\+(?:-\d+)?|clang(?:-\d+)?|cmake|"
                            r"python[\d.]*-dev|lib[\w.+-]+-dev|[\w.+-]+-dev|gfortran(?:-\d+)?|cargo|rustc)$")
_TOOLCHAIN_APK = re.compile(r"^(?:build-base|gcc|g\+\+|clang\d*|cmake|musl-dev|linux-headers|python3-dev|"
                            r"[\w.+-]+-dev|gfortran|cargo|rust)$")
_TOOLCHAIN_DNF = re.compile(r"^(?:gcc|gcc-c\+\+|clang|cmake|make|[\w.+-]+-devel|python3[\d.]*-devel|"
                            r"@development-tools|@\"?Development Tools\"?)$")
_PYTHON_DEV = re.compile(r"^(?:lib)?python[\d.]*-dev(?:el)?$")
_DEVEL_IMAGE = re.compile(r"(?:[:\-_]devel\b|/dev-|:dev\b|-dev(?:el)?-|buildpack-deps)")
_COMPILERS = re.compile(r"^(?:build-essential|build-base|gcc(?:-\d+)?|gcc-c\+\+|g\+\+(?:-\d+)?|"
                        r"clang(?:-\d+)?|"
                        r"gfortran(?:-\d+)?|cargo|rustc|rust|cmake)$")
_NON_TOOLCHAIN = frozenset({"libc-dev-bin"})
_DEV_STAGE = re.compile(r"(?:^|[-_.])(?:dev|devel|develop|development|build|builder|ci|test|tests|debug)"
                        r"(?:$|[-_.])")


def _toolchain(install: Install) -> list[str]:
    pattern = {"apt": _TOOLCHAIN_APT, "apk": _TOOLCHAIN_APK, "dnf": _TOOLCHAIN_DNF, "yum": _TOOLCHAIN_DNF,
               "microdnf": _TOOLCHAIN_DNF}.get(install.manager)
    if pattern is None or not install.is_install:
        return []
    out = []
    for package in install.packages:
        name = re.split(r"[=<>~]", package, maxsplit=1)[0]
        if name in _NON_TOOLCHAIN or "$" in name:
            continue
        if pattern.match(name):
            out.append(name)
    return out


def _purged(stage: Stage, install: Install, packages: list[str]) -> bool:
    """Is the toolchain removed again later in the stage (purge/remove, ``apk del`` of the virtual)?"""
    order = state_of(stage, install.instruction).order
    virtual = install.option_value("-t", "--virtual")
    for other in stage_installs(stage):
        if state_of(stage, other.instruction).order < order:
            continue
        if other is install:
            continue
        if other.manager == "apt" and other.action in ("purge", "remove", "autoremove"):
            if any("$" in p for p in other.packages) or set(other.packages) & set(packages):
                return True
            if other.action == "autoremove" or other.has_option("--auto-remove", "--autoremove"):
                return True  # the `apt-mark auto` + `purge --auto-remove` pattern of the official images
        removes = set(other.packages) & set(packages) or any("$" in p for p in other.packages)
        if other.manager == "apk" and other.action == "del" \
                and (removes or (virtual and virtual in other.packages)):
            return True
        if other.manager in ("dnf", "yum", "microdnf") and other.action in ("remove", "erase", "autoremove") \
                and removes:
            return True
    return False


def _runs_service(project: Project, path: str, stage: Stage) -> bool:
    """Is the stage the image of a long-running service (a compose service, or a start command
    that is not a one-shot tool), rather than a base or toolchain image?"""
    from dockaudit.checks.layers import _effective_words, is_one_shot, links_for

    links = [link for link in links_for(project, path) if link.stage is stage]
    candidates = links or [None]
    for link in candidates:
        words = _effective_words(stage, link)
        if words and not is_one_shot(words):
            return True
    return False


@rule("DA820")
def build_toolchain_in_runtime(project: Project) -> Iterator[Finding]:
    """The runtime stage itself installs compilers and ``-dev`` headers and never removes them.

    ``build-essential``, ``gcc``, ``g++``, ``cmake``, ``python3-dev`` and ``lib*-dev`` are needed
    to build wheels or native modules, not to run them: in the runtime image they add hundreds
    of MB and tools an attacker can use. A builder stage can hold them, with only the result
    (a virtualenv, ``node_modules``) copied into the runtime stage. Heuristic: reported only when
    the stage that containers run installs them itself (not a stage it is built from) and no
    later purge removes them; stages named like dev/build/ci/test are skipped, and base images that
    already carry a compiler are left alone. Some apps compile at run time (Triton kernels,
    ``torch.compile``, numba): keep the compiler then and suppress the finding.
    """
    from dockaudit.knowledge import base_image_provides

    for path, document in _dockerfiles(project):
        if in_devcontainer(path):
            continue
        for stage in run_stages(project, path, document):
            if stage.name and _DEV_STAGE.search(stage.name.lower()):
                continue
            image = stage.external_image
            facts = base_image_provides(image) if image and "$" not in image else None
            if facts is not None and facts.has("gcc"):
                continue
            if image and _DEVEL_IMAGE.search(image):
                continue  # a devel base image is a build environment already
            if not _runs_service(project, path, stage):
                continue
            for install in stage_installs(stage):
                packages = _toolchain(install)
                if not any(_COMPILERS.match(p) or _PYTHON_DEV.match(p) for p in packages):
                    continue  # -dev libraries alone are often installed for their runtime library
                if _purged(stage, install, packages):
                    continue
                builders = [s for s in document.stages if s is not stage and s not in lineage(stage)]
                shown = ", ".join(packages[:6]) + (" ..." if len(packages) > 6 else "")
                hint = (f"move them to a builder stage (this Dockerfile already has {builders[0].label})"
                        if builders else "build in a separate stage")
                yield Finding(
                    span=install.span,
                    message=(f"the runtime image ({stage.label}) installs build tools ({shown}) and never "
                             f"removes them: {hint} and copy only the result into the runtime stage"),
                    fix="Install the toolchain in a builder stage (`FROM python:3.12-slim AS build` ... "
                        "`pip install --prefix=/install` or a venv), then `COPY --from=build /install "
                        "/usr/local`; or purge it in the same RUN (`apt-get purge -y --auto-remove gcc "
                        "...`). Runtime libraries (e.g. libpq5 instead of libpq-dev) stay.",
                )
                break

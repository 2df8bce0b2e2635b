"""Typed queries over the knowledge tables in ``rules/knowledge/*.toml``.

The tables hold facts that rules need and that change with upstream releases: published
``nvidia/cuda`` tags and their support status, the minimum NVIDIA driver of each CUDA toolkit,
GPU compute capabilities, PyTorch wheel variants and their architecture lists, the system
packages that Python/npm packages need, what common base images ship, and end-of-life dates.
Every row carries its source; each table's ``[meta]`` says when it was checked.

Nothing is read at import time: each table is loaded (through :func:`dockaudit.catalog.load_table`)
and indexed the first time a query needs it, then cached.

Conventions for rule authors:

* A query that cannot answer returns ``None`` (or ``"unknown"``), never guesses, never raises on
  odd input. Rules must stay quiet when the answer is ``None``.
* Versions are strings in and out (``"12.1.1"``, ``"525.105.17"``); :func:`cuda_version_of_tag`
  returns a :class:`packaging.version.Version`.
* Compute capabilities are ``(major, minor)`` tuples; :func:`parse_compute_capability` accepts
  ``"6.1"``, ``"sm_61"``, ``"61"`` and tuples.

Which driver number a CUDA rule should use: :func:`driver_supports` defaults to ``mode="runtime"``,
the check nvidia-container-cli makes for an image's ``NVIDIA_REQUIRE_CUDA="cuda>=X.Y ..."``: the
driver must report CUDA X.Y or newer, i.e. be at least the GA driver of X.Y in NVIDIA's release
notes (Table 3). CUDA 12.1 therefore needs 530.30.02, and 525.105.17 (CUDA 12.0) fails, as the
review report says. The image's extra ``brand=...,driver>=B,driver<B+1`` clauses only let the
container start for forward compatibility on data-centre GPUs (:func:`cuda_image_requirement`);
minor-version compatibility (``mode="minor_compat"``) applies to binaries such as PyTorch wheels,
not to the image check.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import difflib
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, Literal

from packaging.version import InvalidVersion, Version

from dockaudit.catalog import load_table

__all__ = [
    "BaseImageProfile",
    "CudaImageRequirement",
    "CudaTag",
    "CudaToolkitDriver",
    "DriverBranch",
    "EolInfo",
    "GpuInfo",
    "ImageFacts",
    "ImageRef",
    "PackageInfo",
    "SysReq",
    "arch_name",
    "base_image_provides",
    "cuda_image_flavour",
    "cuda_image_requirement",
    "cuda_supports_arch",
    "cuda_tag_exists",
    "cuda_tag_info",
    "cuda_tag_status",
    "cuda_toolkit_driver",
    "cuda_version_of_tag",
    "debian_package_name",
    "driver_branch",
    "driver_supports",
    "eol_status",
    "eol_statuses",
    "gpu_info",
    "image_family",
    "iter_nearest_cuda_tags",
    "min_driver_for_cuda",
    "nearest_cuda_tags",
    "newest_cuda_for_driver",
    "parse_compute_capability",
    "parse_image",
    "system_package_info",
    "system_requirements",
    "torch_default_cuda",
    "torch_index_url",
    "torch_variant_for_gpu",
    "torch_variant_from_index_url",
    "torch_variants",
    "torch_wheel_archs",
    "torch_wheel_supports",
]

CC = tuple[int, int]
TagStatus = Literal["supported", "eol", "unknown"]
DriverMode = Literal["runtime", "toolkit", "minor_compat"]


# --------------------------------------------------------------------------------------------
# Small parsing helpers


def _version(text: str | None) -> Version | None:
    if not text:
        return None
    try:
        return Version(str(text).strip())
    except InvalidVersion:
        return None


def _release(text: str | None) -> tuple[int, ...] | None:
    """``"12.1.1"`` -> ``(12, 1, 1)``; a leading ``v`` and a local ``+...`` part are ignored."""
    if text is None:
        return None
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text))
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split("."))


def _driver_tuple(driver: str | None) -> tuple[int, ...] | None:
    if driver is None:
        return None
    text = str(driver).strip()
    if not re.fullmatch(r"\d+(?:\.\d+){0,2}", text):
        return None
    return tuple(int(x) for x in text.split("."))


def _driver_at_least(driver: tuple[int, ...], minimum: tuple[int, ...]) -> bool:
    """Compare drivers; a driver given with fewer components ("530") is compared on those only."""
    return driver >= minimum[: len(driver)]


def _parse_date(text: str | None, *, end: bool) -> _dt.date | None:
    """``"2026-10-31"`` -> that day; ``"2026-10"`` -> the month's last day (``end``) or first day."""
    if not text:
        return None
    text = str(text)
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", text)
    if not m:
        return None
    year, month = int(m.group(1)), int(m.group(2))
    if m.group(3):
        return _dt.date(year, month, int(m.group(3)))
    day = calendar.monthrange(year, month)[1] if end else 1
    return _dt.date(year, month, day)


# --------------------------------------------------------------------------------------------
# Image references


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: ``[registry/]repository[:tag][@digest]``.

    ``repository`` is in canonical form (``library/python`` for Docker Hub official images);
    :attr:`name` is the short form people write (``python``, ``nvidia/cuda``,
    ``ghcr.io/astral-sh/uv``).
    """

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        if self.registry == "docker.io":
            if self.repository.startswith("library/"):
                return self.repository[len("library/") :]
            return self.repository
        return f"{self.registry}/{self.repository}"

    @property
    def has_variables(self) -> bool:
        """True when the reference still contains ``$VAR`` / ``${VAR}`` (unresolved ARG)."""
        return "$" in self.repository or "$" in (self.tag or "") or "$" in self.registry


def parse_image(ref: str) -> ImageRef:
    """Split an image reference as Docker does (default registry docker.io, default tag latest).

    ``python:3.12-slim`` -> ``ImageRef("docker.io", "library/python", "3.12-slim", None)``.
    Never raises; an odd string gives a best-effort split.
    """
    text = (ref or "").strip()
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        digest = digest or None
    registry = "docker.io"
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, text = first.lower(), rest
    if registry in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        registry = "docker.io"
    tag = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :] or None
    repository = text.lower()
    if registry == "docker.io" and repository and "/" not in repository:
        repository = "library/" + repository
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(registry=registry, repository=repository, tag=tag, digest=digest)


_FAMILIES: dict[str, str] = {
    "python": "python",
    "node": "node",
    "nvidia/cuda": "cuda",
    "nvcr.io/nvidia/cuda": "cuda",
    "ubuntu": "ubuntu",
    "debian": "debian",
    "alpine": "alpine",
    "nginx": "nginx",
    "nginxinc/nginx-unprivileged": "nginx",
    "ghcr.io/astral-sh/uv": "uv",
    "astral/uv": "uv",
    "pytorch/pytorch": "pytorch",
    "busybox": "busybox",
    "scratch": "scratch",
    "buildpack-deps": "buildpack-deps",
}


def image_family(ref: str) -> str:
    """The family an image belongs to: ``python``, ``node``, ``cuda``, ``ubuntu``, ``debian``,
    ``alpine``, ``nginx``, ``uv``, ``pytorch``, ``distroless``, ``busybox``, ``scratch``,
    ``buildpack-deps``; any other image gives its short name (``postgres``, ``ghcr.io/x/y``)."""
    name = parse_image(ref).name
    if name in _FAMILIES:
        return _FAMILIES[name]
    if name.startswith("gcr.io/distroless/"):
        return "distroless"
    return name


# --------------------------------------------------------------------------------------------
# nvidia/cuda tags


_CUDA_TAG_RE = re.compile(
    r"(?P<version>\d+\.\d+(?:\.\d+)?)-(?:(?P<extra>cudnn\d*|tensorrt)-)?"
    r"(?P<flavour>base|runtime|devel)-(?P<os>[a-z]+)(?P<os_version>\d+(?:\.\d+)?)"
)
_CUDA_REPOS = {"nvidia/cuda", "nvcr.io/nvidia/cuda"}


@dataclass(frozen=True)
class CudaTag:
    """The parts of an ``nvidia/cuda`` tag. ``extra`` is ``cudnn8``/``cudnn9``/``cudnn``/
    ``tensorrt`` or None; ``exists``/``status`` say whether NVIDIA published it."""

    tag: str
    version: str
    extra: str | None
    flavour: str
    os: str
    os_version: str
    exists: bool
    status: TagStatus

    @property
    def has_cudnn(self) -> bool:
        return bool(self.extra and self.extra.startswith("cudnn"))


@dataclass(frozen=True)
class _CudaIndex:
    status: dict[str, str]  # tag -> "supported" | "eol"
    by_version: dict[str, tuple[str, ...]]
    meta: dict[str, Any]


@cache
def _cuda_index() -> _CudaIndex:
    table = load_table("cuda_tags")
    status: dict[str, str] = {}
    by_version: dict[str, tuple[str, ...]] = {}
    for rel in table.get("release", ()):
        version = rel["version"]
        state = "eol" if "unsupported" in rel.get("lists", ()) else "supported"
        tags = []
        for group in rel.get("group", ()):
            for variant in group["variants"]:
                for os_name in group["os"]:
                    tag = f"{version}-{variant}-{os_name}"
                    status[tag] = state
                    tags.append(tag)
        by_version[version] = tuple(tags)
    return _CudaIndex(status=status, by_version=by_version, meta=dict(table.get("meta", {})))


def _cuda_tag_text(tag: str) -> str:
    """Accept a bare tag or a full ``nvidia/cuda:TAG`` reference."""
    text = (tag or "").strip()
    if "/" in text or text.startswith("nvidia"):
        ref = parse_image(text)
        if ref.name in _CUDA_REPOS and ref.tag:
            return ref.tag
    return text


def cuda_tag_info(tag: str) -> CudaTag | None:
    """Parse a tag of the ``<X.Y.Z>-[cudnnN-]{base|runtime|devel}-<os><ver>`` form (published
    or not); None if it does not have that form."""
    text = _cuda_tag_text(tag)
    m = _CUDA_TAG_RE.fullmatch(text)
    if not m:
        return None
    return CudaTag(
        tag=text,
        version=m["version"],
        extra=m["extra"],
        flavour=m["flavour"],
        os=m["os"],
        os_version=m["os_version"],
        exists=cuda_tag_exists(text),
        status=cuda_tag_status(text),
    )


def cuda_tag_exists(tag: str) -> bool:
    """True if NVIDIA published this ``nvidia/cuda`` tag (supported or unsupported list)."""
    return _cuda_tag_text(tag) in _cuda_index().status


def cuda_tag_status(tag: str) -> TagStatus:
    """``"supported"``, ``"eol"`` (in NVIDIA's unsupported list; deleted from Docker Hub six
    months after EOL) or ``"unknown"`` (not a published tag)."""
    return _cuda_index().status.get(_cuda_tag_text(tag), "unknown")  # type: ignore[return-value]


def cuda_version_of_tag(tag: str) -> Version | None:
    """The CUDA version a tag names (also for tags that were never published)."""
    text = _cuda_tag_text(tag)
    m = re.match(r"(\d+\.\d+(?:\.\d+)?)(?:-|$)", text)
    return _version(m.group(1)) if m else None


def cuda_image_flavour(tag: str) -> str | None:
    """``"base"``, ``"runtime"`` or ``"devel"`` (None if the tag has no flavour part)."""
    info = cuda_tag_info(tag)
    if info:
        return info.flavour
    m = re.search(r"(?:^|-)(base|runtime|devel)(?:-|$)", _cuda_tag_text(tag))
    return m.group(1) if m else None


@cache
def _parsed_cuda_tags() -> tuple[tuple[str, str, tuple[int, ...], Mapping[str, str | None]], ...]:
    out = []
    for tag, state in _cuda_index().status.items():
        m = _CUDA_TAG_RE.fullmatch(tag)
        if m:
            out.append((tag, state, _release(m["version"]) or (), m.groupdict()))
    return tuple(out)


@cache
def _cuda_tag_features() -> tuple[tuple[Any, ...], ...]:
    """Per published tag, the parts :func:`nearest_cuda_tags` weighs, computed once: tag, EOL?,
    release, extra, has cuDNN?, TensorRT?, flavour, OS, OS version and that version as a float."""
    out = []
    for tag, state, version, parts in _parsed_cuda_tags():
        extra = parts["extra"]
        out.append(
            (
                tag,
                state == "eol",
                version,
                extra,
                bool(extra and extra.startswith("cudnn")),
                extra == "tensorrt",
                parts["flavour"],
                parts["os"],
                parts["os_version"],
                float(parts["os_version"] or 0),
            )
        )
    return tuple(out)


def _version_distance(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    a3 = (*a, 0, 0, 0)[:3]
    b3 = (*b, 0, 0, 0)[:3]
    if a3 == b3:
        return 0.0
    if a3[:2] == b3[:2]:
        return 2.0 + 0.1 * abs(a3[2] - b3[2])
    if a3[0] == b3[0]:
        return 4.0 + 0.5 * abs(a3[1] - b3[1])
    return 10.0 + abs(a3[0] - b3[0])


def nearest_cuda_tags(tag: str, n: int = 3) -> list[str]:
    """The ``n`` published tags closest to ``tag`` (best first), for "did you mean" messages.

    Closeness weighs, in order of cost: the CUDA version, keeping or dropping cuDNN, the OS and
    its version, the flavour; supported tags win ties over EOL ones.
    ``12.1.1-cudnn-runtime-ubuntu22.04`` -> ``12.1.1-cudnn8-runtime-ubuntu22.04`` first.
    """
    if n <= 0:
        return []
    return list(_nearest_cuda_tags(_cuda_tag_text(tag), n))


@lru_cache(maxsize=512)
def _nearest_cuda_tags(text: str, n: int) -> tuple[str, ...]:
    """:func:`nearest_cuda_tags` of a bare tag, memoised (a project names the same tags often)."""
    return tuple(itertools.islice(iter_nearest_cuda_tags(text), n))


def iter_nearest_cuda_tags(tag: str) -> Iterator[str]:
    """The published tags by closeness to ``tag`` (see :func:`nearest_cuda_tags`), best first.

    Lazy: a caller that stops at the first tag that suits it pays for the string similarity
    of only the candidates it looked at.
    """
    text = _cuda_tag_text(tag)
    index = _cuda_index()
    if text in index.status:
        yield text
        return
    if not _CUDA_TAG_RE.fullmatch(text):
        yield from difflib.get_close_matches(text, list(index.status), n=25, cutoff=0.5)
        return
    costs = _cuda_tag_costs(text)
    # string similarity only breaks ties (the ranking is by (cost, -similarity, tag)): a tag whose
    # cost no other tag shares needs none, and a group of equal cost is ranked when it is reached
    matcher = difflib.SequenceMatcher(None, text, "")
    start = 0
    while start < len(costs):
        cost = costs[start][0]
        end = start + 1
        while end < len(costs) and costs[end][0] == cost:
            end += 1
        if end - start == 1:
            yield costs[start][1]
        else:
            ranked = []
            for _, candidate in costs[start:end]:
                matcher.set_seq2(candidate)
                ranked.append((-matcher.ratio(), candidate))
            ranked.sort()
            for _, candidate in ranked:
                yield candidate
        start = end


@lru_cache(maxsize=64)
def _cuda_tag_costs(text: str) -> list[tuple[float, str]]:
    """(cost, tag) of every published tag against the well-formed tag ``text``, cheapest first."""
    wanted = _CUDA_TAG_RE.fullmatch(text)
    assert wanted is not None
    want_version = _release(wanted["version"]) or ()
    want_extra, want_flavour, want_os = wanted["extra"], wanted["flavour"], wanted["os"]
    want_os_version = wanted["os_version"]
    want_os_float = float(want_os_version)
    want_cudnn = bool(want_extra and want_extra.startswith("cudnn"))
    want_trt = want_extra == "tensorrt"
    distances: dict[tuple[int, ...], float] = {}
    costs: list[tuple[float, str]] = []
    for (
        candidate,
        eol,
        version,
        extra,
        has_cudnn,
        trt,
        flavour,
        os_name,
        os_version,
        os_float,
    ) in _cuda_tag_features():
        cost = distances.get(version)
        if cost is None:
            cost = distances[version] = _version_distance(want_version, version)
        # the same additions in the same order as ever, so that ties stay ties
        if has_cudnn != want_cudnn or trt != want_trt:
            cost += 3.0
        elif extra != want_extra:
            cost += 0.5
        if flavour != want_flavour:
            cost += 1.5 if {flavour, want_flavour} == {"runtime", "devel"} else 2.0
        if os_name != want_os:
            cost += 4.0
        elif os_version != want_os_version:
            cost += 1.5 + 0.05 * abs(os_float - want_os_float)
        if eol:
            cost += 0.25
        costs.append((cost, candidate))
    costs.sort()
    return costs


@dataclass(frozen=True)
class _ToolkitRow:
    version: tuple[int, int, int]
    label: str
    min_driver: str


@cache
def _driver_rows() -> tuple[_ToolkitRow, ...]:
    rows = []
    for row in load_table("cuda_drivers").get("toolkit", ()):
        major, minor, patch = (*(_release(row["version"]) or ()), 0, 0, 0)[:3]
        rows.append(_ToolkitRow((major, minor, patch), row["label"], row["min_driver"]))
    return tuple(sorted(rows, key=lambda r: r.version))


def _toolkit_row(cuda: str, *, ga: bool) -> tuple[_ToolkitRow, bool] | None:
    """The Table 3 row for ``cuda`` and whether it had to be derived from a neighbour."""
    rel = _release(cuda)
    if not rel or len(rel) < 2:
        return None
    minor_rows = [r for r in _driver_rows() if r.version[:2] == rel[:2]]
    if not minor_rows:
        return None
    if ga or len(rel) == 2:
        return minor_rows[0], False
    patch = rel[2]
    for row in minor_rows:
        if row.version[2] == patch:
            return row, False
    lower = [r for r in minor_rows if r.version[2] < patch]
    if lower:
        return lower[-1], True
    return minor_rows[0], True


@dataclass(frozen=True)
class CudaToolkitDriver:
    """The Table 3 row used for a CUDA version: ``derived`` is True when the version itself is
    not in the table (12.3.2) and a neighbouring row of the same minor was taken."""

    version: str
    label: str
    min_driver: str
    derived: bool


def cuda_toolkit_driver(version: str) -> CudaToolkitDriver | None:
    """The release-notes row behind :func:`min_driver_for_cuda`, with its label for messages
    (``"CUDA 12.1 Update 1"``)."""
    found = _toolkit_row(version, ga=False)
    if found is None:
        return None
    row, derived = found
    return CudaToolkitDriver(".".join(str(x) for x in row.version), row.label, row.min_driver, derived)


def min_driver_for_cuda(version: str) -> str | None:
    """Minimum Linux x86_64 driver for a CUDA toolkit (NVIDIA release notes, Table 3).

    ``"12.1"`` and ``"12.1.1"`` -> ``"530.30.02"``; a bare ``X.Y`` means the GA release. A patch
    release the table does not list (12.3.2) takes the nearest lower listed row of its minor.
    None for unknown versions.
    """
    found = _toolkit_row(version, ga=False)
    return found[0].min_driver if found else None


def _minor_compat_min(major: int) -> tuple[int, ...] | None:
    for row in load_table("cuda_drivers").get("minor_compat", ()):
        if row["major"] == major:
            return _driver_tuple(row["min_driver"])
    return None


def driver_supports(driver: str, cuda: str, mode: DriverMode = "runtime") -> bool | None:
    """Whether a host driver can run CUDA ``cuda`` code.

    * ``"runtime"`` (default; what rules about ``nvidia/cuda`` images should use): the driver's
      CUDA version must be >= the image's major.minor, i.e. driver >= the GA driver of that
      minor. ``driver_supports("525.105.17", "12.1")`` is False (needs 530.30.02).
    * ``"toolkit"``: driver >= the exact Table 3 row of ``cuda`` (e.g. 12.6.3 -> 560.35.05).
    * ``"minor_compat"``: also accept drivers in the major's minor-version-compatibility range
      (Table 2: 12.x on >= 525, 11.x on >= 450.80.02, 13.x on >= 580) - true for binaries built
      with a newer minor (PyTorch cu12x wheels), with NVIDIA's stated limits, not for the image's
      ``NVIDIA_REQUIRE_CUDA`` check.

    A driver given as a bare branch (``"530"``) is compared on its first component only.
    None when the driver or the CUDA version is not understood.
    """
    drv = _driver_tuple(driver)
    rel = _release(cuda)
    if drv is None or not rel:
        return None
    found = _toolkit_row(cuda, ga=(mode != "toolkit"))
    if found is None:
        return None
    required = _driver_tuple(found[0].min_driver)
    if required is None:
        return None
    if _driver_at_least(drv, required):
        return True
    if mode == "minor_compat":
        compat = _minor_compat_min(rel[0])
        if compat is not None and _driver_at_least(drv, compat):
            return True
    return False


def newest_cuda_for_driver(driver: str, mode: DriverMode = "runtime") -> str | None:
    """The newest CUDA this driver runs, per Table 3: ``"12.0"`` for 525.105.17.

    ``mode="runtime"`` answers major.minor (what the driver reports and what images check);
    ``mode="toolkit"`` answers the newest full toolkit version (``"12.0.1"`` for 525.105.17).
    Drivers newer than the table's newest row answer the newest row; None below CUDA 10.0's.
    """
    drv = _driver_tuple(driver)
    if drv is None:
        return None
    best: _ToolkitRow | None = None
    seen_minor: set[tuple[int, int]] = set()
    for row in _driver_rows():
        required = _driver_tuple(row.min_driver)
        if required is None:
            continue
        ga_row = row.version[:2] not in seen_minor
        seen_minor.add(row.version[:2])
        if mode == "runtime" and not ga_row:
            continue
        if _driver_at_least(drv, required):
            best = row
    if best is None:
        return None
    if mode == "runtime":
        return f"{best.version[0]}.{best.version[1]}"
    return ".".join(str(x) for x in best.version)


@dataclass(frozen=True)
class CudaImageRequirement:
    """An ``nvidia/cuda`` image's ``NVIDIA_REQUIRE_CUDA`` (x86_64): the driver must support
    ``require_cuda``, OR the GPU brand is in ``brands`` and the driver is on one of the
    ``forward_compat_branches`` (the container then relies on forward compatibility)."""

    version: str
    require_cuda: str
    forward_compat_branches: tuple[int, ...]
    brands: tuple[str, ...]
    source: str


@cache
def _image_requirements() -> dict[str, CudaImageRequirement]:
    out = {}
    for row in load_table("cuda_drivers").get("image_requirement", ()):
        out[row["version"]] = CudaImageRequirement(
            version=row["version"],
            require_cuda=row["require_cuda"],
            forward_compat_branches=tuple(row.get("forward_compat_branches", ())),
            brands=tuple(row.get("brands", ())),
            source=row["source"],
        )
    return out


def cuda_image_requirement(version_or_tag: str) -> CudaImageRequirement | None:
    """The ``NVIDIA_REQUIRE_CUDA`` of the image version (``"12.1.1"``) or tag; None if unknown."""
    text = _cuda_tag_text(version_or_tag)
    m = re.match(r"(\d+\.\d+\.\d+)", text)
    return _image_requirements().get(m.group(1)) if m else None


@dataclass(frozen=True)
class DriverBranch:
    """An NVIDIA data-centre driver branch (``R535``) and its end of life."""

    name: str
    number: int
    kind: str
    cuda_majors: tuple[int, ...]
    eol: _dt.date
    source: str
    note: str = ""


def driver_branch(driver: str) -> DriverBranch | None:
    """The data-centre branch a driver belongs to (R535, R570, R580), None for other branches
    (NVIDIA: all other previous branches are end of life)."""
    drv = _driver_tuple(driver)
    if drv is None:
        return None
    for row in load_table("cuda_drivers").get("branch", ()):
        if row["number"] == drv[0]:
            eol = _parse_date(row["eol"], end=True)
            assert eol is not None
            return DriverBranch(
                name=row["name"],
                number=row["number"],
                kind=row["kind"],
                cuda_majors=tuple(row.get("cuda_majors", ())),
                eol=eol,
                source=row["source"],
                note=row.get("note", ""),
            )
    return None


# --------------------------------------------------------------------------------------------
# GPUs and compute capability


@dataclass(frozen=True)
class GpuInfo:
    """A GPU model with its compute capability and architecture."""

    name: str
    compute_capability: CC
    arch: str
    source: str = ""
    note: str = ""

    @property
    def sm(self) -> str:
        return f"sm_{self.compute_capability[0]}{self.compute_capability[1]}"


def parse_compute_capability(value: str | CC | Iterable[int]) -> CC | None:
    """``"6.1"``, ``"sm_61"``, ``"compute_61"``, ``"61"``, ``"12.0"``, ``(6, 1)`` -> ``(6, 1)``."""
    if isinstance(value, tuple | list):
        items = list(value)
        if len(items) == 2 and all(isinstance(x, int) for x in items):
            return (int(items[0]), int(items[1]))
        return None
    text = str(value).strip().lower()
    m = re.fullmatch(r"(\d+)\.(\d+)", text)
    if m:
        return (int(m.group(1)), int(m.group(2)))
    m = re.fullmatch(r"(?:sm_|compute_)?(\d+)([a-f]?)", text)
    if m and len(m.group(1)) >= 2:
        digits = m.group(1)
        return (int(digits[:-1]), int(digits[-1]))
    return None


_GPU_DROP = {
    "nvidia", "tesla", "geforce", "gpu", "tensor", "core", "graphics", "card", "accelerator",
    "pcie", "sxm", "sxm2", "sxm3", "sxm4", "sxm5", "nvl", "nvlink", "hbm", "hbm2", "hbm2e",
    "hbm3", "hbm3e", "mega", "generation", "server", "workstation", "edition", "max", "q",
    "laptop", "mobile", "ti", "super", "dgx",
}  # fmt: skip


def _gpu_key(name: str) -> str:
    text = str(name).lower()
    text = re.sub(r"[-_/(),]+", " ", text)
    text = re.sub(r"\b(rtx|gtx|gt)(\d)", r"\1 \2", text)
    text = re.sub(r"(\d)(ti|super)\b", r"\1 \2", text)
    text = re.sub(r"\b\d+\s*gb\b", " ", text)
    tokens = [t for t in re.findall(r"[a-z0-9]+", text) if t not in _GPU_DROP]
    return " ".join(tokens)


@cache
def _gpu_index() -> dict[str, GpuInfo]:
    table = load_table("gpus")
    index: dict[str, GpuInfo] = {}
    for row in table.get("gpu", ()):
        cc = parse_compute_capability(row["cc"])
        assert cc is not None, row
        info = GpuInfo(row["name"], cc, row["arch"], row.get("source", ""), row.get("note", ""))
        for alias in (row["name"], *row.get("aliases", ())):
            key = _gpu_key(alias)
            if key:
                index[key] = info
    return index


def gpu_info(name: str) -> GpuInfo | None:
    """Look a GPU up by a human or tool name: ``"Tesla P40"``, ``"NVIDIA Tesla P40"``, ``"P40"``,
    ``"nvidia-tesla-p40"``, ``"NVIDIA A100-SXM4-80GB"``, ``"nvidia-a100-80gb"``. None if unknown or
    ambiguous (``"RTX 6000"``)."""
    if not name:
        return None
    return _gpu_index().get(_gpu_key(name))


def arch_name(cc: str | CC) -> str | None:
    """Architecture of a compute capability: ``(6, 1)`` -> ``"Pascal"``."""
    parsed = parse_compute_capability(cc)
    if parsed is None:
        return None
    wanted = f"{parsed[0]}.{parsed[1]}"
    for row in load_table("gpus").get("arch", ()):
        if wanted in row["cc"]:
            return row["name"]
    return None


def cuda_supports_arch(cuda_version: str, cc: str | CC) -> bool | None:
    """Whether CUDA ``cuda_version`` can build for and run on compute capability ``cc``.

    CUDA 13.x needs sm_75+, 12.x sm_50+, 11.x sm_35+; newer GPUs also need a toolkit that knows
    them (8.6 from 11.1, 8.9/9.0 from 11.8, Blackwell 10.0/12.0 from 12.8). None for CUDA majors
    the table does not cover.
    """
    rel = _release(cuda_version)
    parsed = parse_compute_capability(cc)
    if not rel or parsed is None:
        return None
    table = load_table("gpus")
    minimum = None
    for row in table.get("cuda_arch_support", ()):
        if row["cuda_major"] == rel[0]:
            minimum = parse_compute_capability(row["min_cc"])
    if minimum is None:
        return None
    if parsed < minimum:
        return False
    for row in table.get("cc_first_cuda", ()):
        if parse_compute_capability(row["cc"]) == parsed:
            first = _release(row["first_cuda"]) or ()
            if rel[:2] < first[:2]:
                return False
    return True


# --------------------------------------------------------------------------------------------
# PyTorch wheels


def _torch_key(version: str) -> str | None:
    m = re.match(r"\s*(?:==|~=|>=)?\s*v?(\d+)\.(\d+)", str(version or ""))
    return f"{int(m.group(1))}.{int(m.group(2))}" if m else None


def _variant_key(variant: str | None) -> str | None:
    """``"cu121"``, ``"+cu121"``, ``"12.1"``, ``"cuda12.1"`` -> ``"cu121"``."""
    if not variant:
        return None
    text = str(variant).strip().lower().lstrip("+")
    m = re.fullmatch(r"cu(\d{3,4})", text)
    if m:
        return f"cu{m.group(1)}"
    m = re.fullmatch(r"(?:cuda)?(\d+)\.(\d+)(?:\.\d+)?", text)
    if m:
        return f"cu{m.group(1)}{m.group(2)}"
    return None


def _variant_cuda(variant: str) -> tuple[int, int]:
    digits = variant[2:]
    return (int(digits[:-1]), int(digits[-1]))


@cache
def _torch_index() -> dict[str, dict[str, Any]]:
    return {row["version"]: row for row in load_table("torch_wheels").get("release", ())}


def torch_variants(torch_version: str) -> list[str]:
    """CUDA wheel variants of a PyTorch release (stable and experimental), oldest CUDA first:
    ``"2.7.1"`` -> ``["cu118", "cu126", "cu128"]``. Empty for unknown releases."""
    row = _torch_index().get(_torch_key(torch_version) or "")
    if not row:
        return []
    variants = set(row.get("stable", ())) | set(row.get("experimental", ()))
    return sorted(variants, key=_variant_cuda)


def torch_default_cuda(torch_version: str) -> str | None:
    """The CUDA variant PyPI serves for this release (``pip install torch==2.8.*`` -> ``"cu128"``);
    None when the table does not know it."""
    row = _torch_index().get(_torch_key(torch_version) or "")
    return row.get("pypi_default") if row else None


def torch_index_url(variant: str) -> str | None:
    """``"cu121"`` -> ``"https://download.pytorch.org/whl/cu121"``."""
    key = _variant_key(variant)
    if key is None:
        return None
    pattern = load_table("torch_wheels")["meta"]["index_url_pattern"]
    return pattern.format(variant=key)


def torch_variant_from_index_url(url: str) -> str | None:
    """``"https://download.pytorch.org/whl/cu121"`` -> ``"cu121"`` (also ``.../whl/nightly/cu128``)."""
    m = re.search(r"download\.pytorch\.org/whl/(?:nightly/|test/)?(cu\d{3,4}|cpu|rocm[\d.]+)\b", url or "")
    return m.group(1) if m else None


def _wheel_row(torch_version: str, variant: str) -> dict[str, Any] | None:
    row = _torch_index().get(_torch_key(torch_version) or "")
    key = _variant_key(variant)
    if not row or key is None:
        return None
    for wheel in row.get("wheel", ()):
        if wheel["variant"] == key:
            return wheel
    return None


def torch_wheel_archs(torch_version: str, variant: str) -> list[str] | None:
    """The arch list (``sm_XY`` SASS, ``compute_XY`` PTX) of a PyTorch Linux x86_64 wheel, as
    ``torch.cuda.get_arch_list()`` reports it; None when unknown."""
    wheel = _wheel_row(torch_version, variant)
    return list(wheel["archs"]) if wheel else None


def _arch_covers(arch: str, cc: CC) -> bool:
    m = re.fullmatch(r"(sm|compute)_(\d+)([a-f]?)", arch)
    if not m:
        return False
    target = parse_compute_capability(m.group(2))
    if target is None:
        return False
    if m.group(3):  # arch-specific (sm_90a) code runs only on that exact compute capability
        return cc == target
    if m.group(1) == "sm":
        return cc[0] == target[0] and cc[1] >= target[1]
    return cc >= target


def torch_wheel_supports(torch_version: str, variant: str, cc: str | CC) -> bool | None:
    """Whether the (release, variant) wheel has kernels for compute capability ``cc``.

    SASS for X.Y runs on X.Z with Z >= Y (sm_60 runs on a 6.1 P40); PTX for X.Y is JIT-compiled
    for anything >= X.Y. ``("2.7", "cu128", "6.1")`` -> False; ``("2.7", "cu126", "6.1")`` -> True.
    None when the arch list is unknown or only an unverified entry would cover ``cc``.
    """
    parsed = parse_compute_capability(cc)
    wheel = _wheel_row(torch_version, variant)
    if parsed is None or wheel is None:
        return None
    if any(_arch_covers(a, parsed) for a in wheel["archs"]):
        return True
    if any(_arch_covers(a, parsed) for a in wheel.get("uncertain", ())):
        return None
    return False


def torch_variant_for_gpu(torch_version: str, cc: str | CC) -> str | None:
    """The newest CUDA variant of the release whose wheel runs on ``cc``: a P40 (6.1) on 2.7 ->
    ``"cu126"``. None if no known variant does."""
    for variant in reversed(torch_variants(torch_version)):
        if torch_wheel_supports(torch_version, variant, cc):
            return variant
    return None


# --------------------------------------------------------------------------------------------
# System packages


@dataclass(frozen=True)
class SysReq:
    """One system-package requirement of a Python/npm package on a given platform.

    ``packages`` maps a distro family (``"debian"``, ``"alpine"``) to package names; ``provides``
    lists executables or shared libraries; ``certain`` is False when the table does not know
    whether a binary wheel exists for the platform.
    """

    package: str
    phase: Literal["build", "run"]
    when: Literal["always", "no_wheel", "optional"]
    strength: Literal["required", "documented", "optional"]
    packages: Mapping[str, tuple[str, ...]]
    provides: tuple[str, ...]
    source: str
    note: str = ""
    extra: str | None = None
    certain: bool = True

    def names(self, family: str) -> tuple[str, ...]:
        """Package names for ``"debian"`` (also for ``"ubuntu"``) or ``"alpine"``."""
        fam = "debian" if family in ("ubuntu", "debian") else family
        return tuple(self.packages.get(fam, ()))


@dataclass(frozen=True)
class PackageInfo:
    """What the table says about a package beyond its requirements: alternatives to suggest
    (``opencv-python-headless``), the package it is a headless/binary variant of, wheels."""

    name: str
    ecosystem: str
    source: str
    alternatives: tuple[str, ...] = ()
    headless_of: str | None = None
    binary_of: str | None = None
    wheels: tuple[str, ...] = ()
    note: str = ""


def _normalize_pypi(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _package_index() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for row in load_table("system_packages").get("package", ()):
        eco = row.get("ecosystem", "pypi")
        key = _normalize_pypi(row["name"]) if eco == "pypi" else row["name"].lower()
        out[(eco, key)] = row
    return out


def _split_requirement(spec: str) -> tuple[str, frozenset[str]]:
    """``"misaki[en]>=0.9.4"`` -> ``("misaki", {"en"})``; npm ``"@scope/x@1"`` kept as a name."""
    text = (spec or "").strip()
    m = re.match(r"(@?[A-Za-z0-9][A-Za-z0-9._\-/]*)\s*(?:\[([^\]]*)\])?", text)
    if not m:
        return text, frozenset()
    extras = frozenset(e.strip().lower() for e in (m.group(2) or "").split(",") if e.strip())
    return m.group(1), extras


def _find_package(name: str, ecosystem: str | None) -> dict[str, Any] | None:
    index = _package_index()
    for eco in (ecosystem,) if ecosystem else ("pypi", "npm"):
        key = _normalize_pypi(name) if eco == "pypi" else name.lower()
        if (eco, key) in index:
            return index[(eco, key)]
    return None


def _platform(libc: str, arch: str) -> str:
    aliases = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "arm64v8": "aarch64"}
    arch_l = aliases.get(arch.lower(), arch.lower())
    return f"{libc.lower()}-{arch_l}"


def system_package_info(package: str, ecosystem: str | None = None) -> PackageInfo | None:
    """Alternatives and variant relations of a package (None if the table does not list it)."""
    name, _ = _split_requirement(package)
    row = _find_package(name, ecosystem)
    if row is None:
        return None
    return PackageInfo(
        name=row["name"],
        ecosystem=row.get("ecosystem", "pypi"),
        source=row["source"],
        alternatives=tuple(row.get("alternatives", ())),
        headless_of=row.get("headless_of"),
        binary_of=row.get("binary_of"),
        wheels=tuple(row.get("wheels", ())),
        note=row.get("note", ""),
    )


def system_requirements(
    package: str, libc: str = "glibc", arch: str = "x86_64", ecosystem: str | None = None
) -> list[SysReq]:
    """System packages ``package`` needs on a ``libc``/``arch`` platform, build and run phase.

    ``package`` may carry extras and a version (``"misaki[en]>=0.9.4"``). Requirements that only
    apply without a binary wheel are left out where the table knows a wheel exists (soundfile on
    glibc x86_64 needs nothing; on musl it needs libsndfile). Optional requirements are included
    with ``strength="optional"``. Empty list for packages that need nothing or that the table
    does not list (check :func:`system_package_info` to tell them apart).
    """
    name, extras = _split_requirement(package)
    row = _find_package(name, ecosystem)
    if row is None:
        return []
    if row.get("same_as"):
        same = _find_package(row["same_as"], row.get("ecosystem"))
        requires = same.get("requires", ()) if same else ()
    else:
        requires = row.get("requires", ())
    platform = _platform(libc, arch)
    out: list[SysReq] = []
    for req in requires:
        if req.get("libc") and req["libc"] != libc.lower():
            continue
        if req.get("extra") and req["extra"] not in extras:
            continue
        certain = True
        if req["when"] == "no_wheel":
            wheels = req.get("wheels", row.get("wheels", ()))
            complete = req.get("wheels_complete", row.get("wheels_complete", False))
            if platform in wheels:
                continue
            certain = bool(complete)
        out.append(
            SysReq(
                package=row["name"],
                phase=req["phase"],
                when=req["when"],
                strength=req["strength"],
                packages={"debian": tuple(req.get("debian", ())), "alpine": tuple(req.get("alpine", ()))},
                provides=tuple(req.get("provides", ())),
                source=req.get("source", row["source"]),
                note=req.get("note", ""),
                extra=req.get("extra"),
                certain=certain,
            )
        )
    return out


_T64_DEBIAN = {"13", "14", "trixie", "forky", "sid", "unstable", "testing"}


def debian_package_name(name: str, distro: str = "debian", version: str | None = None) -> str:
    """Apply the 64-bit time_t renames (``libglib2.0-0`` -> ``libglib2.0-0t64``) for Debian 13+
    and Ubuntu 24.04+; other names and older releases are returned unchanged."""
    renames = load_table("system_packages").get("t64_renames", {})
    if name not in renames or version is None:
        return name
    v = str(version).lower()
    if distro == "debian":
        major = _release(v)
        renamed = v in _T64_DEBIAN or bool(major and major[0] >= 13)
    elif distro == "ubuntu":
        rel = _release(v)
        renamed = bool(rel and rel[:2] >= (24, 4)) or v in {"noble", "oracular", "plucky", "questing"}
    else:
        renamed = False
    return renames[name] if renamed else name


# --------------------------------------------------------------------------------------------
# Base images


@dataclass(frozen=True)
class BaseImageProfile:
    """A row of ``base_images.toml`` (one kind of image)."""

    id: str
    repositories: tuple[str, ...]
    tag_regex: re.Pattern[str]
    data: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ImageFacts:
    """What an image is known to ship. ``executables`` are known present, ``absent`` known
    absent; anything else is unknown - use :meth:`has`, which answers True/False/None."""

    image: str
    profile: str
    family: str
    distro: str | None
    distro_version: str | None
    libc: str | None
    package_manager: str | None
    executables: frozenset[str]
    absent: frozenset[str]
    python: bool | None
    python_version: str | None
    node: bool | None
    node_version: str | None
    cuda_version: str | None
    ca_certificates: bool | None
    packages: tuple[str, ...]
    source: str
    note: str = ""

    def has(self, executable: str) -> bool | None:
        if executable in self.executables:
            return True
        if executable in self.absent:
            return False
        return None


@cache
def _image_profiles() -> tuple[BaseImageProfile, ...]:
    out = []
    for row in load_table("base_images").get("image", ()):
        out.append(
            BaseImageProfile(
                id=row["id"],
                repositories=tuple(row["repositories"]),
                tag_regex=re.compile(row["tag_regex"]),
                data=row,
            )
        )
    return tuple(out)


_NODE_CODENAMES = {
    "argon": "4", "boron": "6", "carbon": "8", "dubnium": "10", "erbium": "12", "fermium": "14",
    "gallium": "16", "hydrogen": "18", "iron": "20", "jod": "22", "krypton": "24",
}  # fmt: skip


def _node_major(version: str | None) -> str | None:
    if not version:
        return None
    if version in _NODE_CODENAMES:
        return _NODE_CODENAMES[version]
    m = re.match(r"(\d+)", version)
    return m.group(1) if m else None


def _groups(match: re.Match[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in match.groupdict().items():
        if value is None:
            continue
        out[key.removesuffix("_only")] = value
    return out


@lru_cache(maxsize=1024)
def base_image_provides(image_ref: str) -> ImageFacts | None:
    """Facts about a base image (``python:3.12-slim``, ``node:20-alpine``,
    ``nvidia/cuda:12.1.1-runtime-ubuntu22.04``, ...). None for images the table does not describe
    (and for references with unresolved ``${VARS}``): rules must then stay quiet."""
    ref = parse_image(image_ref)
    if ref.has_variables or not ref.tag:
        return None
    name = ref.name
    for profile in _image_profiles():
        if name not in profile.repositories:
            continue
        m = profile.tag_regex.fullmatch(ref.tag)
        if not m:
            continue
        groups = _groups(m)
        data = profile.data
        present = set(data.get("present", ()))
        absent = set(data.get("absent", ()))
        node_version = groups.get("node") if data.get("node") else None
        node_major = _node_major(node_version)
        if data.get("node") and node_major:
            for rule in load_table("base_images").get("node_version_rules", ()):
                major = int(node_major)
                if rule.get("min_major", 0) <= major <= rule.get("max_major", 10_000):
                    present |= set(rule.get("present", ()))
                    absent -= set(rule.get("present", ()))
                    absent |= set(rule.get("absent", ()))
                    for exe in rule.get("unknown", ()):
                        present.discard(exe)
                        absent.discard(exe)
        python_version = groups.get("python") if data.get("python") else None
        if python_version == "latest":
            python_version = None
        distro = data.get("distro") or groups.get("os")
        distro_version = groups.get("distro_version")
        if distro_version in ("latest", "rolling", "devel", "edge", "stable", "testing", "sid", "unstable"):
            distro_version = None
        return ImageFacts(
            image=image_ref,
            profile=profile.id,
            family=image_family(image_ref),
            distro=distro,
            distro_version=distro_version,
            libc=data.get("libc"),
            package_manager=data.get("package_manager"),
            executables=frozenset(present),
            absent=frozenset(absent - present),
            python=data.get("python"),
            python_version=python_version,
            node=data.get("node"),
            node_version=node_major if node_version not in ("lts", "current", "latest") else None,
            cuda_version=groups.get("cuda"),
            ca_certificates=data.get("ca_certificates"),
            packages=tuple(data.get("packages", ())),
            source=data["source"],
            note=data.get("note", ""),
        )
    return None


# --------------------------------------------------------------------------------------------
# End of life


@dataclass(frozen=True)
class EolInfo:
    """End-of-life status of one product cycle an image is built on.

    ``status``: ``"eol"`` (past ``eol``), ``"extended"`` (past ``support_end`` but not ``eol``:
    Debian LTS, Node.js maintenance), ``"supported"``. ``replacement`` suggests a cycle to move to.
    """

    product: str
    label: str
    version: str
    eol: _dt.date
    status: Literal["eol", "extended", "supported"]
    support_end: _dt.date | None
    replacement: str | None
    source: str
    image: str = ""
    note: str = ""

    @property
    def is_eol(self) -> bool:
        return self.status == "eol"


@cache
def _eol_products() -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in load_table("eol_images").get("product", ())}


def _find_cycle(product: dict[str, Any], version: str) -> dict[str, Any] | None:
    v = str(version).lower()
    for cycle in product.get("cycle", ()):
        if v == cycle["version"] or v == cycle.get("codename"):
            return cycle
    name = product["name"]
    rel = _release(v)
    if not rel:
        return None
    if name in ("python", "ubuntu", "alpine"):
        if len(rel) < 2:
            return None
        key = f"{rel[0]}.{rel[1]:02d}" if name == "ubuntu" else f"{rel[0]}.{rel[1]}"
    else:  # node and debian cycles are majors
        key = str(rel[0])
    for cycle in product.get("cycle", ()):
        if cycle["version"] == key:
            return cycle
    return None


def _replacement(product: dict[str, Any], today: _dt.date) -> str | None:
    name = product["name"]
    best = None
    for cycle in product.get("cycle", ()):
        eol = _parse_date(cycle["eol"], end=True)
        if eol is None or eol < today:
            continue
        released = _parse_date(cycle.get("released"), end=False) or _dt.date.min
        if name == "python" and released > today - _dt.timedelta(days=365):
            continue  # suggest a release that has had a year to gather wheels
        if name == "node":
            lts = _parse_date(cycle.get("lts"), end=False)
            if lts is None or lts > today:
                continue
        if released > today:
            continue
        best = cycle
    return best["version"] if best else None


def _eol_info(product_name: str, version: str, today: _dt.date, image: str) -> EolInfo | None:
    product = _eol_products().get(product_name)
    if product is None or not version:
        return None
    cycle = _find_cycle(product, version)
    if cycle is None:
        return None
    eol = _parse_date(cycle["eol"], end=True)
    if eol is None:
        return None
    support_end = _parse_date(cycle.get("support_end"), end=True)
    if today > eol:
        status: Literal["eol", "extended", "supported"] = "eol"
    elif support_end is not None and today > support_end:
        status = "extended"
    else:
        status = "supported"
    return EolInfo(
        product=product_name,
        label=product.get("label", product_name),
        version=cycle["version"],
        eol=eol,
        status=status,
        support_end=support_end,
        replacement=_replacement(product, today),
        source=cycle.get("source", product["source"]),
        image=image,
        note=cycle.get("note", ""),
    )


def eol_statuses(image_ref: str, today: _dt.date | None = None) -> list[EolInfo]:
    """EOL facts for everything the image pins: its runtime (Python/Node.js) and its
    distribution (Debian/Ubuntu/Alpine). Floating tags (``python:3``, ``node:lts``) pin nothing."""
    today = today or _dt.date.today()
    facts = base_image_provides(image_ref)
    if facts is None:
        return []
    out: list[EolInfo] = []
    if facts.python_version:
        info = _eol_info("python", facts.python_version, today, image_ref)
        if info:
            out.append(info)
    if facts.node_version:
        info = _eol_info("node", facts.node_version, today, image_ref)
        if info:
            out.append(info)
    if facts.distro in ("debian", "ubuntu", "alpine") and facts.distro_version:
        info = _eol_info(facts.distro, facts.distro_version, today, image_ref)
        if info:
            out.append(info)
    return out


def eol_status(image_ref: str, today: _dt.date | None = None) -> EolInfo | None:
    """The most relevant EOL fact for an image: the first end-of-life one (runtime before
    distribution), else the runtime's (or distribution's) current status; None when the image
    pins nothing the table knows. ``python:3.8-slim`` -> Python 3.8, EOL 2024-10-07."""
    statuses = eol_statuses(image_ref, today)
    for info in statuses:
        if info.is_eol:
            return info
    return statuses[0] if statuses else None

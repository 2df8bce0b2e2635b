"""Tests for the knowledge tables (rules/knowledge/*.toml) and their query API."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from dockaudit import knowledge as k
from dockaudit.catalog import load_table

TABLES = ["cuda_tags", "cuda_drivers", "gpus", "torch_wheels", "system_packages", "base_images", "eol_images"]
TODAY = dt.date(2026, 11, 23)
SEED_TAG = "12.1.1-cudnn-runtime-ubuntu22.04"


def _shared_tags_file() -> Path | None:
    here = Path(__file__).resolve()
    for candidate in (
        here.parents[2] / "shared" / "data" / "nvidia-cuda-tags.txt",
        Path("/work/shared/data/nvidia-cuda-tags.txt"),
    ):
        if candidate.is_file():
            return candidate
    return None


# ------------------------------------------------------------------------------- the tables


@pytest.mark.parametrize("name", TABLES)
def test_table_has_meta_with_source_and_date(name):
    meta = load_table(name)["meta"]
    assert meta["table"] == name
    assert meta["source"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", meta["checked"])


def _rows(value, path=""):
    """Yield (path, row, parent) for every table inside an array of tables, recursively."""
    if isinstance(value, dict):
        for key, sub in value.items():
            if isinstance(sub, list) and sub and all(isinstance(x, dict) for x in sub):
                for i, row in enumerate(sub):
                    yield f"{path}{key}[{i}]", row, value
                    yield from _rows(row, f"{path}{key}[{i}].")


@pytest.mark.parametrize("name", TABLES)
def test_every_row_has_a_source(name):
    table = load_table(name)
    count = 0
    for path, row, parent in _rows(table):
        count += 1
        # a nested row (a release's group, a product's cycle) may inherit its parent's source
        source = row.get("source") or (parent.get("source") if parent is not table else None)
        assert source, f"{name}: {path} has no source"
    assert count > 0


def test_cuda_tags_table_matches_the_published_list():
    index = k._cuda_index()
    assert len(index.status) == load_table("cuda_tags")["meta"]["total_tags"] == 1317
    assert sum(1 for s in index.status.values() if s == "eol") == 701
    path = _shared_tags_file()
    if path is None:
        pytest.skip("shared/data/nvidia-cuda-tags.txt not available")
    published = {line.strip() for line in path.read_text().splitlines() if line.strip()}
    assert set(index.status) == published


def test_cuda_driver_table_covers_every_image_version():
    for version in k._cuda_index().by_version:
        assert k.min_driver_for_cuda(version), version
    for row in load_table("cuda_drivers")["image_requirement"]:
        # image versions whose tags were already deleted (11.2.0) are kept for the record
        assert k.min_driver_for_cuda(row["version"]), row["version"]
        assert k.min_driver_for_cuda(row["require_cuda"])


def test_torch_table_is_consistent():
    for row in load_table("torch_wheels")["release"]:
        variants = set(row["stable"]) | set(row["experimental"])
        assert row["pypi_default"] in variants, row["version"]
        for wheel in row.get("wheel", ()):
            assert wheel["variant"] in variants
            for arch in (*wheel["archs"], *wheel.get("uncertain", ())):
                assert re.fullmatch(r"(sm|compute)_\d+", arch), arch


def test_gpu_table_is_consistent():
    keys: dict[str, str] = {}
    for row in load_table("gpus")["gpu"]:
        cc = k.parse_compute_capability(row["cc"])
        assert k.arch_name(cc) == row["arch"], row["name"]
        for alias in (row["name"], *row.get("aliases", ())):
            key = k._gpu_key(alias)
            assert keys.setdefault(key, row["name"]) == row["name"], f"{alias!r} clashes with {keys[key]!r}"


@pytest.mark.parametrize(
    ("table", "array", "key"),
    [
        ("cuda_tags", "release", "version"),
        ("cuda_drivers", "toolkit", "version"),
        ("cuda_drivers", "image_requirement", "version"),
        ("gpus", "gpu", "name"),
        ("torch_wheels", "release", "version"),
        ("system_packages", "package", "name"),
        ("base_images", "image", "id"),
        ("eol_images", "product", "name"),
    ],
)
def test_rows_are_unique(table, array, key):
    values = [row[key] for row in load_table(table)[array]]
    assert len(values) == len(set(values))


def test_eol_cycles_are_unique_and_dated():
    for product in load_table("eol_images")["product"]:
        versions = [c["version"] for c in product["cycle"]]
        assert len(versions) == len(set(versions)), product["name"]
        for cycle in product["cycle"]:
            assert k._parse_date(cycle["eol"], end=True), (product["name"], cycle["version"])


def test_base_image_profiles_are_well_formed():
    for row in load_table("base_images")["image"]:
        re.compile(row["tag_regex"])
        assert not set(row.get("present", ())) & set(row.get("absent", ())), row["id"]


def test_no_table_is_read_at_import():
    code = (
        "import dockaudit.catalog as c; import dockaudit.knowledge; "
        "print(c.load_table.cache_info().currsize)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


# ------------------------------------------------------------------------- image references


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("python:3.12-slim", ("docker.io", "library/python", "3.12-slim", None)),
        ("python", ("docker.io", "library/python", "latest", None)),
        (
            "nvidia/cuda:12.1.1-runtime-ubuntu22.04",
            ("docker.io", "nvidia/cuda", "12.1.1-runtime-ubuntu22.04", None),
        ),
        ("ghcr.io/astral-sh/uv:0.9.24", ("ghcr.io", "astral-sh/uv", "0.9.24", None)),
        ("localhost:5000/team/app:1@sha256:ab", ("localhost:5000", "team/app", "1", "sha256:ab")),
        ("python@sha256:ab", ("docker.io", "library/python", None, "sha256:ab")),
        ("docker.io/library/node:20", ("docker.io", "library/node", "20", None)),
    ],
)
def test_parse_image(ref, expected):
    parsed = k.parse_image(ref)
    assert (parsed.registry, parsed.repository, parsed.tag, parsed.digest) == expected


def test_parse_image_short_name_and_variables():
    assert k.parse_image("docker.io/library/python:3").name == "python"
    assert k.parse_image("nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04").name == "nvcr.io/nvidia/cuda"
    assert k.parse_image("${BASE_IMAGE}").has_variables
    assert k.parse_image("python:${PY}-slim").has_variables
    assert k.parse_image("").repository == ""  # never raises


@pytest.mark.parametrize(
    ("ref", "family"),
    [
        ("python:3.12-slim", "python"),
        ("node:20-alpine", "node"),
        ("nvidia/cuda:12.1.1-base-ubuntu22.04", "cuda"),
        ("nvcr.io/nvidia/cuda:12.1.1-base-ubuntu22.04", "cuda"),
        ("ghcr.io/astral-sh/uv:0.9", "uv"),
        ("gcr.io/distroless/python3-debian12", "distroless"),
        ("pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime", "pytorch"),
        ("postgres:16", "postgres"),
    ],
)
def test_image_family(ref, family):
    assert k.image_family(ref) == family


# --------------------------------------------------------------------------- nvidia/cuda tags


def test_seed_tag_does_not_exist_and_nearest_is_cudnn8():
    assert not k.cuda_tag_exists(SEED_TAG)
    assert k.cuda_tag_status(SEED_TAG) == "unknown"
    nearest = k.nearest_cuda_tags(SEED_TAG)
    assert nearest[0] == "12.1.1-cudnn8-runtime-ubuntu22.04"
    assert len(nearest) == 3
    assert all(k.cuda_tag_exists(t) for t in nearest)
    assert k.nearest_cuda_tags(SEED_TAG, n=1) == ["12.1.1-cudnn8-runtime-ubuntu22.04"]
    assert k.nearest_cuda_tags(SEED_TAG, n=0) == []


def test_nearest_cuda_tags_other_cases():
    assert k.nearest_cuda_tags("12.4.1-cudnn-runtime-ubuntu22.04") == ["12.4.1-cudnn-runtime-ubuntu22.04"]
    # cuDNN 9 tags before 12.4.1 were spelled cudnn9
    assert k.nearest_cuda_tags("12.3.2-cudnn-devel-ubuntu22.04")[0] == "12.3.2-cudnn9-devel-ubuntu22.04"
    # a version that never existed: the closest published point release first
    assert k.nearest_cuda_tags("12.1.2-runtime-ubuntu22.04")[0] == "12.1.1-runtime-ubuntu22.04"
    # Ubuntu 24.04 images start at 12.5.1: keep the CUDA version, change the Ubuntu release
    assert k.nearest_cuda_tags("12.4.1-runtime-ubuntu24.04")[0] == "12.4.1-runtime-ubuntu22.04"
    assert k.nearest_cuda_tags("nvidia/cuda:" + SEED_TAG)[0] == "12.1.1-cudnn8-runtime-ubuntu22.04"
    assert isinstance(k.nearest_cuda_tags("latest"), list)


def test_cuda_tag_status():
    assert k.cuda_tag_exists("12.1.1-cudnn8-runtime-ubuntu22.04")
    assert k.cuda_tag_status("12.1.1-cudnn8-runtime-ubuntu22.04") == "supported"
    assert k.cuda_tag_status("12.4.1-cudnn-runtime-ubuntu22.04") == "supported"
    assert k.cuda_tag_status("12.1.0-runtime-ubuntu22.04") == "eol"  # superseded by 12.1.1
    assert k.cuda_tag_status("13.0.1-base-ubuntu24.04") == "eol"
    assert k.cuda_tag_status("11.0.3-base-ubuntu20.04") == "eol"  # listed in both lists
    assert k.cuda_tag_status("13.1.0-runtime-ubuntu24.04") == "supported"
    assert k.cuda_tag_status("nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04") == "supported"
    assert k.cuda_tag_status("latest") == "unknown"
    assert not k.cuda_tag_exists("12.4.1-base-centos7")  # CentOS 7 images stop at 12.4.0
    assert k.cuda_tag_exists("12.4.0-base-centos7")


def test_cuda_version_and_flavour_of_tag():
    assert k.cuda_version_of_tag(SEED_TAG) == Version("12.1.1")
    assert k.cuda_version_of_tag("nvidia/cuda:13.0.2-devel-ubuntu24.04") == Version("13.0.2")
    assert k.cuda_version_of_tag("latest") is None
    assert k.cuda_image_flavour(SEED_TAG) == "runtime"
    assert k.cuda_image_flavour("12.4.1-cudnn-devel-ubuntu22.04") == "devel"
    assert k.cuda_image_flavour("12.4.1-base-ubuntu22.04") == "base"
    assert k.cuda_image_flavour("latest") is None


def test_cuda_tag_info():
    info = k.cuda_tag_info(SEED_TAG)
    assert info is not None
    assert (info.version, info.extra, info.flavour, info.os, info.os_version) == (
        "12.1.1",
        "cudnn",
        "runtime",
        "ubuntu",
        "22.04",
    )
    assert info.has_cudnn and not info.exists and info.status == "unknown"
    assert k.cuda_tag_info("12.2.2-devel-rockylinux9").exists
    assert k.cuda_tag_info("not-a-tag") is None


# ------------------------------------------------------------------------------ CUDA drivers


def test_p40_review_report_case():
    assert k.min_driver_for_cuda("12.1") == "530.30.02"
    assert k.min_driver_for_cuda("12.1.1") == "530.30.02"
    assert k.driver_supports("525.105.17", "12.1") is False
    assert k.driver_supports("525.105.17", "12.1.1") is False
    assert k.driver_supports("530.30.02", "12.1") is True
    assert k.newest_cuda_for_driver("525.105.17") == "12.0"
    # CUDA 11.8 (what the report suggests for older drivers) runs on it
    assert k.driver_supports("525.105.17", "11.8") is True
    # minor-version compatibility (binaries such as PyTorch cu121 wheels) does accept 525
    assert k.driver_supports("525.105.17", "12.1", mode="minor_compat") is True


def test_min_driver_for_cuda():
    assert k.min_driver_for_cuda("11.8") == "520.61.05"
    assert k.min_driver_for_cuda("11.8.0") == "520.61.05"
    assert k.min_driver_for_cuda("12.0") == "525.60.13"
    assert k.min_driver_for_cuda("12.0.1") == "525.85.12"
    assert k.min_driver_for_cuda("12.6.3") == "560.35.05"
    assert k.min_driver_for_cuda("12.8") == "570.26"
    assert k.min_driver_for_cuda("13.0.2") == "580.95.05"
    assert k.min_driver_for_cuda("13.2.2") == "595.71.05"
    assert k.min_driver_for_cuda("12.3.2") == "545.23.08"  # not in Table 3: nearest lower row
    assert k.min_driver_for_cuda("12.7") is None  # no such toolkit
    assert k.min_driver_for_cuda("cuda") is None
    assert k.min_driver_for_cuda("12") is None


def test_cuda_toolkit_driver():
    row = k.cuda_toolkit_driver("12.1.1")
    assert (row.version, row.label, row.min_driver, row.derived) == (
        "12.1.1",
        "CUDA 12.1 Update 1",
        "530.30.02",
        False,
    )
    derived = k.cuda_toolkit_driver("12.3.2")
    assert derived.derived and derived.version == "12.3.1"
    assert k.cuda_toolkit_driver("12.1").label == "CUDA 12.1 GA"
    assert k.cuda_toolkit_driver("8.0") is None


def test_driver_supports_modes_and_odd_input():
    # the runtime check is per major.minor: any 560 driver reports CUDA 12.6
    assert k.driver_supports("560.28.03", "12.6.3") is True
    assert k.driver_supports("560.28.03", "12.6.3", mode="toolkit") is False
    assert k.driver_supports("560.35.05", "12.6.3", mode="toolkit") is True
    # a bare branch number is compared on its first component
    assert k.driver_supports("530", "12.1") is True
    assert k.driver_supports("525", "12.1") is False
    # 13.x minor compat needs >= 580; 12.x binaries do not run on 470 even with minor compat
    assert k.driver_supports("580.65.06", "13.1", mode="minor_compat") is True
    assert k.driver_supports("470.82.01", "12.1", mode="minor_compat") is False
    assert k.driver_supports("450.80.02", "11.8", mode="minor_compat") is True
    assert k.driver_supports("450.80.02", "11.8") is False
    assert k.driver_supports("garbage", "12.1") is None
    assert k.driver_supports("525.105.17", "12.7") is None


def test_newest_cuda_for_driver():
    assert k.newest_cuda_for_driver("525.105.17", mode="toolkit") == "12.0.1"
    assert k.newest_cuda_for_driver("535.183.01") == "12.2"
    assert k.newest_cuda_for_driver("565.57.01") == "12.6"  # no 12.7 toolkit in the table
    assert k.newest_cuda_for_driver("580.95.05") == "13.0"
    assert k.newest_cuda_for_driver("999.1") == "13.2"
    assert k.newest_cuda_for_driver("390.1") is None
    assert k.newest_cuda_for_driver("x") is None


def test_cuda_image_requirement_and_branches():
    req = k.cuda_image_requirement(SEED_TAG)
    assert req is not None
    assert req.require_cuda == "12.1"
    assert req.forward_compat_branches == (470, 525)
    assert "tesla" in req.brands
    assert k.cuda_image_requirement("13.0.2").forward_compat_branches == (535, 550, 565, 570, 575)
    assert k.cuda_image_requirement("9.9.9") is None
    r535 = k.driver_branch("535.183.01")
    assert r535 is not None and r535.kind == "LTSB" and r535.cuda_majors == (12,)
    assert r535.eol == dt.date(2026, 6, 30)
    assert k.driver_branch("580.95.05").eol == dt.date(2028, 8, 31)
    assert k.driver_branch("525.105.17") is None  # not a supported data-centre branch
    assert k.driver_branch("x") is None


# ------------------------------------------------------------------------------------- GPUs


@pytest.mark.parametrize(
    ("name", "cc", "arch"),
    [
        ("tesla p40", (6, 1), "Pascal"),
        ("NVIDIA Tesla P40", (6, 1), "Pascal"),
        ("P40", (6, 1), "Pascal"),
        ("nvidia-tesla-p40", (6, 1), "Pascal"),
        ("Tesla P100", (6, 0), "Pascal"),
        ("Tesla T4", (7, 5), "Turing"),
        ("nvidia-tesla-t4", (7, 5), "Turing"),
        ("Tesla V100-SXM2-32GB", (7, 0), "Volta"),
        ("nvidia-a100-80gb", (8, 0), "Ampere"),
        ("NVIDIA A100-SXM4-80GB", (8, 0), "Ampere"),
        ("A10G", (8, 6), "Ampere"),
        ("NVIDIA A10", (8, 6), "Ampere"),
        ("A30", (8, 0), "Ampere"),
        ("A40", (8, 6), "Ampere"),
        ("nvidia-l4", (8, 9), "Ada Lovelace"),
        ("L40S", (8, 9), "Ada Lovelace"),
        ("H100 80GB HBM3", (9, 0), "Hopper"),
        ("nvidia-h200-141gb", (9, 0), "Hopper"),
        ("B200", (10, 0), "Blackwell"),
        ("GeForce RTX 2080 Ti", (7, 5), "Turing"),
        ("RTX 3060", (8, 6), "Ampere"),
        ("NVIDIA GeForce RTX 3090 Ti", (8, 6), "Ampere"),
        ("RTX4090", (8, 9), "Ada Lovelace"),
        ("GeForce RTX 4060 Ti", (8, 9), "Ada Lovelace"),
        ("NVIDIA GeForce RTX 5090", (12, 0), "Blackwell"),
        ("GTX 1080Ti", (6, 1), "Pascal"),
        ("TITAN V", (7, 0), "Volta"),
        ("Tesla K80", (3, 7), "Kepler"),
        ("Tesla M60", (5, 2), "Maxwell"),
        ("Quadro RTX 6000", (7, 5), "Turing"),
        ("NVIDIA RTX 6000 Ada Generation", (8, 9), "Ada Lovelace"),
        ("NVIDIA TITAN X", (6, 1), "Pascal"),
        ("GeForce GTX TITAN X", (5, 2), "Maxwell"),
    ],
)
def test_gpu_info(name, cc, arch):
    info = k.gpu_info(name)
    assert info is not None, name
    assert info.compute_capability == cc
    assert info.arch == arch
    assert info.source


def test_gpu_info_unknown_or_ambiguous():
    assert k.gpu_info("RTX 6000") is None  # Quadro RTX 6000 (7.5) or RTX 6000 Ada (8.9)?
    assert k.gpu_info("Radeon RX 7900") is None
    assert k.gpu_info("") is None
    assert k.gpu_info("P40").sm == "sm_61"


def test_parse_compute_capability_and_arch_name():
    for value in ("6.1", "sm_61", "compute_61", "61", (6, 1)):
        assert k.parse_compute_capability(value) == (6, 1)
    assert k.parse_compute_capability("sm_120") == (12, 0)
    assert k.parse_compute_capability("12.0") == (12, 0)
    assert k.parse_compute_capability("sm_90a") == (9, 0)
    assert k.parse_compute_capability("x") is None
    assert k.arch_name((6, 1)) == "Pascal"
    assert k.arch_name("7.5") == "Turing"
    assert k.arch_name("8.9") == "Ada Lovelace"
    assert k.arch_name("12.0") == "Blackwell"
    assert k.arch_name("4.0") is None


def test_cuda_supports_arch():
    assert k.cuda_supports_arch("12.1", (6, 1)) is True  # P40 on CUDA 12
    assert k.cuda_supports_arch("12.9", "6.1") is True
    assert k.cuda_supports_arch("13.0", (6, 1)) is False  # CUDA 13 needs sm_75+
    assert k.cuda_supports_arch("13.0", "7.0") is False
    assert k.cuda_supports_arch("13.0", "7.5") is True
    assert k.cuda_supports_arch("12.0", "3.7") is False  # Kepler dropped in 12.0
    assert k.cuda_supports_arch("11.8", "3.7") is True
    assert k.cuda_supports_arch("11.7", "8.9") is False  # Ada needs 11.8
    assert k.cuda_supports_arch("12.6", "12.0") is False  # Blackwell needs 12.8
    assert k.cuda_supports_arch("12.8", "12.0") is True
    assert k.cuda_supports_arch("9.0", "6.1") is None  # not covered by the table
    assert k.cuda_supports_arch("x", "6.1") is None


# ------------------------------------------------------------------------------ torch wheels


def test_torch_variants_and_default():
    assert k.torch_variants("2.7.1+cu128") == ["cu118", "cu126", "cu128"]
    assert k.torch_variants("2.3.0") == ["cu118", "cu121"]
    assert k.torch_variants("2.11") == ["cu126", "cu128", "cu130"]
    assert k.torch_variants("2.10.0") == ["cu126", "cu128", "cu130"]
    assert k.torch_variants("1.13.1") == []
    assert k.torch_default_cuda("2.8.0") == "cu128"
    assert k.torch_default_cuda("2.9") == "cu128"
    assert k.torch_default_cuda("2.7.1") == "cu126"
    assert k.torch_default_cuda("2.3.0") == "cu121"
    assert k.torch_default_cuda("2.11.0") == "cu130"
    assert k.torch_default_cuda("1.13") is None  # unknown, not guessed
    assert k.torch_default_cuda("garbage") is None


def test_torch_index_urls():
    assert k.torch_index_url("cu121") == "https://download.pytorch.org/whl/cu121"
    assert k.torch_index_url("12.8") == "https://download.pytorch.org/whl/cu128"
    assert k.torch_index_url("rocm") is None
    assert k.torch_variant_from_index_url("https://download.pytorch.org/whl/cu121") == "cu121"
    assert k.torch_variant_from_index_url("https://download.pytorch.org/whl/nightly/cu128/") == "cu128"
    assert k.torch_variant_from_index_url("https://pypi.org/simple") is None


def test_torch_wheel_archs():
    assert "sm_61" not in k.torch_wheel_archs("2.7", "cu128")
    assert "sm_60" not in k.torch_wheel_archs("2.7.0", "cu128")
    assert "sm_60" in k.torch_wheel_archs("2.7", "cu126")
    assert k.torch_wheel_archs("2.8", "cu128")[0] == "sm_70"
    assert k.torch_wheel_archs("2.7", "cu118") is None  # not measured
    assert k.torch_wheel_archs("2.7", "cu121") is None  # not a 2.7 variant
    assert k.torch_wheel_archs("1.13", "cu117") is None


def test_torch_wheel_supports():
    p40 = k.gpu_info("Tesla P40").compute_capability
    assert k.torch_wheel_supports("2.7", "cu128", p40) is False
    assert k.torch_wheel_supports("2.7", "cu126", p40) is True  # sm_60 SASS runs on 6.1
    assert k.torch_wheel_supports("2.3.0", "cu121", "6.1") is True
    assert k.torch_wheel_supports("2.8", "cu128", "6.1") is False
    # V100 (7.0): cu128 works on 2.8-2.10, not on 2.7 or 2.11; never cu130
    assert k.torch_wheel_supports("2.8", "cu128", "7.0") is True
    assert k.torch_wheel_supports("2.10", "cu128", "7.0") is True
    assert k.torch_wheel_supports("2.7", "cu128", "7.0") is False
    assert k.torch_wheel_supports("2.11", "cu128", "7.0") is False
    assert k.torch_wheel_supports("2.9", "cu130", "7.0") is False
    # T4 works with everything listed from 2.7 on
    for version in ("2.7", "2.8", "2.9", "2.10", "2.11", "2.12", "2.14"):
        for variant in k.torch_variants(version):
            assert k.torch_wheel_supports(version, variant, "7.5") in (True, None), (version, variant)
    # PTX compute_120 JIT-compiles for newer GPUs; SASS does not cross majors
    assert k.torch_wheel_supports("2.7", "cu128", "12.1") is True
    assert k.torch_wheel_supports("2.7", "cu126", "12.0") is False
    assert k.torch_wheel_supports("2.7", "cu126", "8.9") is True  # sm_86 SASS runs on 8.9
    # only an unverified entry (sm_37 in cu118) would cover a K80: unknown
    assert k.torch_wheel_supports("2.1", "cu118", "3.7") is None
    assert k.torch_wheel_supports("2.1", "cu121", "3.7") is False
    assert k.torch_wheel_supports("2.0", "cu118", "3.7") is True
    assert k.torch_wheel_supports("2.7", "cu118", "6.1") is None
    assert k.torch_wheel_supports("2.7", "cu126", "x") is None


def test_torch_variant_for_gpu():
    assert k.torch_variant_for_gpu("2.7.1", "6.1") == "cu126"
    assert k.torch_variant_for_gpu("2.3.0", "6.1") == "cu121"
    assert k.torch_variant_for_gpu("2.9", "7.0") == "cu128"
    assert k.torch_variant_for_gpu("2.11", "7.0") == "cu126"
    assert k.torch_variant_for_gpu("2.12", "12.0") == "cu132"
    assert k.torch_variant_for_gpu("2.7", "3.7") is None
    assert k.torch_variant_for_gpu("1.13", "7.5") is None


# ---------------------------------------------------------------------------- system packages


def test_kokoro_needs_espeak_ng():
    reqs = k.system_requirements("kokoro>=0.9.4")
    assert [r.names("debian") for r in reqs] == [("espeak-ng",)]
    assert reqs[0].phase == "run" and reqs[0].strength == "documented"
    assert "espeak-ng" in reqs[0].provides
    assert reqs[0].source.startswith("https://github.com/hexgrad/kokoro")


def test_misaki_wheel_awareness():
    glibc = k.system_requirements("misaki[en]>=0.9.4")
    assert [(r.when, r.strength) for r in glibc] == [("optional", "optional")]
    musl = k.system_requirements("misaki[en]", libc="musl")
    assert ("no_wheel", "required") in [(r.when, r.strength) for r in musl]
    assert any(r.names("alpine") == ("espeak-ng",) for r in musl)
    # without the [en] extra the espeakng-loader requirement does not apply
    assert all(r.extra is None for r in k.system_requirements("misaki", libc="musl"))


def test_soundfile_needs_libsndfile_only_without_wheel():
    assert k.system_requirements("soundfile") == []
    assert k.system_requirements("SoundFile", arch="aarch64") == []
    assert k.system_requirements("soundfile", arch="arm64") == []
    musl = k.system_requirements("soundfile>=0.12", libc="musl")
    assert [r.names("alpine") for r in musl] == [("libsndfile",)]
    assert musl[0].certain
    ppc = k.system_requirements("soundfile", arch="ppc64le")
    assert [r.names("debian") for r in ppc] == [("libsndfile1",)]


def test_opencv_gui_vs_headless():
    reqs = k.system_requirements("opencv-python")
    names = {n for r in reqs for n in r.names("debian")}
    assert {"libgl1", "libglib2.0-0"} <= names
    assert k.system_requirements("opencv_python") == reqs  # PEP 503 normalisation
    assert [r.names("debian") for r in k.system_requirements("opencv-contrib-python")] == [
        r.names("debian") for r in reqs
    ]
    assert k.system_requirements("opencv-python-headless") == []
    info = k.system_package_info("opencv-python")
    assert info.alternatives == ("opencv-python-headless",)
    assert k.system_package_info("opencv-python-headless").headless_of == "opencv-python"
    assert k.system_requirements("opencv-python", libc="musl") == []


def test_psycopg2_and_binary_variant():
    reqs = k.system_requirements("psycopg2==2.9.9")
    by_phase = {r.phase: r for r in reqs}
    assert "libpq-dev" in by_phase["build"].names("debian")
    assert by_phase["run"].names("debian") == ("libpq5",)
    assert by_phase["run"].names("alpine") == ("libpq",)
    assert k.system_requirements("psycopg2-binary") == []
    assert k.system_requirements("psycopg2-binary", libc="musl") == []
    assert k.system_package_info("psycopg2-binary").binary_of == "psycopg2"
    assert "psycopg2-binary" in k.system_package_info("psycopg2").alternatives


@pytest.mark.parametrize(
    ("package", "executable"),
    [
        ("openai-whisper", "ffmpeg"),
        ("pydub", "ffmpeg"),
        ("pdf2image", "pdftoppm"),
        ("pytesseract", "tesseract"),
        ("phonemizer", "espeak-ng"),
    ],
)
def test_packages_that_need_an_executable(package, executable):
    provides = {p for r in k.system_requirements(package) for p in r.provides}
    assert executable in provides


def test_other_packages():
    assert k.system_requirements("moviepy") == []  # imageio-ffmpeg wheel ships ffmpeg
    assert [r.names("alpine") for r in k.system_requirements("moviepy", libc="musl")] == [("ffmpeg",)]
    mysql = k.system_requirements("mysqlclient")
    assert "default-libmysqlclient-dev" in mysql[0].names("debian")
    assert k.system_requirements("PyAudio")[1].names("debian") == ("libportaudio2",)
    assert k.system_requirements("lxml") == []
    assert k.system_requirements("Pillow") == []
    assert "libpango-1.0-0" in k.system_requirements("weasyprint")[0].names("ubuntu")
    graphviz = k.system_requirements("pygraphviz")
    assert [r.phase for r in graphviz] == ["run"] and "libexpat1" in graphviz[0].names("debian")
    assert {r.phase for r in k.system_requirements("pygraphviz", libc="musl")} == {"build", "run"}
    assert k.system_requirements("prisma")[0].provides == ("node",)
    assert k.system_requirements("librosa")[0].strength == "optional"


def test_npm_packages():
    assert k.system_requirements("sharp") == []
    assert k.system_package_info("sharp").ecosystem == "npm"
    canvas_glibc = k.system_requirements("canvas", ecosystem="npm")
    assert canvas_glibc == []
    canvas_musl = k.system_requirements("canvas", libc="musl", ecosystem="npm")
    assert {r.phase for r in canvas_musl} == {"build", "run"}
    assert all(not r.certain for r in canvas_musl)  # the wheel list is not known complete
    assert "libcairo2-dev" in canvas_musl[0].names("debian")


def test_unknown_packages():
    assert k.system_requirements("requests") == []
    assert k.system_package_info("requests") is None
    assert k.system_requirements("") == []


def test_debian_package_name_t64():
    assert k.debian_package_name("libglib2.0-0", "debian", "bookworm") == "libglib2.0-0"
    assert k.debian_package_name("libglib2.0-0", "debian", "trixie") == "libglib2.0-0t64"
    assert k.debian_package_name("libglib2.0-0", "debian", "13") == "libglib2.0-0t64"
    assert k.debian_package_name("libglib2.0-0", "ubuntu", "24.04") == "libglib2.0-0t64"
    assert k.debian_package_name("libglib2.0-0", "ubuntu", "22.04") == "libglib2.0-0"
    assert k.debian_package_name("libgl1", "debian", "trixie") == "libgl1"
    assert k.debian_package_name("libglib2.0-0") == "libglib2.0-0"


# -------------------------------------------------------------------------------- base images


def test_python_slim_vs_full_curl():
    slim = k.base_image_provides("python:3.12-slim")
    full = k.base_image_provides("python:3.12")
    assert slim.has("curl") is False and slim.has("wget") is False
    assert slim.has("python") and slim.has("pip")
    assert slim.package_manager == "apt" and slim.libc == "glibc" and slim.distro == "debian"
    assert full.has("curl") and full.has("wget") and full.has("git") and full.has("gcc")
    assert "libpq-dev" in full.packages
    pinned = k.base_image_provides("python:3.12.12-slim-bookworm")
    assert pinned.python_version == "3.12.12" and pinned.distro_version == "bookworm"
    assert slim.distro_version is None  # floating default Debian release


def test_alpine_has_busybox_wget_but_no_curl():
    for ref in ("alpine:3.20", "python:3.12-alpine", "node:20-alpine", "nginx:alpine-slim"):
        facts = k.base_image_provides(ref)
        assert facts.has("wget") is True, ref
        assert facts.has("curl") is False, ref
        assert facts.libc == "musl" and facts.package_manager == "apk"
    assert k.base_image_provides("alpine:3.20").has("bash") is False
    assert k.base_image_provides("nginx:1.27-alpine").has("curl") is True  # nginx adds curl


def test_node_images():
    slim = k.base_image_provides("node:20-slim")
    assert slim.has("curl") is False and slim.has("npm") and slim.has("npx")
    assert slim.node_version == "20" and slim.python is False
    assert slim.ca_certificates is False
    full = k.base_image_provides("node:20")
    assert full.has("curl") and full.has("git")
    assert full.has("yarn") and full.has("corepack")
    assert k.base_image_provides("node:26-alpine").has("yarn") is None  # sources disagree
    assert k.base_image_provides("node:26").has("corepack") is None
    assert k.base_image_provides("node:iron-bookworm-slim").node_version == "20"
    assert k.base_image_provides("node:lts-alpine").node_version is None


def test_cuda_images():
    runtime = k.base_image_provides("nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04")
    assert runtime.python is False and runtime.has("python3") is False
    assert runtime.has("curl") is False and runtime.has("nvcc") is False
    assert runtime.distro == "ubuntu" and runtime.distro_version == "22.04"
    assert runtime.cuda_version == "12.1.1"
    devel = k.base_image_provides("nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04")
    assert devel.has("nvcc") is True and devel.has("gcc") is None
    assert k.base_image_provides("nvidia/cuda:12.1.1-base-ubuntu22.04").profile == "cuda-base"
    # the seed's non-existent tag still describes an Ubuntu runtime image
    assert k.base_image_provides("nvidia/cuda:" + SEED_TAG).profile == "cuda-runtime"
    assert k.base_image_provides("nvidia/cuda:12.1.1-runtime-rockylinux9") is None


def test_other_images():
    uv = k.base_image_provides("ghcr.io/astral-sh/uv:0.9.24")
    assert uv.executables == frozenset({"uv", "uvx"}) and uv.has("sh") is False
    uvpy = k.base_image_provides("ghcr.io/astral-sh/uv:python3.12-bookworm-slim")
    assert uvpy.has("uv") and uvpy.has("python") and uvpy.python_version == "3.12"
    assert uvpy.has("curl") is False
    assert k.base_image_provides("ghcr.io/astral-sh/uv:bookworm-slim").python is False
    torch = k.base_image_provides("pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime")
    assert torch.has("python") and torch.has("conda") and torch.has("nvcc") is False
    assert k.base_image_provides("pytorch/pytorch:2.3.0-cuda12.1-cudnn8-devel").has("nvcc")
    assert k.base_image_provides("ubuntu:22.04").has("curl") is False
    assert k.base_image_provides("debian:bookworm-slim").ca_certificates is False
    assert k.base_image_provides("nginx:1.27").has("curl") is True
    assert k.base_image_provides("gcr.io/distroless/python3-debian12:nonroot").has("sh") is False
    assert k.base_image_provides("gcr.io/distroless/static-debian12:debug").has("sh") is True
    assert k.base_image_provides("busybox").has("wget") is True
    assert k.base_image_provides("scratch").has("sh") is False


def test_unknown_images_are_none():
    assert k.base_image_provides("postgres:16") is None
    assert k.base_image_provides("python:3.12-windowsservercore-ltsc2022") is None
    assert k.base_image_provides("${BASE_IMAGE}") is None
    assert k.base_image_provides("python@sha256:abc") is None
    assert k.base_image_provides("myregistry.example.com/python:3.12") is None


# ------------------------------------------------------------------------------- end of life


def test_python_eol():
    info = k.eol_status("python:3.8-slim", TODAY)
    assert (info.product, info.version, info.is_eol) == ("python", "3.8", True)
    assert info.eol == dt.date(2024, 10, 7)
    assert info.replacement == "3.14"
    assert k.eol_status("python:3.9-slim", TODAY).eol == dt.date(2025, 10, 31)  # "2025-10": month end
    assert k.eol_status("python:3.12-slim", TODAY).status == "supported"
    assert k.eol_status("python:3.12-slim", dt.date(2029, 1, 1)).is_eol
    assert k.eol_status("python:3.10", dt.date(2026, 10, 31)).status == "supported"
    assert k.eol_status("python:3.10", dt.date(2026, 11, 1)).is_eol


def test_node_eol():
    assert k.eol_status("node:16", TODAY).eol == dt.date(2023, 9, 11)
    assert k.eol_status("node:18-alpine", TODAY).eol == dt.date(2025, 4, 30)
    assert k.eol_status("node:20-slim", dt.date(2026, 4, 30)).status == "extended"
    assert k.eol_status("node:20-slim", dt.date(2026, 5, 1)).is_eol
    node22 = k.eol_status("node:22", TODAY)
    assert node22.status == "extended" and node22.replacement == "26"
    assert k.eol_status("node:iron-alpine", TODAY).version == "20"


def test_distro_eol():
    bullseye = k.eol_status("debian:bullseye-slim", TODAY)
    assert (bullseye.product, bullseye.version, bullseye.eol, bullseye.is_eol) == (
        "debian",
        "11",
        dt.date(2026, 8, 31),
        True,
    )
    assert bullseye.replacement == "13"
    assert k.eol_status("debian:12", TODAY).status == "extended"  # LTS phase
    assert k.eol_status("debian:buster", TODAY).is_eol
    ubuntu = k.eol_status("ubuntu:20.04", TODAY)
    assert ubuntu.eol == dt.date(2025, 5, 31) and ubuntu.is_eol and ubuntu.replacement == "24.04"
    assert k.eol_status("ubuntu:18.04", TODAY).is_eol
    assert k.eol_status("ubuntu:jammy", TODAY).status == "supported"
    assert k.eol_status("alpine:3.19", TODAY).is_eol
    assert k.eol_status("alpine:3.21.3", TODAY).is_eol  # main repository support ended 2026-11-01
    assert k.eol_status("alpine:3.21.3", dt.date(2026, 11, 1)).status == "supported"
    assert k.eol_status("alpine:3.22", TODAY).status == "supported"
    assert k.eol_status("nvidia/cuda:11.8.0-runtime-ubuntu20.04", TODAY).version == "20.04"


def test_eol_statuses_lists_runtime_and_distro():
    statuses = k.eol_statuses("python:3.9-slim-bullseye", TODAY)
    assert [(s.product, s.is_eol) for s in statuses] == [("python", True), ("debian", True)]
    first = k.eol_status("python:3.12-slim-bullseye", TODAY)
    assert first.product == "debian"  # Python is supported, Debian 11 is not


def test_eol_unknown_and_floating():
    assert k.eol_status("python:3", TODAY) is None
    assert k.eol_status("node:lts", TODAY) is None
    assert k.eol_status("postgres:13", TODAY) is None
    assert k.eol_status("python:3.12-slim") is not None  # default: today's date

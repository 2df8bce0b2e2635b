"""Edge cases of the CUDA / driver / GPU / PyTorch rules (DA601-DA612) beyond the catalog examples."""

from __future__ import annotations

import pytest

from dockaudit.checks.gpu import _alloc_conf_error, _poetry_to_pep440
from dockaudit.findings import Severity

P40_525 = '[gpu]\ndriver = "525.105.17"\ndevices = ["Tesla P40"]\n'


def hits(result, rule):
    return [f for f in result.findings if f.rule == rule and f.suppression is None]


# --- DA601 / DA602 ---------------------------------------------------------------------------


def test_unknown_tag_through_compose_build_args(scan):
    result = scan(
        {
            "Dockerfile": "ARG TAG=12.4.1-runtime-ubuntu22.04\nFROM nvidia/cuda:${TAG}\n",
            "compose.yaml": "services:\n  w:\n    build:\n      context: .\n      args:\n"
            "        TAG: 12.4.1-cudnn9-runtime-ubuntu22.04\n",
        },
        select=("DA601",),
    )
    found = hits(result, "DA601")
    assert len(found) == 1
    assert found[0].span.path == "Dockerfile" and found[0].span.line == 2
    assert "12.4.1-cudnn-runtime-ubuntu22.04" in found[0].message
    assert any(r.span.path == "compose.yaml" for r in found[0].related)


def test_unknown_tag_message_names_the_real_tag(scan):
    result = scan(
        {"Dockerfile": "FROM nvidia/cuda:12.1.1-cudnn-runtime-ubuntu22.04 AS base\n"}, select=("DA601",)
    )
    (finding,) = hits(result, "DA601")
    assert "`12.1.1-cudnn8-runtime-ubuntu22.04`" in finding.message
    assert finding.fix == "FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"


@pytest.mark.parametrize(
    "dockerfile",
    [
        "ARG CUDA\nFROM nvidia/cuda:${CUDA}-runtime-ubuntu22.04\n",
        "FROM nvidia/cuda@sha256:" + "a" * 64 + "\n",
        "FROM python:3.12-slim\n",
        "FROM nvcr.io/nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04\n",
    ],
)
def test_tag_rules_stay_quiet(scan, dockerfile):
    result = scan({"Dockerfile": dockerfile}, select=("DA601", "DA602"))
    assert not hits(result, "DA601") and not hits(result, "DA602")


def test_eol_tag_replacement_keeps_flavour_and_os(scan):
    result = scan({"Dockerfile": "FROM nvidia/cuda:12.2.0-devel-ubuntu22.04\n"}, select=("DA602",))
    (finding,) = hits(result, "DA602")
    assert "12.2.2-devel-ubuntu22.04" in finding.message


# --- DA603 / DA604 / DA605 -------------------------------------------------------------------


def test_driver_too_old_is_the_review_report_case(scan):
    result = scan(
        {
            ".dockaudit.toml": P40_525,
            "Dockerfile": 'FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04\nCMD ["python3"]\n',
        },
        select=("DA603",),
    )
    (finding,) = hits(result, "DA603")
    assert finding.severity == Severity.ERROR
    assert "530.30.02" in finding.message and "CUDA 12.0 or 11.8" in finding.message
    assert "12.0.1-cudnn8-runtime-ubuntu22.04" in finding.message
    assert [r.span.path for r in finding.related] == [".dockaudit.toml"]
    assert finding.related[0].span.line == 2


def test_driver_from_the_command_line(scan):
    result = scan(
        {"Dockerfile": "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\n"},
        select=("DA603",),
        gpu_driver="535.183.01",
    )
    (finding,) = hits(result, "DA603")
    assert "--gpu-driver" in finding.message and not finding.related


def test_forward_compatibility_on_a_supported_branch_is_a_warning(scan):
    result = scan(
        {
            ".dockaudit.toml": '[gpu]\ndriver = "580.95.05"\ndevices = ["NVIDIA A100"]\n',
            "Dockerfile": "FROM nvidia/cuda:13.1.0-runtime-ubuntu24.04\n",
        },
        select=("DA603",),
    )
    (finding,) = hits(result, "DA603")
    assert finding.severity == Severity.WARNING
    assert "forward compatibility" in finding.message


def test_forward_compatibility_needs_datacenter_gpus(scan):
    result = scan(
        {
            ".dockaudit.toml": '[gpu]\ndriver = "580.95.05"\ndevices = ["RTX 4090"]\n',
            "Dockerfile": "FROM nvidia/cuda:13.1.0-runtime-ubuntu24.04\n",
        },
        select=("DA603",),
    )
    (finding,) = hits(result, "DA603")
    assert finding.severity == Severity.ERROR


def test_driver_check_skips_builder_stages_and_compose_targets_count(scan):
    files = {
        ".dockaudit.toml": '[gpu]\ndriver = "535.183.01"\n',
        "Dockerfile": (
            "FROM nvidia/cuda:12.8.1-devel-ubuntu22.04 AS build\nRUN nvcc --version\n"
            'FROM nvidia/cuda:12.9.1-runtime-ubuntu22.04 AS gpu-test\nCMD ["pytest"]\n'
            "FROM nvidia/cuda:12.2.2-runtime-ubuntu22.04 AS runtime\n"
            "COPY --from=build /usr/local/cuda/version.json /x\n"
        ),
        "compose.yaml": "services:\n  app:\n    build:\n      context: .\n      target: runtime\n",
    }
    result = scan(files, select=("DA603",))
    assert not hits(result, "DA603")


def test_arch_unsupported_kepler_on_cuda12(scan):
    result = scan(
        {
            ".dockaudit.toml": '[gpu]\ndriver = "470.256.02"\ndevices = ["Tesla K80"]\n',
            "Dockerfile": "FROM nvidia/cuda:12.2.2-runtime-ubuntu22.04\n",
        },
        select=("DA604",),
    )
    (finding,) = hits(result, "DA604")
    assert "Kepler" in finding.message and "sm_50" in finding.message
    assert "CUDA 11." in finding.message


def test_arch_with_pytorch_wheels_in_a_runtime_image_is_a_warning(scan):
    result = scan(
        {
            ".dockaudit.toml": '[gpu]\ndriver = "580.95.05"\ndevices = ["Tesla P40"]\n',
            "Dockerfile": (
                "FROM nvidia/cuda:13.0.2-runtime-ubuntu24.04\n"
                "RUN pip install torch==2.7.1 --index-url https://download.pytorch.org/whl/cu126\n"
            ),
        },
        select=("DA604", "DA607"),
    )
    (finding,) = hits(result, "DA604")
    assert finding.severity == Severity.WARNING and "DA607" in finding.message
    assert not hits(result, "DA607")


def test_driver_note_once_per_image(scan):
    result = scan(
        {
            "Dockerfile": "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\n",
            "compose.yaml": "services:\n  a:\n    build: .\n  b:\n    build: .\n",
        },
        select=("DA605",),
    )
    (finding,) = hits(result, "DA605")
    assert "550.54.14" in finding.message and ".dockaudit.toml" in finding.message


# --- DA606 / DA607 ---------------------------------------------------------------------------


def test_torch_local_pin_needs_newer_driver(scan):
    result = scan(
        {
            ".dockaudit.toml": '[gpu]\ndriver = "470.82.01"\n',
            "requirements/gpu.txt": "--extra-index-url https://download.pytorch.org/whl/cu121\ntorch==2.3.1+cu121\n",
            "Dockerfile": "FROM python:3.11-slim\nCOPY requirements/ /tmp/req/\n"
            "RUN pip install -r /tmp/req/gpu.txt\n",
        },
        select=("DA606",),
    )
    (finding,) = hits(result, "DA606")
    assert finding.span.path == "requirements/gpu.txt" and finding.span.line == 2
    assert "cu118" in finding.message


def test_torch_cu12_on_driver_525_is_fine(scan):
    result = scan(
        {
            ".dockaudit.toml": P40_525,
            "Dockerfile": "FROM python:3.11-slim\nRUN pip install torch==2.4.1 --index-url https://download.pytorch.org/whl/cu124\n",
        },
        select=("DA606", "DA607"),
    )
    assert not result.active()


def test_uv_torch_backend(scan):
    result = scan(
        {
            ".dockaudit.toml": '[gpu]\ndriver = "570.172.08"\ndevices = ["Tesla V100"]\n',
            "Dockerfile": "FROM python:3.12-slim\n"
            "RUN uv pip install --system torch==2.9.0 --torch-backend=cu130\n",
        },
        select=("DA606", "DA607"),
    )
    assert hits(result, "DA606") and hits(result, "DA607")


def test_unpinned_torch_all_releases_fail_keeps_error(scan):
    result = scan(
        {
            ".dockaudit.toml": '[gpu]\ndevices = ["Tesla P40"]\n',
            "Dockerfile": "FROM python:3.12-slim\n"
            "RUN pip install 'torch>=2.7' --index-url https://download.pytorch.org/whl/cu128\n",
        },
        select=("DA607",),
    )
    (finding,) = hits(result, "DA607")
    assert finding.severity == Severity.ERROR and "not pinned" in finding.message


def test_unpinned_torch_only_newest_fails_is_a_heuristic_warning(scan):
    result = scan(
        {
            ".dockaudit.toml": '[gpu]\ndevices = ["Tesla P40"]\n',
            "requirements.txt": "torch>=2.1\n",
            "Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\n"
            "RUN pip install -r requirements.txt\n",
        },
        select=("DA607",),
    )
    (finding,) = hits(result, "DA607")
    assert finding.severity == Severity.WARNING and "heuristic" in finding.message


def test_unpinned_torch_that_works_everywhere_is_quiet(scan):
    result = scan(
        {
            ".dockaudit.toml": '[gpu]\ndevices = ["NVIDIA L4"]\n',
            "Dockerfile": "FROM python:3.12-slim\nRUN pip install torch\n",
        },
        select=("DA607",),
    )
    assert not hits(result, "DA607")


def test_pytorch_image_tag_counts_as_a_wheel(scan):
    result = scan(
        {
            ".dockaudit.toml": '[gpu]\ndevices = ["Tesla P40"]\n',
            "Dockerfile": "FROM pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime\n",
        },
        select=("DA607",),
    )
    (finding,) = hits(result, "DA607")
    assert finding.span.line == 1 and "cu126" in finding.message


def test_uv_extra_picks_the_variant(scan):
    pyproject = (
        '[project]\nname = "tts"\nversion = "1"\ndependencies = ["fastapi"]\n'
        "[project.optional-dependencies]\n"
        'gpu = ["torch==2.8.0+cu126"]\nblackwell = ["torch==2.8.0+cu128"]\ncpu = ["torch==2.8.0"]\n'
        '[tool.uv]\nconflicts = [[{ extra = "gpu" }, { extra = "blackwell" }, { extra = "cpu" }]]\n'
        "[tool.uv.sources]\ntorch = [\n"
        '  { index = "cu126", extra = "gpu" },\n  { index = "cu128", extra = "blackwell" },\n'
        '  { index = "cpu", extra = "cpu" },\n]\n'
        '[[tool.uv.index]]\nname = "cu126"\nurl = "https://download.pytorch.org/whl/cu126"\nexplicit = true\n'
        '[[tool.uv.index]]\nname = "cu128"\nurl = "https://download.pytorch.org/whl/cu128"\nexplicit = true\n'
        '[[tool.uv.index]]\nname = "cpu"\nurl = "https://download.pytorch.org/whl/cpu"\nexplicit = true\n'
    )
    files = {
        ".dockaudit.toml": '[gpu]\ndevices = ["Tesla P40"]\n',
        "pyproject.toml": pyproject,
        "Dockerfile": "FROM python:3.12-slim\nARG EXTRA=blackwell\nWORKDIR /app\nCOPY pyproject.toml ./\n"
        "RUN uv sync --extra ${EXTRA}\n",
    }
    (finding,) = hits(scan(files, select=("DA607",)), "DA607")
    assert finding.span.path == "pyproject.toml" and finding.span.line == 7
    files["Dockerfile"] = files["Dockerfile"].replace("EXTRA=blackwell", "EXTRA=gpu")
    assert not hits(scan(files, select=("DA607",)), "DA607")


def test_requirements_file_rewritten_by_run_is_not_trusted(scan):
    result = scan(
        {
            ".dockaudit.toml": '[gpu]\ndevices = ["Tesla P40"]\n',
            "requirements.txt": "torch==2.9.0\n",
            "requirements-rocm.txt": "torch==2.9.0+rocm6.4\n",
            "Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY requirements*.txt /app/\n"
            "RUN mv requirements-rocm.txt requirements.txt\nRUN pip install -r requirements.txt\n",
        },
        select=("DA607",),
    )
    assert not hits(result, "DA607")


def test_requirements_through_bind_mount(scan):
    result = scan(
        {
            ".dockaudit.toml": '[gpu]\ndevices = ["Tesla P4"]\n',
            "deps/requirements.txt": "torch==2.8.0\n",
            "Dockerfile": "FROM python:3.12-slim\n"
            "RUN --mount=type=bind,source=deps/requirements.txt,target=/tmp/r.txt \\\n"
            "  pip install -r /tmp/r.txt\n",
        },
        select=("DA607",),
    )
    (finding,) = hits(result, "DA607")
    assert finding.span.path == "deps/requirements.txt"


def test_poetry_version_constraints():
    assert _poetry_to_pep440("^2.1") == ">=2.1,<3"
    assert _poetry_to_pep440("~2.3") == ">=2.3,<2.4"
    assert _poetry_to_pep440("2.3.0") == "==2.3.0"
    assert _poetry_to_pep440("*") == ""
    assert _poetry_to_pep440(">=2.1,<2.4") == ">=2.1,<2.4"


# --- DA608 -----------------------------------------------------------------------------------


def test_extension_build_quiet_without_a_build(scan):
    result = scan(
        {"Dockerfile": "FROM nvidia/cuda:12.1.1-devel-ubuntu22.04\nRUN pip3 install torch==2.8.0\n"},
        select=("DA608",),
    )
    assert not hits(result, "DA608")


def test_extension_build_in_a_later_stage_reports_once(scan):
    result = scan(
        {
            "Dockerfile": (
                "FROM nvidia/cuda:12.4.1-devel-ubuntu22.04 AS torch\nRUN pip3 install torch==2.7.1\n"
                "FROM torch AS kernels\nENV TORCH_CUDA_ARCH_LIST=8.0\n"
                "FROM kernels AS flash\nRUN pip3 install --no-build-isolation flash-attn==2.7.4.post1\n"
                "FROM kernels AS ext\nRUN python3 setup.py build_ext\n"
            )
        },
        select=("DA608",),
    )
    (finding,) = hits(result, "DA608")
    assert finding.span.line == 6 and "more build step" in finding.message


# --- DA609 / DA610 ---------------------------------------------------------------------------

RESERVE = (
    "    deploy:\n      resources:\n        reservations:\n          devices:\n"
    "            - driver: nvidia\n              count: 1\n              capabilities: [gpu]\n"
)


def test_sibling_without_own_command_is_reported(scan):
    result = scan(
        {
            "Dockerfile": 'FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\nCMD ["python3", "-m", "worker"]\n',
            "compose.yaml": "services:\n  a:\n    build: .\n" + RESERVE + "  b:\n    build: .\n",
        },
        select=("DA609",),
    )
    (finding,) = hits(result, "DA609")
    assert finding.span.line == 11  # service b


def test_cpu_services_are_left_alone(scan):
    result = scan(
        {
            "Dockerfile": "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\n",
            "compose.yaml": "services:\n  tts-cpu:\n    build: .\n"
            "  tts:\n    build: .\n    image: tts:1.0-cpu\n",
        },
        select=("DA609",),
    )
    assert not hits(result, "DA609")


def test_amd_devices_count_as_a_reservation(scan):
    result = scan(
        {
            "compose.yaml": "services:\n  a:\n    image: rocm/pytorch:latest\n    environment:\n"
            "      DEVICE: cuda\n    devices:\n      - /dev/kfd\n      - /dev/dri\n"
        },
        select=("DA609",),
    )
    assert not hits(result, "DA609")


def test_visible_devices_from_dockerfile_env(scan):
    result = scan(
        {
            "Dockerfile": "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\nENV CUDA_VISIBLE_DEVICES=1\n",
            "compose.yaml": "services:\n  a:\n    build: .\n" + RESERVE,
        },
        select=("DA610",),
    )
    (finding,) = hits(result, "DA610")
    assert finding.span.path == "Dockerfile" and finding.span.line == 2


def test_visible_devices_overridden_by_compose(scan):
    result = scan(
        {
            "Dockerfile": "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\nENV CUDA_VISIBLE_DEVICES=1\n",
            "compose.yaml": "services:\n  a:\n    build: .\n"
            "    environment:\n      CUDA_VISIBLE_DEVICES: '0'\n"
            + RESERVE,
        },
        select=("DA610",),
    )
    assert not hits(result, "DA610")


def test_count_all_is_not_checked(scan):
    result = scan(
        {
            "compose.yaml": "services:\n  a:\n    image: x/y:1\n    environment:\n"
            "      CUDA_VISIBLE_DEVICES: '3'\n" + RESERVE.replace("count: 1", "count: all")
        },
        select=("DA610",),
    )
    assert not hits(result, "DA610")


# --- DA611 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "expandable_segments:True",
        "max_split_size_mb:512,garbage_collection_threshold:0.6",
        " max_split_size_mb : 128 , expandable_segments:False ",
        "roundup_power2_divisions:4",
        "roundup_power2_divisions:[256:1,512:2,1024:4,>:8]",
        "backend:cudaMallocAsync",
        "pinned_use_cuda_host_register:True,pinned_num_register_threads:8",
        "release_lock_on_cudamalloc:True",
    ],
)
def test_alloc_conf_valid(value):
    assert _alloc_conf_error(value) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("expandable_segments:true", "True"),
        ("max_split_size_mb=512", "max_split_size_mb:512"),
        ("max_split_size_mb:10", "at least 20"),
        ("garbage_collection_threshold:1", "less than 1"),
        ("garbage_collection_threshold:abc", "between 0 and 1"),
        ("backend:cudaMalloc", "cudaMallocAsync"),
        ("roundup_power2_divisions:3", "power of 2"),
        ("roundup_power2_divisions:[256:3]", "power of 2"),
        ("roundup_power2_divisions:[256:4", "not closed"),
        ("max_split_size_mb", "needs a value"),
        ("max_split_size_mb:", "no value"),
        ("expandable_segment:True", "expandable_segments"),
        ("max_split_size_mb:512;expandable_segments:True", "expected `,`"),
        ("pinned_num_register_threads:3", "power of 2"),
        ("expandable_segments:True,", "ends with"),
    ],
)
def test_alloc_conf_errors(value, words):
    error = _alloc_conf_error(value)
    assert error is not None and words in error


def test_alloc_conf_from_dotenv_is_reported_once(scan):
    result = scan(
        {
            ".env": "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:yes\n",
            "compose.yaml": "services:\n  a:\n    image: x/y:1\n    environment:\n"
            "      PYTORCH_CUDA_ALLOC_CONF: ${PYTORCH_CUDA_ALLOC_CONF}\n",
        },
        select=("DA611",),
    )
    found = hits(result, "DA611")
    assert [f.span.path for f in found] == [".env"]


# --- DA612 -----------------------------------------------------------------------------------


def test_unknown_device_from_the_command_line(scan):
    result = scan({"Dockerfile": "FROM python:3.12-slim\n"}, select=("DA612",), gpu_devices=("Tesla P41",))
    (finding,) = hits(result, "DA612")
    assert "Tesla P4" in finding.message


def test_known_devices_are_quiet(scan):
    result = scan(
        {".dockaudit.toml": '[gpu]\ndevices = ["NVIDIA A100-SXM4-80GB", "nvidia-tesla-p40", "L40S"]\n'},
        select=("DA612",),
    )
    assert not hits(result, "DA612")

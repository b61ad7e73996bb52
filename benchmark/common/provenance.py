"""Where a result came from: code version, package versions, machine and device."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a device is described: git_commit needs none
    import torch

PACKAGES = ("petl-bench", "torch", "torchvision", "timm", "peft", "optuna", "numpy", "scipy",
            "scikit-learn", "pandas")
NUMERIC_PACKAGES = PACKAGES[1:]  # whose release can move a published number (the suite's own is its commit)
CONSTRAINTS_FILE = "constraints.txt"  # their versions that made the published results (the install pins them)


OUTPUTS = "results"  # the published folders: what the code writes, not the code; their changes make no checkout dirty


def git_commit(path: Path | None = None) -> dict:
    """The commit of the suite's checkout, and whether it had uncommitted changes (outside ``results/``, which
    holds published outputs: publishing several folders one after the other leaves the first ones changed)."""
    path = path or Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                     f":(exclude){OUTPUTS}"], cwd=path,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def version_differences(recorded: dict | None) -> list[str]:
    """The :data:`NUMERIC_PACKAGES` whose installed version is not the one a result ``recorded`` (its provenance's
    ``versions``), each as "peft 0.22.0 is installed, 0.21.2 made it"; a package the record lacks is not compared."""
    here = package_versions()
    return [f"{name} {here[name]} is installed, {recorded[name]} made it" for name in NUMERIC_PACKAGES
            if (recorded or {}).get(name) and here.get(name) != recorded[name]]


def device_description(device: torch.device) -> dict:
    import torch

    info = {"device": str(device), "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    else:
        info["processor"] = platform.processor() or platform.machine()
        info.update(cpu_arithmetic())
    return info


def cpu_arithmetic() -> dict:
    """What decides the CPU's floating-point results beyond the code and the packages: the CPU's model and the
    instruction set that torch's kernels use (``cpu_capability``: AVX512, AVX2, ...). Training that is not convex
    amplifies a last-bit difference, so a study reproduces exactly only where these match (docs/usage.md)."""
    import torch

    model = None
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), None)
    except OSError:
        pass
    return {"cpu_model": model or platform.processor() or None,
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def provenance(device: torch.device) -> dict:
    return {"code": git_commit(), "versions": package_versions(), "machine": device_description(device),
            "command": " ".join(sys.argv)}

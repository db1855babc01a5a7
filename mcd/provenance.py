"""Where a result came from: the code's commit, the package versions, the machine and the seed.

Written beside every result (a run's ``env.json``, the kept results bundle) so that a number can be traced back."""
from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path


def git_commit() -> str:
    """The commit of the code that produced a result, marked '-dirty' if the tree had uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha + ("-dirty" if dirty else "")) if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment_info(seed: int | None = None) -> dict:
    import numpy
    import torch

    import mcd
    return {
        "seed": seed,
        "mcd": mcd.__version__,
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


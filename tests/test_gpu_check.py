"""scripts/gpu_check.sh: what can be checked without a GPU (its syntax, and its one-line refusal)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"


def test_gpu_check_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_gpu_check_refuses_in_one_line_without_cuda(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out")}
    r = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=120)
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert r.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("gpu_check:") and "CUDA is not available" in lines[0]
    assert not (tmp_path / "out").exists()   # nothing started

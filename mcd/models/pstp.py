"""PLACEHOLDER: PSTP-Net (issue 4)."""
from dataclasses import dataclass


@dataclass
class PSTPConfig:
    dim: int = 512

"""PLACEHOLDER: being written (issue 3). MCD model."""
from dataclasses import dataclass


@dataclass
class MCDConfig:
    dim: int = 512

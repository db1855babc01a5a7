"""PLACEHOLDER: AVST (issue 4)."""
from dataclasses import dataclass


@dataclass
class AVSTConfig:
    dim: int = 512

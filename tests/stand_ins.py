"""Stand-ins for models at the analyzer seams: the explicit-content path is tested with these,
never with explicit images."""

from __future__ import annotations

import numpy as np


class FixedScorer:
    """Stand-in whole-image model (Open-NSFW's place): returns the score it was given."""

    model_sha256 = "0" * 64

    def __init__(self, value: float) -> None:
        self.value = value

    def score(self, rgb: np.ndarray) -> float:
        return self.value

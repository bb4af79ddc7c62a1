"""What the derivation pass keeps of each picture between runs: ORB keypoints, their mirror
set and the radial power profile (stored by ``store.links_store``, computed by
``derivation.features``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ImageFeatures:
    sha256: str
    width: int  # oriented picture, in file pixels
    height: int
    work_scale: float  # work pixels per file pixel
    points: np.ndarray  # (n, 2) float32, work coordinates
    descriptors: np.ndarray  # (n, 32) uint8 ORB
    mirror_points: np.ndarray  # (m, 2) float32, work coordinates of the un-mirrored picture
    mirror_descriptors: np.ndarray  # (m, 32) uint8
    profile: np.ndarray | None  # (PROFILE_BINS,) float32 radial power shares; None: not measured
    profile_scale: float = 1.0  # decoded pixels per file pixel where the profile was measured

    @property
    def work_size(self) -> tuple[int, int]:
        return (
            max(1, round(self.width * self.work_scale)),
            max(1, round(self.height * self.work_scale)),
        )

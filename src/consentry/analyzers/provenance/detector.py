"""The optional operator-provided ONNX classifier: one more provenance signal, never a verdict.

consentry ships no weights and downloads none. Its score counts as "indicated" at most (see
``policy``): a learned detector is a guess, and one the operator brings was not validated by us.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from consentry.analyzers.models import ModelUnavailable
from consentry.records.file_hash import sha256_of_file

# An operator-provided detector's score at or above this counts as "indicated" (never confirmed:
# a learned detector is a guess, and this one was not validated by us).
DETECTOR_THRESHOLD = 0.5


@dataclass(frozen=True)
class DetectorScore:
    score: float
    threshold: float
    model_sha256: str
    model_name: str


class OnnxDetector:
    """An operator-provided ONNX classifier ("is this AI-generated?"): one more signal.

    consentry ships no weights and downloads none; the operator passes a file and its SHA-256 is
    recorded with every score. The model contract, stated so a model can be exported to fit it:

    - input: the first graph input, rank 4, float32, RGB scaled to [0, 1] (then ``(x - mean) /
      std`` if given), NCHW when dimension 1 is 3, else NHWC; spatial size from the graph, or
      ``default_side`` where it is symbolic. The picture fed is the scan's analysis image
      (<= 512 px), resized with area averaging.
    - output: the first graph output with 1 value (P(AI); a value outside [0, 1] is taken as a
      logit) or 2 values (``positive_index`` is the AI class; softmax applied unless the pair
      already sums to 1).
    """

    def __init__(
        self,
        path: str | Path,
        threshold: float = DETECTOR_THRESHOLD,
        positive_index: int = 1,
        mean: tuple[float, float, float] | None = None,
        std: tuple[float, float, float] | None = None,
        default_side: int = 224,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelUnavailable(str(self.path), "detector model file not found")
        self.model_sha256 = sha256_of_file(self.path)
        self.name = self.path.name
        self.threshold = float(threshold)
        self.positive_index = int(positive_index)
        self._mean = np.asarray(mean or (0.0, 0.0, 0.0), np.float32)
        self._std = np.asarray(std or (1.0, 1.0, 1.0), np.float32)
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelUnavailable(self.name, f"onnxruntime is not installed: {exc}") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # the scan parallelises across processes
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises untyped errors
            raise ModelUnavailable(self.name, f"onnxruntime cannot load it: {exc}") from None
        spec = self._session.get_inputs()[0]
        shape = list(spec.shape)
        if len(shape) != 4:
            raise ModelUnavailable(self.name, f"expected a rank-4 image input, got {shape}")
        self._input = spec.name
        self._nchw = shape[1] == 3
        if not self._nchw and shape[3] != 3:
            raise ModelUnavailable(self.name, f"no 3-channel axis in input shape {shape}")
        h, w = (shape[2], shape[3]) if self._nchw else (shape[1], shape[2])
        self._side = (
            h if isinstance(h, int) else default_side,
            w if isinstance(w, int) else default_side,
        )

    def score(self, rgb: np.ndarray) -> float:
        import cv2

        resized = cv2.resize(
            np.ascontiguousarray(rgb), (self._side[1], self._side[0]), interpolation=cv2.INTER_AREA
        )
        x = (resized.astype(np.float32) / 255.0 - self._mean) / self._std
        batch = (x.transpose(2, 0, 1) if self._nchw else x)[np.newaxis]
        output = np.asarray(
            self._session.run(None, {self._input: np.ascontiguousarray(batch, np.float32)})[0],
            dtype=np.float64,
        ).reshape(-1)
        if output.size == 1:
            value = float(output[0])
            return value if 0.0 <= value <= 1.0 else 1.0 / (1.0 + math.exp(-value))
        if output.size == 2:
            if not (np.all((output >= 0) & (output <= 1)) and abs(output.sum() - 1) < 1e-3):
                exp = np.exp(output - output.max())
                output = exp / exp.sum()
            return float(output[self.positive_index])
        raise ValueError(f"detector output has {output.size} values; expected 1 or 2")

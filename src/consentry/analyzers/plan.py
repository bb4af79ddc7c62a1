"""What a scan asks of the analyzers: which ones run, where their pictures go, and the settings
of those that take any. Handed to every analyzer's ``load`` (``analyzers.contract``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ProvenanceSettings:
    """How the provenance analyzer is configured for a scan."""

    detector_model: str | None = None  # an operator-provided ONNX classifier, one more signal
    watermarks_in_jpeg: bool = False  # decode JPEGs at full size for the watermark check too
    # C2PA trust anchors as checked PEM text (scan --c2pa-trust-anchors; the file is read once,
    # so what is hashed and recorded is what the readers use)
    c2pa_trust_anchors_pem: str | None = field(default=None, repr=False)

    @property
    def c2pa_trust_anchors_sha256(self) -> str | None:
        import hashlib

        pem = self.c2pa_trust_anchors_pem
        return hashlib.sha256(pem.encode("utf-8")).hexdigest() if pem else None

    def findings_model_key(self) -> str | None:
        """The ``model_sha256`` provenance findings made under these settings carry: another
        detector or other trust anchors redo them (``analyzers.provenance.findings_model_key``)."""
        from consentry.analyzers.provenance import findings_model_key
        from consentry.records.file_hash import sha256_of_file

        model = self.detector_model
        return findings_model_key(
            sha256_of_file(Path(model)) if model else None, self.c2pa_trust_anchors_sha256
        )


@dataclass(frozen=True)
class AnalysisPlan:
    analyzers: frozenset[str]  # registered analyzer names (analyzers.registry)
    case_dir: str | None = None  # where thumbnails and face crops go; None: write nothing
    provenance: ProvenanceSettings = ProvenanceSettings()


__all__ = ["AnalysisPlan", "ProvenanceSettings"]

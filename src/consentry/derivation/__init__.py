"""Derivation linking (issue 5): which image in a case was made from which other image, what
changed, and whether the face is still the same person. Entry point: ``link_derivations``."""

from .link_pass import LinkOutcome, link_derivations

__all__ = ["LinkOutcome", "link_derivations"]

"""Derivation linking (issue 5): which image in a case was made from which other image, what
changed, and whether the face is still the same person. Entry point:
``derivation.link_pass.link_derivations``; the steps it runs live in their own modules
(evidence, features, candidates, verify, direction, choice, face_swap, render).

The package imports nothing eagerly: its modules pull in OpenCV and faiss, which commands that
never link (``--no-links`` scans, reports of a case) should not pay for at start-up."""

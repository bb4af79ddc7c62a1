"""Traces of creation: browser profiles in the evidence read for visits to AI undress /
nudify / face-swap services and for downloads whose files are in the case (a case-level pass
after analysis), and the per-person timeline built from them."""

"""consentry: find, prove and stop non-consensual sexually explicit deepfakes."""

__version__ = "0.1.0"

"""What a long pass (the scan, the derivation pass) tells whoever runs it as it goes: the files
found so far, how many are to analyse, how many are done, which phase it is in.

A plain class whose methods do nothing, so a caller that draws nothing passes none and a shell
overrides only what it shows (the CLI's progress bar, later a web page). It lives at the bottom
layer because the pipeline calls it and the shells implement it, and neither imports the other.
"""

from __future__ import annotations


class Progress:
    def inventory(self, files_found: int) -> None: ...
    def analysis_total(self, total: int) -> None: ...
    def analysed(self, n: int) -> None: ...
    def phase(self, name: str) -> None: ...
    def image_bytes(self, done: int, total: int) -> None:
        """A disk image's media hashed so far (its MD5/SHA-1 check), in bytes."""


__all__ = ["Progress"]

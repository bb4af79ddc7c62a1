"""What the HTTP shell uses of the matching service: ``MatchingService`` (docs/service-
contract.md, part 2) and the module functions of parts 2 and 4 it calls (validation, hashing,
screening, packs), imported here once. The shell calls these and nothing below them (no SQL,
no audit writes: the service records what it does; lint-imports keeps the store out).
"""

from __future__ import annotations

from consentry.services.matching.hashing import hash_image
from consentry.services.matching.packs import import_pack
from consentry.services.matching.screening import screen
from consentry.services.matching.service import MatchingService
from consentry.services.matching.validate import parse_signal

# The shell is typed against the service class itself: its tests run on the real service (a
# Protocol repeating every signature here had become a second copy of the class's to keep in
# step). import_pack and screen take their own narrower Protocols (packs.py, screening.py).
MatchService = MatchingService


__all__ = ["MatchService", "hash_image", "import_pack", "parse_signal", "screen"]

"""How screen() decides on harmless photos of consented persons (issue 15 part 4): LFW 50 news
photos, the 5 persons' first photos as templates, real Open-NSFW (and NudeNet when installed).
Run: .venv/bin/python bench/out/issue15-screen-harmless.py"""
import glob
from collections import Counter
from pathlib import Path

from consentry.analyzers.faces import load_faces
from consentry.media.decode import decode_image
from consentry.services.matching.screening import screen
from consentry.services.matching.types import Caller, LookupResult

LFW = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "faces" / "lfw"
people = sorted(p.name for p in LFW.iterdir())
fa = load_faces()
templates = []
for i, person in enumerate(people, start=1):
    data = (LFW / person / f"{person}_0001.jpg").read_bytes()
    face = max(fa.analyze(decode_image(data).rgb).faces, key=lambda f: f.quality.size_px)
    templates.append((i, person, face.embedding))


class Fake:
    def lookup(self, caller, signals, banks=None, threshold=31):
        return [LookupResult(s.signal_type, s.value, ()) for s in signals]

    def face_templates(self):
        return templates


decisions, labels = Counter(), Counter()
files = sorted(glob.glob(str(LFW / "*" / "*.jpg"))) + sorted(
    glob.glob(str(LFW.parent.parent / "realfake" / "real" / "*.jpg"))
)
for f in files:
    r = screen(Fake(), Caller.local(), Path(f).read_bytes())
    decisions[r.decision.value] += 1
    labels[r.explicit_label] += 1
    if r.decision.value != "allow":
        print(f, r.reasons[:2])
print(len(files), "harmless photos:", dict(decisions), "labels:", dict(labels))

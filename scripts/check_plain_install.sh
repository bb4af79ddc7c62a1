#!/usr/bin/env bash
# A plain `pip install` of the built wheel, no extras, in a fresh virtualenv: does `consentry`
# start and scan? (A runtime import that only an extra brought in once broke this: faiss.)
# Called by `make test`; uses the package registries only for the dependencies.
set -euo pipefail
PYTHON=${PYTHON:-python3}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "plain install: building the wheel and installing it without extras in $tmp/venv"
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --upgrade pip
"$tmp/venv/bin/python" -m pip wheel --quiet --no-deps -w "$tmp/dist" "$here"
"$tmp/venv/bin/python" -m pip install --quiet "$tmp"/dist/consentry-*.whl
"$tmp/venv/bin/consentry" --version
# a small, harmless evidence folder: two photos-like pictures and a zip holding a third
"$tmp/venv/bin/python" - "$tmp/evidence" <<'PY'
import io, sys, zipfile
from pathlib import Path
import numpy as np
from PIL import Image
root = Path(sys.argv[1]); root.mkdir()
rng = np.random.default_rng(7)
def picture(seed):
    y, x = np.mgrid[0:240, 0:320]
    base = np.stack([(x + seed * 13) % 256, (y * 2) % 256, (x + y) % 256], -1)
    return Image.fromarray((base + rng.integers(0, 30, base.shape)).clip(0, 255).astype("uint8"))
picture(1).save(root / "a.jpg", quality=90)
picture(2).save(root / "b.png")
buf = io.BytesIO(); picture(3).save(buf, "JPEG")
with zipfile.ZipFile(root / "backup.zip", "w") as zf:
    zf.writestr("DCIM/c.jpg", buf.getvalue())
PY
(cd "$tmp" && "$tmp/venv/bin/consentry" scan evidence --case case --workers 1 -q)
# Ray is an extra: without it, --executor ray is one clear misuse error (exit 2), nothing written
set +e
msg=$(cd "$tmp" && "$tmp/venv/bin/consentry" scan evidence --case case-ray --executor ray -q 2>&1)
rc=$?
set -e
if [ "$rc" != 2 ] || ! grep -q "pip install 'consentry\[ray\]'" <<<"$msg" || [ -e "$tmp/case-ray" ]; then
  echo "plain install: --executor ray without Ray gave exit $rc: $msg" >&2
  exit 1
fi
"$tmp/venv/bin/consentry" case summary --case "$tmp/case" --json > "$tmp/summary.json"
"$tmp/venv/bin/python" - "$tmp/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["files"] == 4 and s["images"] == 3 and s["pending"] == 0, s
print(f"plain install: OK (files {s['files']}, images {s['images']}, pending {s['pending']})")
PY

"""PDQ distances of edited copies (issue 15 part 4: the screening bands). Run: .venv/bin/python bench/out/issue15-pdq-bands.py"""
import io, glob, numpy as np
from PIL import Image, ImageOps
from consentry.services.matching.hashing import hash_image
from consentry.analyzers.pdq import hamming
files = sorted(glob.glob('/work/shared/data/realfake/real/*.jpg'))[:30] + sorted(glob.glob('/work/shared/data/faces/lfw/*/*.jpg'))[::5]
def enc(img, q=90):
    b = io.BytesIO(); img.save(b, 'JPEG', quality=q); return b.getvalue()
res = {k: [] for k in ['q40','half','crop5','mirror','rot90','unrel']}
prev=None
for f in files:
    img = Image.open(f).convert('RGB')
    h = hash_image(open(f,'rb').read())
    def best(t):
        return min(hamming(v, h.pdq) for v in t.pdq_dihedral)
    res['q40'].append(hamming(hash_image(enc(img,40)).pdq, h.pdq))
    res['half'].append(hamming(hash_image(enc(img.resize((img.width//2, img.height//2)))).pdq, h.pdq))
    w,hh = img.size; res['crop5'].append(hamming(hash_image(enc(img.crop((w//20, hh//20, w-w//20, hh-hh//20)))).pdq, h.pdq))
    res['mirror'].append(best(hash_image(enc(ImageOps.mirror(img)))))
    res['rot90'].append(best(hash_image(enc(img.rotate(90, expand=True)))))
    if prev is not None: res['unrel'].append(min(hamming(v, prev.pdq) for v in h.pdq_dihedral))
    prev = h
for k,v in res.items():
    v=np.array(v); print(k, len(v), 'median', np.median(v), 'p90', np.percentile(v,90), 'max', v.max(), 'min', v.min())

"""screen() time on 1024 px FFHQ photos (issue 15 part 4). Run: .venv/bin/python bench/out/issue15-screen-timing.py"""
import time, glob, statistics, numpy as np
from consentry.services.matching.screening import screen, screen_models
from consentry.services.matching.types import Caller, LookupResult, Decision
from consentry.analyzers.faces import load_faces
from consentry.media.decode import decode_image
from PIL import Image
class Fake:
    def __init__(s, t): s.t=t
    def lookup(s, caller, signals, banks=None, threshold=31): return [LookupResult(x.signal_type, x.value, ()) for x in signals]
    def face_templates(s): return s.t
files=sorted(glob.glob('/work/shared/data/realfake/real/*.jpg'))[:10]
fa=load_faces()
tmpl=[]
for i,f in enumerate(files[:2]):
    e=[x for x in fa.analyze(decode_image(open(f,'rb').read()).rgb).faces if x.embedding is not None][0].embedding
    tmpl.append((i+1,'p',e))
svc=Fake(tmpl); c=Caller.local()
t=time.perf_counter(); m=screen_models(); print('first load s', round(time.perf_counter()-t,2))
def run(label):
    times=[]
    for f in files:
        d=open(f,'rb').read()
        t=time.perf_counter(); r=screen(svc,c,d,'image/jpeg'); times.append((time.perf_counter()-t)*1000)
    print(label, Image.open(files[0]).size, 'median ms', round(statistics.median(times),1), 'max', round(max(times),1), r.decision, r.explicit_label, len(r.faces))
run('real Open-NSFW (neutral: faces skipped)')
from consentry.analyzers import explicit as em
class Fx:
    model_sha256='0'*64
    def score(self,rgb): return 0.97
real=em.load_explicit
em.load_explicit=lambda: em.ExplicitAnalyzer(Fx())
run('stand-in explicit 0.97 (faces compared)')
# real open-nsfw + faces: wrap real scorer and force label by adding faces path: use real scorer then faces
rs=real().scorer
class Wrap:
    model_sha256='0'*64
    def score(self,rgb): rs.score(rgb); return 0.97
em.load_explicit=lambda: em.ExplicitAnalyzer(Wrap())
run('real Open-NSFW run + faces compared')

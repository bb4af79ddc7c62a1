"""screen(), make_pack and import_pack against the real MatchingService (SQLite, 10,000 random PDQ in a bank). Run: .venv/bin/python bench/out/issue15-screen-real-service.py"""
import time, glob, statistics, tempfile, numpy as np
from pathlib import Path
from consentry.services.matching.service import open_service
from consentry.services.matching.screening import screen, screen_models
from consentry.services.matching.types import Caller, ServiceRole, Signal, SignalType
from consentry.services.matching.packs import make_pack, import_pack
files=sorted(glob.glob('/work/shared/data/realfake/real/*.jpg'))[:10]
home=Path(tempfile.mkdtemp())
admin=Caller.local()
rng=np.random.default_rng(0)
with open_service(home/'h', start_sync=False) as svc:
    svc.create_bank(admin,'NCII')
    t=time.perf_counter()
    data=b''.join(f"pdq {rng.bytes(32).hex()}\n".encode() for _ in range(10000))
    r=svc.import_hashes(admin,'NCII',data,'pytx'); print('imported', r.added, round(time.perf_counter()-t,1),'s')
    consent=home/'c.json'; consent.write_text('{"consented_by":"A B","consented_at":"2026-11-01","scope":"x","recorded_by":"A B"}')
    t=time.perf_counter(); built=make_pack([Path(f) for f in files[:5]], svc.pack_public_key(), consent); tp=time.perf_counter()-t
    print('make_pack 5 photos 1024px s', round(tp,2), 'bytes', len(built.blob), 'templates', built.templates)
    adv=svc.authenticate(svc.add_key(admin, ServiceRole.ADVOCATE,'a').token)
    t=time.perf_counter(); import_pack(svc, adv, built.blob); print('import_pack ms', round((time.perf_counter()-t)*1000,1))
    m=svc.authenticate(svc.add_key(admin, ServiceRole.MATCHER,'m').token)
    screen_models()
    ts=[]
    for f in files*2:
        d=open(f,'rb').read(); t=time.perf_counter(); res=screen(svc,m,d,'image/jpeg'); ts.append((time.perf_counter()-t)*1000)
    print('screen real service, 10k+ hashes, real Open-NSFW: median ms', round(statistics.median(ts),1), 'p90', round(float(np.percentile(ts,90)),1), res.decision)

"""Heap per viewer by allocation site, from a DHAT profile taken with every viewer connected.

Usage: PROBE_STOP_JOINED=1 valgrind --tool=dhat --dhat-out-file=dhat.json podium-probe memory 100
       python3 dhat_live.py dhat.json 100 [top]
Counts live blocks whose stack passes through podium_media (the SFU side; DHAT also sees the
C heap of aws-lc, which the counting allocator does not), grouped by the first non-std frame.
"""
import json,re,sys,collections
d=json.load(open(sys.argv[1]))
n=int(sys.argv[2])
ftbl=d['ftbl']
agg=collections.Counter(); cnt=collections.Counter()
tot=0
for p in d['pps']:
    eb=p.get('eb',0)
    if not eb: continue
    fr=[re.sub(r'/root/.cargo/registry/src/[^/]+/','',re.sub(r'^0x[0-9A-F]+: ','',ftbl[i])) for i in p['fs']]
    if not any('podium_media::' in f for f in fr): continue
    tot+=eb
    # first frame naming str0m/dimpl/podium/aws code
    key='?'
    for f in fr:
        if re.search(r'library/(alloc|core|std)|vgpreload|stats_alloc|^alloc|^UnknownInlinedFun|hashbrown|OPENSSL|^from_|^collect|^clone|^with_capacity|^new<|^push|^extend|^to_vec|^reserve|^grow|^do_reserve',f): continue
        key=f[:110]; break
    agg[key]+=eb; cnt[key]+=p.get('ebk',0)
print('live bytes under podium_media frames: %.1f KiB per viewer'%(tot/n/1024))
for k,v in agg.most_common(int(sys.argv[3]) if len(sys.argv)>3 else 25):
    print('%8.2f KiB/viewer %6.1f blocks/viewer  %s'%(v/n/1024,cnt[k]/n,k))

"""Where the time goes per forwarded packet, from `perf script` output.

Usage: perf script -i perf.data > perf.txt; python3 perf_buckets.py perf.txt MARKER [EXCLUDED...]
(MARKER = bench_sfu_input; for the benchmark before the testkit split, sfu_only_audio_step
with Net::step Client::send drain_client excluded).
Keeps the samples whose stack contains the marker (the SFU's part of a benchmark step) and
books each to the first match, from the leaf up: SRTP encrypt/decrypt, the allocator, the
str0m entry point Podium called, or Podium's own function.
"""
import sys,re,collections
def samples(path):
    cur=[]
    for line in open(path, errors='replace'):
        line=line.rstrip('\n')
        if not line.strip():
            if cur: yield cur
            cur=[]; continue
        if line.startswith('\t') or line.startswith(' '):
            m=re.match(r'\s+[0-9a-f]+ (.*?)\+0x[0-9a-f]+ \((.*)\)$', line) or re.match(r'\s+[0-9a-f]+ (.*) \((.*)\)$', line)
            if m: cur.append(m.group(1))
        else:
            cur=[]
    if cur: yield cur
ALLOC=re.compile(r'^(malloc|free|cfree|realloc|calloc|_int_malloc|_int_free|__libc_malloc|__libc_free|__libc_calloc|_int_realloc|__rust_alloc|__rust_dealloc|__rdl_alloc|__rdl_dealloc|unlink_chunk|malloc_consolidate|tcache_.*|__memset.*|alloc::alloc::.*)$')
def bucket(st):
    # st: leaf first
    for f in st:
        if 'unprotect_rtcp' in f or 'protect_rtcp' in f: return 'SRTCP (RTCP protect/unprotect)'
        if 'unprotect_rtp' in f: return 'SRTP decrypt (incoming packet, once per step)'
        if 'protect_rtp' in f: return 'SRTP encrypt per copy (str0m protect_rtp -> aws-lc AES-GCM)'
    if ALLOC.match(st[0]) or st[0].startswith('_int_') : return 'allocator (malloc/free)'
    if st[0].startswith('__memcpy') or st[0].startswith('__memmove'): pre='memcpy in '
    else: pre=''
    # str0m entry point called from podium
    for i,f in enumerate(st):
        if f.startswith('podium_media::') or f.startswith('<podium_media'):
            if i==0: return 'podium (own code): '+re.sub(r'<.*?>','',f)[:60]
            callee=st[i-1]
            if 'str0m' in callee or 'RtpWrite' in callee:
                name=re.sub(r'::h[0-9a-f]{16}$','',callee)
                return pre+'str0m '+name[:70]
            # podium frame with non-str0m callee (std, hashbrown...)
            return 'podium (own code, incl. std/hashbrown): '+re.sub(r'<.*?>','',f)[:50]
    return 'other: '+st[0][:60]
path=sys.argv[1]; marker=sys.argv[2]; excluded=sys.argv[3:]
tot=0; agg=collections.Counter(); allsamples=0
for st in samples(path):
    allsamples+=1
    if not any(marker in f for f in st): continue
    if any(x in f for f in st for x in excluded): continue
    tot+=1; agg[bucket(st)]+=1
print('samples: %d total, %d under %s'%(allsamples,tot,marker))
for k,v in agg.most_common(30): print('%5.1f%%  %s'%(100*v/tot,k))

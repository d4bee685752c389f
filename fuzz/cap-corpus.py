#!/usr/bin/env python3
"""Picks at most CAP corpus files covering the most coverage edges, greedily.

Usage (from fuzz/, after a libFuzzer merge that wrote a control file):

    ./target/x86_64-unknown-linux-gnu/release/$t -merge=1 -use_counters=0 \
        -use_value_profile=0 -merge_control_file=/tmp/ctl-$t /tmp/empty-$t DIR...
    python3 cap-corpus.py /tmp/ctl-$t 190 /tmp/capped-$t

Every `seed-*` file is kept; the others are added one at a time, the one bringing the most
new edges first (the smaller on a tie), until CAP files or no new edge.
"""
import os
import shutil
import sys

ctl, cap, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(ctl).read().split("\n")
n = int(lines[0])
files = lines[2 : 2 + n]
cov = {}
for line in lines[2 + n :]:
    parts = line.split()
    if len(parts) >= 2 and parts[0] == "COV":
        cov[int(parts[1])] = set(parts[2:])
seeds = [i for i, f in enumerate(files) if os.path.basename(f).startswith("seed-")]
covered, chosen = set(), []
for i in seeds:
    chosen.append(i)
    covered |= cov.get(i, set())
rest = [i for i in range(n) if i not in seeds]
total = set().union(*cov.values()) if cov else set()
while len(chosen) < cap:
    best, gain = None, 0
    for i in rest:
        g = len(cov.get(i, set()) - covered)
        if g > gain or (
            g == gain and g > 0 and os.path.getsize(files[i]) < os.path.getsize(files[best])
        ):
            best, gain = i, g
    if best is None:
        break
    chosen.append(best)
    covered |= cov[best]
    rest.remove(best)
os.makedirs(outdir, exist_ok=True)
for i in chosen:
    shutil.copy(files[i], outdir)
print(f"{len(chosen)} files cover {len(covered)}/{len(total)} edges")

#!/usr/bin/env bash
# Issue 7's whole comparison in one command: redis-benchmark against redis-server, twemproxy and
# the sidecar (pass-through, every policy on, embedded store) at -c 50 -P 1/16, then the embedded
# store against redis-server both with an append-only file, then -c 1000, then 100 KB values with
# compression on, then memory per idle connection. Loopback only; needs
# redis-server, redis-tools and nutcracker (apt-get install redis-server redis-tools nutcracker).
# Takes about 10 minutes on 2 cores; run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# commit $(git rev-parse --short HEAD), $(date -u +%Y-%m-%d)"
python3 benches/e2e.py --rounds 5 --requests 100000 --pipelines 1,16
python3 benches/e2e.py --rounds 5 --requests 100000 --pipelines 1,16 --targets direct,embedded --aof
python3 benches/e2e.py --rounds 2 --requests 100000 --clients 1000 --pipelines 1,16 \
    --targets direct,twemproxy,sidecar,embedded
python3 benches/e2e.py --rounds 3 --requests 20000 --pipelines 1 --datasize 102400 \
    --targets direct,sidecar,policies
python3 benches/idle_memory.py

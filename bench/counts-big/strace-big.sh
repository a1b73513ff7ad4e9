#!/bin/bash
# usage: strace-big.sh DIST BYTES OUTPREFIX  -- syscalls of the proxy during a cold miss and then a hit of one BYTES object
DIST=$1; BYTES=$2; OUT=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd); cd "$(mktemp -d)"
node $ROOT/$DIST/bench/servers.js big-origin $BYTES max-age=3600 > $OUT.origin.log 2>&1 &
OPID=$!
sleep 0.5
OPORT=$(grep -o '[0-9]*$' $OUT.origin.log)
node $ROOT/$DIST/bench/servers.js streamcache $OPORT '{"storeSize":2147483648}' > $OUT.proxy.log 2>&1 &
PPID2=$!
for i in $(seq 50); do grep -q listening $OUT.proxy.log && break; sleep 0.2; done
PPORT=$(grep -o '[0-9]*$' $OUT.proxy.log)
for phase in miss hit; do
  strace -c -f -p $PPID2 -o $OUT.$phase.strace 2>/dev/null & SPID=$!
  sleep 0.5
  node $ROOT/$DIST/bench/clients.js big $PPORT /big/$BYTES > $OUT.$phase.json
  sleep 0.2
  kill -INT $SPID; wait $SPID
done
kill $PPID2 $OPID
wait 2>/dev/null
for phase in miss hit; do echo "== $phase"; grep -E '"mbps|ttfb|xCache' $OUT.$phase.json | head; grep -E "total|read|write|futex|epoll_pwait|brk|mmap|munmap" $OUT.$phase.strace | head -12; done

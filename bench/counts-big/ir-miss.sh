#!/bin/bash
# usage: ir-miss.sh DIST OUT -- instructions (callgrind Ir) the proxy spends on 4 cold misses of 16 MiB (+1..4 bytes),
# counted from the first miss to the last (instrumentation off while node starts and warms up).
DIST=$1; OUT=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd); cd "$(mktemp -d)"
node $ROOT/$DIST/bench/servers.js big-origin 16777216 max-age=3600 > $OUT.origin.log 2>&1 & OPID=$!
sleep 0.5; OPORT=$(grep -o '[0-9]*$' $OUT.origin.log)
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$OUT.cg node $ROOT/$DIST/bench/servers.js streamcache $OPORT '{"storeSize":268435456,"storeSlabSize":67108864}' > $OUT.proxy.log 2>&1 & VPID=$!
for i in $(seq 600); do grep -q "streamcache listening" $OUT.proxy.log && break; sleep 0.5; done
PPORT=$(grep "streamcache listening" $OUT.proxy.log | grep -o '[0-9]*$')
# one uncounted miss of another size first (code paths compiled), then count
node $ROOT/$DIST/bench/clients.js big $PPORT /big/8388608 > /dev/null
callgrind_control -i on $VPID > /dev/null
callgrind_control -z $VPID > /dev/null
for n in 16777217 16777218 16777219 16777220; do node $ROOT/$DIST/bench/clients.js big $PPORT /big/$n | grep -o '"xCache": "[A-Z]*"'; done
callgrind_control -d $VPID > /dev/null
sleep 2
kill $VPID $OPID; wait 2>/dev/null
TOTAL=$(for f in $OUT.cg*; do callgrind_annotate $f 2>/dev/null | grep -m1 "PROGRAM TOTALS" | awk "{gsub(\",\",\"\",\$1); print \$1}"; done | paste -sd+ | bc)
echo "$DIST: Ir for 4 x 16 MiB misses: $TOTAL  = $(( TOTAL / 64 )) Ir per MiB"

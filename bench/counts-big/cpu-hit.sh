#!/bin/bash
# usage: cpu-hit.sh DIST BYTES HITS -- the proxy's CPU (user, system ms from /proc) per hit of a BYTES object, and MB/s
DIST=$1; BYTES=$2; HITS=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd); cd "$(mktemp -d)"
taskset -c 1 node $ROOT/$DIST/bench/servers.js big-origin $BYTES max-age=3600 > c.origin.log 2>&1 & OPID=$!
sleep 0.5; OPORT=$(grep -o '[0-9]*$' c.origin.log)
taskset -c 0 node $ROOT/$DIST/bench/servers.js streamcache $OPORT '{"storeSize":2147483648}' > c.proxy.log 2>&1 & PP=$!
for i in $(seq 50); do grep -q listening c.proxy.log && break; sleep 0.2; done
PPORT=$(grep -o '[0-9]*$' c.proxy.log)
cpu() { awk '{print $14, $15}' /proc/$PP/stat; }
read u0 s0 <<< "$(cpu)"
taskset -c 1 node $ROOT/$DIST/bench/clients.js big $PPORT /big/$BYTES > c.miss.json
read u1 s1 <<< "$(cpu)"
echo "$DIST miss: user $(( (u1-u0)*10 )) ms sys $(( (s1-s0)*10 )) ms  $(grep -o '"mbps": [0-9.]*' c.miss.json)"
for h in $(seq $HITS); do
read u0 s0 <<< "$(cpu)"
taskset -c 1 node $ROOT/$DIST/bench/clients.js big $PPORT /big/$BYTES > c.hit.json
read u1 s1 <<< "$(cpu)"
echo "$DIST hit:  user $(( (u1-u0)*10 )) ms sys $(( (s1-s0)*10 )) ms  $(grep -o '"mbps": [0-9.]*' c.hit.json) $(grep -o '"xCache": "[A-Z]*"' c.hit.json)"
done
kill $PP $OPID; wait 2>/dev/null

#!/bin/bash
# check-fabric: the fabric transport between network namespaces, with a real ZooKeeper.
#
#   tests/fabric/check.sh BUILD_DIR
#
# As root, creates a registry namespace holding a bridge (10.77.0.1, ZooKeeper listens there)
# and node namespaces A, B, C joined to it by veth pairs (10.77.0.2, .3, .4). These addresses
# exist only inside the namespaces this script made; nothing is routed to the host. Then:
#   1. the runtime's transport-generic suite (tests/runtime) over fabric: the test process in A,
#      its peer processes in B (RTT_BIN_DIR points at wrappers that enter B);
#   2. faults with rtt_peer on both sides: the link cut with `ip link set ... down` (disconnect
#      within the heartbeat bound, reconnect when it is back, every result checked), ZooKeeper
#      killed and restarted under load (the connection keeps working, discovery resumes), a
#      third namespace flooding the backend with hostile records (fab_flood), registry ACLs,
#      the registry as a second liveness signal (a frozen backend dropped long before the
#      heartbeat bound; a backend cut off from the registry alone stays connected);
#   3. the block device: blkback in B, nbdkit with the idc plugin in A, nbdcopy 64 MiB in and
#      out, then blkback killed mid-copy and restarted; blkback --shared=2; the mirror with one
#      leg's link cut and restored.
# Prints `N passed, M failed` (and the reason when it skips). FABRIC_ONLY=faults runs section 2
# alone, FABRIC_TESTS="suite/test ..." those runtime tests alone; FABRIC_KEEP=DIR keeps a copy
# of the scratch directory (logs, event files) for a post-mortem. Every namespace, process and file
# it made is removed on exit, whatever the outcome (trap). Every wait is bounded.
set -u
B=${1:-build}
B=$(cd "$B" 2>/dev/null && pwd) || { echo "check-fabric: no build directory $1"; exit 2; }
HB_MS=1500 # the heartbeat bound for this run: the generic suite wants kill -9 seen within 2 s

skip() {
    echo "check-fabric: skipped: $*"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
}
. "$(dirname "$0")/netns.sh" # namespaces and the registry, shared with the benchmark
netns_check || skip "$NETNS_ERR"
for p in tests/runtime tests/bin/rtt_peer tests/bin/fab_flood; do
    [ -x "$B/$p" ] || { echo "check-fabric: $B/$p not built"; exit 2; }
done

TAG=idcf$$
NS_R=$TAG-r NS_A=$TAG-a NS_B=$TAG-b NS_C=$TAG-c
TMP=$(mktemp -d "${TMPDIR:-/tmp}/idc-fabric.XXXXXX")
PASS=0 FAIL=0

cleanup() {
    netns_down
    [ -n "${FABRIC_KEEP:-}" ] && cp -a "$TMP" "$FABRIC_KEEP" # for a post-mortem
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() { PASS=$((PASS + 1)); echo "[PASS] fabric::$1"; }
fail() { FAIL=$((FAIL + 1)); echo "[FAIL] fabric::$1: $2"; }

# ------------------------------------------------------------------------- namespaces
netns_up $TAG 10.77.0 a b c || skip "$NETNS_ERR"
# Each node has its own runtime directory, as separate machines would: shm's sockets (the buffer
# service among them) and the stats files of one node are out of every other node's reach, so
# whatever crosses between nodes crossed over fabric.
node_env() { # node_env NODE: the environment that makes a process one of that node's
    mkdir -p "$TMP/run/$1/idc/stats"
    echo "XDG_RUNTIME_DIR=$TMP/run/$1 IDC_SHM_DIR=$TMP/run/$1/idc" \
        "IDC_STATS_DIR=$TMP/run/$1/idc/stats RTT_SHM_DIR=$TMP/run/$1/idc"
}
in_ns() { # in_ns NS ADDR NODE cmd...: run with that namespace's fabric address and identity
    local ns=$1 addr=$2 node=$3
    shift 3
    # shellcheck disable=SC2046 # node_env's words are NAME=VALUE without blanks
    ip netns exec "$ns" env $(node_env "$node") IDC_FABRIC_ADDR="$addr" IDC_NODE="$node" "$@"
}
spawn_ns() { # spawn_ns VAR NS ADDR NODE cmd...: in_ns in the background, its pid in VAR (the
    # program itself: every step execs, so a kill -9 reaches it)
    local var=$1
    shift
    (
        ns=$1 addr=$2 node=$3
        shift 3
        # shellcheck disable=SC2046
        exec ip netns exec "$ns" env $(node_env "$node") IDC_FABRIC_ADDR="$addr" \
            IDC_NODE="$node" "$@"
    ) >> "$TMP/$var.log" 2>&1 &
    eval "$var=$!"
}

# ------------------------------------------------------------------------- the registry
zk_start "$TMP/zk" || { echo "check-fabric: $NETNS_ERR"; exit 1; }
export IDC_ZOOKEEPER=10.77.0.1:2181 IDC_ZOOKEEPER_SESSION_MS=2000 IDC_HEARTBEAT_MS=$HB_MS

# ------------------------------------------------------- rtt_peer pairs (sections 1 and 2)
# A backend in B and a load-generating frontend in A; their event files tell.
PEER=$B/tests/bin/rtt_peer
mkdir -p "$TMP/f"
stat_of() { # stat_of FILE KEY: the last stat line's value of KEY
    grep '^stat ' "$1" 2>/dev/null | tail -1 | sed -n "s/.* $2=\([0-9]*\).*/\1/p"
}
count() { grep -c "^$2" "$1" 2>/dev/null || true; }
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
    local end=$(($(date +%s) + $1))
    shift
    while [ "$(date +%s)" -lt "$end" ]; do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
ok_above() { [ "$(stat_of "$1" ok)" -gt "$2" ] 2>/dev/null; }
lines_at_least() { [ "$(count "$1" "$2")" -ge "$3" ]; }
pair_start() { # pair_start NAME: backend in B, frontend in A
    spawn_ns BE_PID $NS_B 10.77.0.3 node-b "$PEER" --dir "$TMP/f" --out "$TMP/f/$1.be" \
        --serve "$1"
    spawn_ns FE_PID $NS_A 10.77.0.2 node-a "$PEER" --dir "$TMP/f" --out "$TMP/f/$1.fe" \
        --connect "$1" --mode load --load 16
}
pair_stop() {
    kill -TERM "$FE_PID" "$BE_PID" 2>/dev/null
    wait_for 10 sh -c "! kill -0 $FE_PID 2>/dev/null && ! kill -0 $BE_PID 2>/dev/null"
    kill -9 "$FE_PID" "$BE_PID" 2>/dev/null
    wait "$FE_PID" "$BE_PID" 2>/dev/null
}
no_errors() { ! grep -q '^error' "$1" "$2"; }
export IDC_TEST_FABRIC=1

# The first check warms the registry up too: a backend in B found by a frontend in A, traffic.
name=discovery
pair_start $name
if wait_for 30 ok_above "$TMP/f/$name.fe" 100; then
    pass "discovery (a backend in B found and used from A)"
else
    fail discovery "no traffic: $(tail -3 "$TMP/f/$name.fe") / $(tail -3 "$TMP/f/$name.be")"
fi
pair_stop

# ------------------------------------------------------------- 1. the runtime suite
# the transport-generic tests (one list, shared with the Xen harness), then remote buffers
TESTS="$(grep -v '^#' "$(dirname "$0")/../runtime/generic.list")
rbuf/forward_a_b_c_transfer_then_revoke
rbuf/sizes_4k_1m_64m_both_ways
rbuf/wrong_rights_fail
rbuf/forged_references_fail
rbuf/owner_killed_transfers_fail_disconnected
"
# The peers run in B: a wrapper per helper enters B and execs it (the pid stays the one the
# test forked, so its kill -9 reaches the helper itself).
mkdir -p "$TMP/bin"
for h in rtt_peer rtt_hostile; do
    printf '#!/bin/sh\nexec ip netns exec %s env %s IDC_FABRIC_ADDR=10.77.0.3 IDC_NODE=node-b %s "$@"\n' \
        $NS_B "$(node_env node-b)" "$B/tests/bin/$h" > "$TMP/bin/$h"
    chmod +x "$TMP/bin/$h"
done
[ "${FABRIC_ONLY:-}" = faults ] && TESTS= # FABRIC_ONLY=faults: section 2 alone
[ -n "${FABRIC_TESTS:-}" ] && TESTS=$FABRIC_TESTS # or these runtime tests alone
for t in $TESTS; do
    s=${t%%/*} n=${t#*/}
    out="$TMP/rt.out"
    in_ns $NS_A 10.77.0.2 node-a env TMPDIR="$TMP" IDC_TEST_FABRIC=1 RTT_BIN_DIR="$TMP/bin" \
        ${FABRIC_KEEP:+RTT_KEEP=1} \
        RTT_SLOW=1 timeout 300 "$B/tests/runtime" --filter="$t" -j1 --verbose > "$out" 2>&1
    if grep -q "^\[PASS\] $s::$n:" "$out"; then
        pass "runtime.$s.$n"
    else
        fail "runtime.$s.$n" "$(grep -E '^\[(FAIL|----)\]' "$out" | grep -v Criterion | head -8)"
    fi
done


# --------------------------------------------------------------------- 2. faults
# The link cut: silent peer -> disconnect within the bound; back -> reconnect; results checked.
name=linkcut
pair_start $name
fe=$TMP/f/$name.fe be=$TMP/f/$name.be
if ! wait_for 20 ok_above "$fe" 1000; then
    fail link_cut "no traffic before the cut: $(tail -3 "$fe")"
else
    t0=$(date +%s%N)
    ip -n $NS_B link set vb down
    if wait_for 10 lines_at_least "$fe" disconnect 1; then
        dt=$((($(date +%s%N) - t0) / 1000000))
        ok1=$(stat_of "$fe" ok)
        ip -n $NS_B link set vb up
        if [ "$dt" -gt $((HB_MS + 1000)) ]; then
            fail link_cut "disconnect took $dt ms (bound $HB_MS ms)"
        elif ! wait_for 30 lines_at_least "$fe" connect 2; then
            fail link_cut "no reconnect after the link came back: $(tail -3 "$fe")"
        elif ! wait_for 20 ok_above "$fe" $((ok1 + 1000)); then
            fail link_cut "no traffic after the reconnect: $(tail -3 "$fe")"
        elif ! no_errors "$fe" "$be" || [ "$(stat_of "$fe" bad)" != 0 ]; then
            fail link_cut "wrong results: $(grep -h '^error' "$fe" "$be" | head -3)"
        else
            pass "link_cut (disconnect after $dt ms, reconnected, every result checked)"
        fi
    else
        ip -n $NS_B link set vb up
        fail link_cut "no disconnect within 10 s of the cut: $(tail -3 "$fe")"
    fi
fi
pair_stop

# ZooKeeper killed and restarted under load: the connection keeps working; discovery resumes.
name=zkdown
pair_start $name
fe=$TMP/f/$name.fe be=$TMP/f/$name.be
if ! wait_for 20 ok_above "$fe" 1000; then
    fail zookeeper_restart "no traffic before the registry went down: $(tail -3 "$fe")"
else
    zk_kill
    ok1=$(stat_of "$fe" ok)
    sleep 3 # longer than the session timeout and the heartbeat bound
    if ! ok_above "$fe" $((ok1 + 1000)) || [ "$(count "$fe" disconnect)" != 0 ]; then
        fail zookeeper_restart "the connection suffered while the registry was down: $(tail -2 "$fe")"
    elif ! zk_start "$TMP/zk"; then
        fail zookeeper_restart "ZooKeeper did not restart"
    else
        ok2=$(stat_of "$fe" ok)
        # a new backend after the outage must be found: restart the backend side
        kill -9 "$BE_PID"
        wait "$BE_PID" 2>/dev/null
        spawn_ns BE_PID $NS_B 10.77.0.3 node-b "$PEER" --dir "$TMP/f" --out "$TMP/f/$name.be2" \
            --serve $name
        if [ "$ok2" -le "$ok1" ]; then
            fail zookeeper_restart "no traffic during the outage"
        elif ! wait_for 30 lines_at_least "$fe" connect 2; then
            fail zookeeper_restart "a backend started after the outage was not found: $(tail -3 "$fe")"
        elif ! wait_for 20 ok_above "$fe" $((ok2 + 1000)); then
            fail zookeeper_restart "no traffic with the new backend"
        elif ! no_errors "$fe" "$be" || [ "$(stat_of "$fe" bad)" != 0 ]; then
            fail zookeeper_restart "wrong results: $(grep -h '^error' "$fe" "$be" | head -3)"
        else
            pass "zookeeper_restart (traffic through the outage, new backend found after it)"
        fi
    fi
fi
pair_stop

# A peer flooding garbage (fab_flood in C, 5 s of records any peer can send: noise, bad sizes
# and types, HELLOs with bad fields, records of connections that do not exist, forged buffer
# requests) at a backend serving a frontend: the connection carries on, nothing is miscounted.
# 10000 records a second (FLOOD_RATE; 0: as fast as the provider takes them): a flood, yet
# one the two shared cores of a test machine survive under the sanitizers too, where the
# backend's real connection must still answer within the 1.5 s bound.
FLOOD_RATE=${FLOOD_RATE:-10000}
name=flood
pair_start $name
fe=$TMP/f/$name.fe be=$TMP/f/$name.be
if ! wait_for 20 ok_above "$fe" 1000; then
    fail flood "no traffic before the flood: $(tail -3 "$fe")"
else
    ok1=$(stat_of "$fe" ok)
    # (rtt_peer names its services DIR.NAME under IDC_TEST_FABRIC: its --dir is $TMP/f)
    if ! in_ns $NS_C 10.77.0.4 node-c timeout 60 "$B/tests/bin/fab_flood" "$IDC_ZOOKEEPER" \
        f.$name 5 $FLOOD_RATE > "$TMP/flood.out" 2>&1; then
        fail flood "the flooder did not run: $(cat "$TMP/flood.out")"
    elif ! kill -0 "$BE_PID" 2>/dev/null; then
        fail flood "the backend died: $(tail -3 "$be")"
    elif [ "$(count "$fe" disconnect)" != 0 ]; then
        fail flood "the connection went down: $(grep -h disconnect "$fe" | head -2)"
    elif ! wait_for 10 ok_above "$fe" $((ok1 + 1000)); then
        fail flood "traffic stopped: $(tail -2 "$fe")"
    elif ! no_errors "$fe" "$be" || [ "$(stat_of "$fe" bad)" != 0 ]; then
        fail flood "wrong results: $(grep -h '^error' "$fe" "$be" | head -3)"
    else
        pass "flood ($(cat "$TMP/flood.out") hostile records; the connection carried on)"
    fi
fi
pair_stop

# Registry ACLs: a backend authenticated as node-b owns its entries; a backend of another
# identity asking for the same name is refused by ZooKeeper itself (logged, never serves), and
# the service keeps working.
name=acl
spawn_ns BE_PID $NS_B 10.77.0.3 node-b env IDC_ZOOKEEPER_AUTH=node-b:secret-b "$PEER" \
    --dir "$TMP/f" --out "$TMP/f/$name.be" --serve $name
spawn_ns FE_PID $NS_A 10.77.0.2 node-a "$PEER" --dir "$TMP/f" --out "$TMP/f/$name.fe" \
    --connect $name --mode load --load 16
fe=$TMP/f/$name.fe
if ! wait_for 20 ok_above "$fe" 1000; then
    fail registry_acl "no traffic: $(tail -3 "$fe")"
else
    spawn_ns EVIL_PID $NS_C 10.77.0.4 node-c env IDC_ZOOKEEPER_AUTH=node-c:secret-c "$PEER" \
        --dir "$TMP/f" --out "$TMP/f/$name.evil" --serve $name
    ok1=$(stat_of "$fe" ok)
    if ! wait_for 15 grep -qs "claimed in the registry by another node identity" \
        "$TMP/f/$name.evil"; then
        fail registry_acl "the other identity was not refused: $(grep -v '^stat' "$TMP/f/$name.evil" | tail -3)"
    elif ! wait_for 10 ok_above "$fe" $((ok1 + 1000)) || [ "$(count "$fe" disconnect)" != 0 ]; then
        fail registry_acl "the service suffered: $(tail -2 "$fe")"
    else
        pass "registry_acl (another node identity cannot take over a claimed name)"
    fi
    { kill -9 "$EVIL_PID" && wait "$EVIL_PID"; } 2>/dev/null
fi
pair_stop

# The registry as the second liveness signal. Heartbeats are set long (LONG_HB_MS) and
# registry sessions short, so only the registry can explain a quick disconnect.
LONG_HB_MS=20000 SHORT_SESSION_MS=1000
pair_start_zk() { # pair_start_zk NAME: pair_start with the long heartbeat, the short session
    spawn_ns BE_PID $NS_B 10.77.0.3 node-b env IDC_HEARTBEAT_MS=$LONG_HB_MS \
        IDC_ZOOKEEPER_SESSION_MS=$SHORT_SESSION_MS "$PEER" --dir "$TMP/f" \
        --out "$TMP/f/$1.be" --serve "$1"
    spawn_ns FE_PID $NS_A 10.77.0.2 node-a env IDC_HEARTBEAT_MS=$LONG_HB_MS \
        IDC_ZOOKEEPER_SESSION_MS=$SHORT_SESSION_MS "$PEER" --dir "$TMP/f" \
        --out "$TMP/f/$1.fe" --connect "$1" --mode load --load 16
}
# A frozen backend (SIGSTOP): its registry session expires, the frontend probes it and drops it
# within the session timeout + the probe deadline, far below the heartbeat; the transactions
# out complete with IDC_ERR_DISCONNECTED. SIGCONT: it republishes and the frontend reconnects.
name=frozen
pair_start_zk $name
fe=$TMP/f/$name.fe be=$TMP/f/$name.be
if ! wait_for 20 ok_above "$fe" 1000; then
    fail registry_frozen_peer "no traffic before the freeze: $(tail -3 "$fe")"
else
    t0=$(date +%s%N)
    kill -STOP "$BE_PID"
    wait_for 15 lines_at_least "$fe" disconnect 1
    dt=$((($(date +%s%N) - t0) / 1000000))
    kill -CONT "$BE_PID"
    ok1=$(stat_of "$fe" ok)
    sleep 0.2 # a stat line after the disconnect
    disc=$(stat_of "$fe" disc)
    if [ "$(count "$fe" disconnect)" = 0 ]; then
        fail registry_frozen_peer "no disconnect within 15 s of SIGSTOP: $(grep -v ^stat "$fe" | tail -3)"
    elif [ "$dt" -gt $((SHORT_SESSION_MS + 3000)) ]; then
        fail registry_frozen_peer "disconnect after $dt ms (session $SHORT_SESSION_MS ms, heartbeat $LONG_HB_MS ms)"
    elif ! grep -q "probing it" "$fe"; then
        fail registry_frozen_peer "disconnected, but not by the registry signal: $(grep -v ^stat "$fe" | tail -2)"
    elif [ "${disc:-0}" = 0 ]; then
        fail registry_frozen_peer "no transaction completed with IDC_ERR_DISCONNECTED"
    elif ! wait_for 30 lines_at_least "$fe" connect 2; then
        fail registry_frozen_peer "no reconnect after SIGCONT: $(tail -3 "$fe")"
    elif ! wait_for 20 ok_above "$fe" $((ok1 + 1000)); then
        fail registry_frozen_peer "no traffic after the reconnect: $(tail -3 "$fe")"
    elif ! no_errors "$fe" "$be" || [ "$(stat_of "$fe" bad)" != 0 ]; then
        fail registry_frozen_peer "wrong results: $(grep -h '^error' "$fe" "$be" | head -3)"
    else
        pass "registry_frozen_peer (SIGSTOP: disconnected after $dt ms, heartbeat ${LONG_HB_MS} ms; $disc transactions failed DISCONNECTED; reconnected after SIGCONT)"
    fi
fi
pair_stop

# A backend cut off from the registry alone (a blackhole route to it in B): its session
# expires and its record goes, the frontend probes, the backend answers: it stays connected.
name=zkcut
pair_start_zk $name
fe=$TMP/f/$name.fe be=$TMP/f/$name.be
if ! wait_for 20 ok_above "$fe" 1000; then
    fail registry_cut_alone "no traffic before the cut: $(tail -3 "$fe")"
else
    ip -n $NS_B route add blackhole 10.77.0.1/32
    wait_for 15 grep -qs "probing it" "$fe"
    probed=$?
    sleep 1 # past the probe deadline
    ok1=$(stat_of "$fe" ok)
    ip -n $NS_B route del blackhole 10.77.0.1/32
    if [ $probed != 0 ]; then
        fail registry_cut_alone "the backend's record did not go (or no probe): $(grep -v ^stat "$fe" | tail -2)"
    elif [ "$(count "$fe" disconnect)" != 0 ]; then
        fail registry_cut_alone "the backend was disconnected: $(grep -h disconnect "$fe" | head -2)"
    elif ! wait_for 10 ok_above "$fe" $((ok1 + 1000)); then
        fail registry_cut_alone "traffic stopped: $(tail -2 "$fe")"
    elif ! no_errors "$fe" "$be" || [ "$(stat_of "$fe" bad)" != 0 ]; then
        fail registry_cut_alone "wrong results: $(grep -h '^error' "$fe" "$be" | head -3)"
    else
        pass "registry_cut_alone (the backend lost its registry session, answered the probe, stayed connected)"
    fi
fi
pair_stop

# ------------------------------------------------- 3. the block device across namespaces
# blkback serves a file in B; nbdkit with the idc plugin in A is its front end; nbdcopy moves
# 64 MiB in and out through it; the file under blkback and the copy back match the source.
SKIP=0
blk_blocks() { [ -f "$1" ] && [ "$(($(stat -c %b "$1") * 512))" -ge "$2" ]; }
# blkback killed with SIGKILL while nbdcopy reads 64 MiB, restarted at once: the front end
# notices (heartbeat), finds the new backend when its registry entry replaces the dead one's,
# resends what was in flight, and the copy completes intact.
blk_kill() {
    local d=$1 uri=$2 want=$3
    spawn_ns COPY_PID $NS_A 10.77.0.2 node-a nbdcopy --requests=16 "$uri" "$d/out2.img"
    if ! wait_for 60 blk_blocks "$d/out2.img" $((16 << 20)); then
        fail blk_kill_restart "the copy did not start: $(tail -3 "$TMP/COPY_PID.log")"
        return
    fi
    { kill -9 "$BLK_PID" && wait "$BLK_PID"; } 2>/dev/null
    sleep 0.3
    spawn_ns BLK_PID $NS_B 10.77.0.3 node-b "$B/examples/blk/blkback" fabric:blk0 "$d/disk.img"
    if ! wait_for 90 sh -c "! kill -0 $COPY_PID 2>/dev/null"; then
        fail blk_kill_restart "nbdcopy did not finish within 90 s of the restart"
    elif ! wait "$COPY_PID"; then
        fail blk_kill_restart "nbdcopy failed across the restart: $(tail -3 "$TMP/COPY_PID.log")"
    elif [ "$(sha256sum < "$d/out2.img")" != "$want" ]; then
        fail blk_kill_restart "the copy differs from the source"
    else
        pass "blk_kill_restart (blkback killed mid-copy and restarted; 64 MiB intact)"
    fi
}
# The bytes blkback's transfers moved over fabric: the runtime's debug line of each (IDC_DEBUG).
blk_fabric_bytes() {
    sed -n 's/.*remote buffer: \([0-9]*\) bytes moved over fabric.*/\1/p' "$TMP/BLK_PID.log" |
        awk '{ s += $1 } END { print s + 0 }'
}
blk() {
    local d=$TMP/blk
    mkdir -p "$d"
    head -c $((64 << 20)) /dev/urandom > "$d/src.img"
    truncate -s 64M "$d/disk.img"
    spawn_ns BLK_PID $NS_B 10.77.0.3 node-b IDC_DEBUG=1 "$B/examples/blk/blkback" fabric:blk0 \
        "$d/disk.img"
    spawn_ns NBD_PID $NS_A 10.77.0.2 node-a nbdkit -f -U "$d/nbd.sock" \
        "$B/examples/blk/nbdkit-idc-plugin.so" address=fabric:blk0 timeout=20
    local uri="nbd+unix:///?socket=$d/nbd.sock"
    if ! wait_for 20 test -S "$d/nbd.sock"; then
        fail blk_nbdcopy "nbdkit did not start: $(tail -3 "$TMP/NBD_PID.log")"
    elif ! in_ns $NS_A 10.77.0.2 node-a timeout 120 nbdcopy --requests=32 "$d/src.img" "$uri" \
        > "$d/in.log" 2>&1; then
        fail blk_nbdcopy "nbdcopy in: $(tail -3 "$d/in.log") $(tail -3 "$TMP/BLK_PID.log")"
    elif ! in_ns $NS_A 10.77.0.2 node-a timeout 120 nbdcopy --requests=32 "$uri" "$d/out.img" \
        > "$d/out.log" 2>&1; then
        fail blk_nbdcopy "nbdcopy out: $(tail -3 "$d/out.log")"
    else
        local a b c moved
        a=$(sha256sum < "$d/src.img") b=$(sha256sum < "$d/out.img") c=$(sha256sum < "$d/disk.img")
        moved=$(blk_fabric_bytes)
        if [ "$moved" -lt $((128 << 20)) ]; then # nodes share no directory: nothing else could
            fail blk_nbdcopy "only $moved bytes of the 128 MiB copied went over fabric"
        elif [ "$a" = "$b" ] && [ "$a" = "$c" ]; then
            pass "blk_nbdcopy (64 MiB in and out across namespaces over fabric ($((moved >> 20)) MiB), sha256 equal)"
            blk_kill "$d" "$uri" "$a"
        else
            fail blk_nbdcopy "sha256 differ: src ${a%% *} out ${b%% *} disk ${c%% *}"
        fi
    fi
    kill -TERM "$NBD_PID" "$BLK_PID" 2>/dev/null
    wait_for 10 sh -c "! kill -0 $NBD_PID 2>/dev/null && ! kill -0 $BLK_PID 2>/dev/null"
    { kill -9 "$NBD_PID" "$BLK_PID"; wait "$NBD_PID" "$BLK_PID"; } 2>/dev/null
    blk_shared "$d"
    rm -rf "$d"
}
# blkback --shared=2 --read-only in B serving two front ends at once, in A and in C: both read
# the whole disk concurrently, both copies equal the source.
blk_shared() {
    local d=$1
    spawn_ns BLK_PID $NS_B 10.77.0.3 node-b "$B/examples/blk/blkback" --shared=2 --read-only \
        fabric:blk1 "$d/src.img"
    spawn_ns NBD_PID $NS_A 10.77.0.2 node-a nbdkit -f -U "$d/a.sock" \
        "$B/examples/blk/nbdkit-idc-plugin.so" address=fabric:blk1 timeout=20
    spawn_ns NBD2_PID $NS_C 10.77.0.4 node-c nbdkit -f -U "$d/c.sock" \
        "$B/examples/blk/nbdkit-idc-plugin.so" address=fabric:blk1 timeout=20
    if ! wait_for 20 sh -c "test -S '$d/a.sock' && test -S '$d/c.sock'"; then
        fail blk_shared "nbdkit did not start: $(tail -2 "$TMP/NBD2_PID.log")"
    else
        spawn_ns COPY_PID $NS_A 10.77.0.2 node-a nbdcopy --requests=16 \
            "nbd+unix:///?socket=$d/a.sock" "$d/a.img"
        spawn_ns COPY2_PID $NS_C 10.77.0.4 node-c nbdcopy --requests=16 \
            "nbd+unix:///?socket=$d/c.sock" "$d/c.img"
        local ra=0 rc=0 want
        wait "$COPY_PID" || ra=$?
        wait "$COPY2_PID" || rc=$?
        want=$(sha256sum < "$d/src.img")
        if [ $ra != 0 ] || [ $rc != 0 ]; then
            fail blk_shared "nbdcopy failed ($ra, $rc): $(tail -2 "$TMP/COPY2_PID.log")"
        elif [ "$(sha256sum < "$d/a.img")" != "$want" ] ||
            [ "$(sha256sum < "$d/c.img")" != "$want" ]; then
            fail blk_shared "a copy differs from the disk"
        elif ! grep -q "2 of 2 in use" "$TMP/BLK_PID.log"; then
            fail blk_shared "the two front ends were never served at once"
        else
            pass "blk_shared (blkback --shared=2: front ends in A and C at once, copies equal)"
        fi
    fi
    kill -TERM "$NBD_PID" "$NBD2_PID" "$BLK_PID" 2>/dev/null
    wait_for 10 sh -c "! kill -0 $NBD_PID 2>/dev/null && ! kill -0 $NBD2_PID 2>/dev/null"
    { kill -9 "$NBD_PID" "$NBD2_PID" "$BLK_PID"; wait "$NBD_PID" "$NBD2_PID" "$BLK_PID"; } 2>/dev/null
}
# The mirror across namespaces: blkback legs in B and C, blkmirror and nbdkit in A. C's link
# is cut; 32 MiB of new data go through the mirror (to B alone; C's chunks recorded dirty) and
# read back through it; the link comes back; the resync copies what C missed; then both backing
# files equal the data written, and so do the mirror's reads.
mstat() { grep -s "^$1=" "$2/mirror.status" | cut -d= -f2; }
mstate() { [ "$(mstat leg0 "$3")" = "$1" ] && [ "$(mstat leg1 "$3")" = "$2" ]; }
blk_mirror() {
    local d=$TMP/mirror uri want why=
    mkdir -p "$d"
    head -c $((32 << 20)) /dev/urandom > "$d/src1.img"
    head -c $((32 << 20)) /dev/urandom > "$d/src2.img"
    truncate -s 32M "$d/b.img" "$d/c.img"
    spawn_ns LEGB_PID $NS_B 10.77.0.3 node-b "$B/examples/blk/blkback" fabric:legb "$d/b.img"
    spawn_ns LEGC_PID $NS_C 10.77.0.4 node-c "$B/examples/blk/blkback" fabric:legc "$d/c.img"
    spawn_ns MIR_PID $NS_A 10.77.0.2 node-a "$B/examples/mirror/blkmirror" -S "$d/mirror.status" \
        fabric:mir0 fabric:legb fabric:legc
    spawn_ns NBD_PID $NS_A 10.77.0.2 node-a nbdkit -f -U "$d/nbd.sock" \
        "$B/examples/blk/nbdkit-idc-plugin.so" address=fabric:mir0 timeout=20
    uri="nbd+unix:///?socket=$d/nbd.sock"
    want=$(sha256sum < "$d/src2.img")
    nbd() { in_ns $NS_A 10.77.0.2 node-a timeout 120 nbdcopy --requests=16 "$@"; }
    if ! wait_for 30 mstate in_sync in_sync "$d" || ! wait_for 20 test -S "$d/nbd.sock"; then
        why="the mirror did not come up: $(tail -3 "$TMP/MIR_PID.log")"
    elif ! nbd "$d/src1.img" "$uri" > "$d/copy1.log" 2>&1; then
        why="writing with both legs up: $(tail -3 "$d/copy1.log")"
    else
        ip -n $NS_C link set vc down
        if ! nbd "$d/src2.img" "$uri" > "$d/copy2.log" 2>&1; then
            why="writing with C's link down: $(tail -3 "$d/copy2.log")"
        elif ! wait_for 10 mstate in_sync down "$d"; then
            why="leg C's loss not seen: leg1=$(mstat leg1 "$d")"
        elif ! nbd "$uri" "$d/out1.img" > "$d/out1.log" 2>&1; then
            why="reading with C's link down: $(tail -3 "$d/out1.log")"
        elif [ "$(sha256sum < "$d/out1.img")" != "$want" ]; then
            why="data read with C's link down differ from what was written"
        elif [ "$(sha256sum < "$d/b.img")" != "$want" ]; then
            why="leg B does not hold what was written during the cut"
        elif [ "$(mstat leg1_dirty_chunks "$d")" != 512 ]; then
            why="$(mstat leg1_dirty_chunks "$d") chunks recorded for C, 512 written"
        fi
        ip -n $NS_C link set vc up
    fi
    if [ -z "$why" ]; then
        if ! wait_for 60 mstate in_sync in_sync "$d" || [ "$(mstat leg1_dirty_chunks "$d")" != 0 ]; then
            why="no resync after the link came back: leg1=$(mstat leg1 "$d") dirty $(mstat leg1_dirty_chunks "$d")"
        elif ! nbd "$uri" "$d/out2.img" > "$d/out2.log" 2>&1; then
            why="reading after the resync: $(tail -3 "$d/out2.log")"
        else
            # the legs are quiet (no write since): their files are final
            local b c o
            b=$(sha256sum < "$d/b.img") c=$(sha256sum < "$d/c.img") o=$(sha256sum < "$d/out2.img")
            if [ "$b" != "$want" ] || [ "$c" != "$want" ] || [ "$o" != "$want" ]; then
                why="sha256 differ: written ${want%% *} leg B ${b%% *} leg C ${c%% *} read ${o%% *}"
            fi
        fi
    fi
    if [ -n "$why" ]; then
        fail blk_mirror_link_cut "$why"
    else
        pass "blk_mirror_link_cut (leg C's link cut under 32 MiB of writes, $(mstat leg1_resynced_chunks "$d") chunks resynced, legs and reads sha256-equal)"
    fi
    kill -TERM "$NBD_PID" "$MIR_PID" "$LEGB_PID" "$LEGC_PID" 2>/dev/null
    wait_for 10 sh -c "! kill -0 $NBD_PID 2>/dev/null && ! kill -0 $MIR_PID 2>/dev/null"
    { kill -9 "$NBD_PID" "$MIR_PID" "$LEGB_PID" "$LEGC_PID"
      wait "$NBD_PID" "$MIR_PID" "$LEGB_PID" "$LEGC_PID"; } 2>/dev/null
    rm -rf "$d"
}
if ! command -v nbdkit > /dev/null || ! command -v nbdcopy > /dev/null; then
    echo "[SKIP] fabric::blk_nbdcopy: nbdkit or nbdcopy not installed"
    SKIP=$((SKIP + 1))
elif [ ! -x "$B/examples/blk/blkback" ] || [ ! -r "$B/examples/blk/nbdkit-idc-plugin.so" ]; then
    echo "[SKIP] fabric::blk_nbdcopy: the blk example is not built (make examples)"
    SKIP=$((SKIP + 1))
else
    blk
    if [ -x "$B/examples/mirror/blkmirror" ]; then
        blk_mirror
    else
        echo "[SKIP] fabric::blk_mirror_link_cut: blkmirror is not built (make examples)"
        SKIP=$((SKIP + 1))
    fi
fi

if [ "$SKIP" -gt 0 ]; then
    echo "$PASS passed, $FAIL failed, $SKIP skipped"
else
    echo "$PASS passed, $FAIL failed"
fi
[ "$FAIL" = 0 ]

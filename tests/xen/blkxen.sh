#!/bin/sh
# blkxen: the block example (examples/blk) over the xen transport, on the real-Xen harness.
# blkback serves a disk image; nbdkit with the idc front-end plugin (nbdkit-idc-plugin.so)
# exports it over NBD in dom0; standard NBD tools (nbdcopy, nbdinfo, qemu-io) use it. Result
# lines are Criterion-like, prefixed with "@@idc " (see docs/xen.md).
#
#   blkxen list            every check name the harness expects
#   blkxen local           dom0 only: blkback on xen:blk0, nbdkit on xen:0/blk0 (suite blk_xen_dom0)
#   blkxen client DOMU     dom0: nbdkit on xen:DOMU/blk0, blkback in the domU (suite blk_xen_domu)
#   blkxen serve           the domU: blkback on xen:blk0?allow=0 until dom0 says stop
#
# dom0 and the domU signal each other through xenstore nodes in the domU's directory
# (blkctl): the domU writes state=up|killed|restarted|stopped, dom0 writes cmd=kill|stop.
#
# Checks, in both suites:
#   serve_connect        blkback serves, nbdkit's first connection sees the disk's size
#   nbdcopy_roundtrip    random data written with nbdcopy and read back, sha256 equal
#   kill9_restart        blkback killed with SIGKILL while nbdcopy reads and restarted: the
#                        copy finishes with the data intact, the front-end reconnected
#   qemu_io_odd_offsets  qemu-io pattern writes and reads at unaligned offsets and lengths
#
# Disk and copy size: idc_blk_mb=MIB on the kernel command line (the harness's XEN_BLK_MB), else 16.
BIN=$(cd "$(dirname "$0")" && pwd)
PLUGIN=$BIN/nbdkit-idc-plugin.so
MB=$(sed -n 's/.*idc_blk_mb=\([0-9][0-9]*\).*/\1/p' /proc/cmdline 2>/dev/null)
case $MB in ''|0*) MB=16 ;; esac
CHECKS="serve_connect nbdcopy_roundtrip kill9_restart qemu_io_odd_offsets idcctl_lists"
SRC=/tmp/blkxen-src.img      # the random image, shared by both suites (dom0)

. "${0%/*}/checks.sh" # up, since, begin, pass, fail, skip, log_mark, log, check_kernel_log
mibps() { awk -v a="$1" -v b="$(up)" -v m="$MB" 'BEGIN { d = b - a; if (d <= 0) d = 0.01; printf "%.1f", m / d }'; }

# ------------------------------------------------------------------ results
# the tail of a log on the console (plain lines, for the person reading a failure)
show() { [ -f "$1" ] && tail -n "${2:-15}" "$1" | sed "s#^#blkxen $(basename "$1")| #"; }

# ------------------------------------------------------------------ processes
BB=""; NBDKIT=""; COPY=""
cleanup() {
    for p in $COPY $NBDKIT $BB; do kill -9 "$p" 2>/dev/null; done
    for p in $COPY $NBDKIT $BB; do wait "$p" 2>/dev/null; done
    COPY=""; NBDKIT=""; BB=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_blkback DIR ADDRESS: a file-backed disk in tmpfs, so a restarted blkback finds the data
start_blkback() {
    blkback -s "${MB}M" "$2" "$1/disk.img" >>"$1/blkback.log" 2>&1 &
    BB=$!
}

# stop_blkback: SIGTERM, which takes the endpoint down cleanly; its counters go to the log
stop_blkback() {
    [ -n "$BB" ] || return 0
    kill -TERM "$BB" 2>/dev/null
    _i=0; while kill -0 "$BB" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
    kill -9 "$BB" 2>/dev/null
    wait "$BB" 2>/dev/null
    BB=""
}

# start_nbdkit DIR ADDRESS: nbdkit with the idc plugin on a UNIX socket; sets URI
start_nbdkit() {
    rm -f "$1/nbd.sock"
    nbdkit -f -U "$1/nbd.sock" "$PLUGIN" address="$2" stats="$1/stats" timeout=60 \
        connect-timeout=60 >"$1/nbdkit.log" 2>&1 &
    NBDKIT=$!
    URI="nbd+unix:///?socket=$1/nbd.sock"
    _i=0
    while [ ! -S "$1/nbd.sock" ] && [ $_i -lt 300 ]; do
        kill -0 "$NBDKIT" 2>/dev/null || return 1
        sleep 0.1; _i=$((_i + 1))
    done
    [ -S "$1/nbd.sock" ]
}

stat_of() { sed -n "s/^$1=//p" "$2" 2>/dev/null; }
# the full sha256 is compared; the first 16 digits are printed
sum256() { sha256sum < "$1" | cut -d' ' -f1; }
short() { echo "$1" | cut -c1-16; }
allocated() { echo $(( $(stat -c %b "$1" 2>/dev/null || echo 0) * 512 )); }

# ------------------------------------------------------------------ dom0: the checks
# run_checks DIR ADDRESS MODE [DOMU]: MODE local (blkback here) or remote (blkback in DOMU)
run_checks() {
    W=$1; ADDR=$2; MODE=$3; DOMU=${4:-}
    rm -rf "$W"; mkdir -p "$W"
    if [ ! -f "$SRC" ]; then
        t=$(up)
        blkctl fill "$MB" > "$SRC.tmp" && mv "$SRC.tmp" "$SRC"
        echo "@@idc note $SUITE: random ${MB} MiB image made in $(since "$t")s"
    fi
    SUM=$(sum256 "$SRC")

    begin serve_connect
    ok=1
    if [ "$MODE" = local ]; then
        start_blkback "$W" "xen:blk0?allow=0"
    elif ! blkctl wait "$DOMU" state 120 up >/dev/null; then
        fail "blkback did not start in the domU within 120s (is the domU still in an earlier step?)"; ok=0
    fi
    if [ $ok = 1 ] && ! start_nbdkit "$W" "$ADDR"; then
        show "$W/nbdkit.log"; fail "nbdkit did not start"; ok=0
    fi
    if [ $ok = 1 ]; then
        size=$(timeout 90 nbdinfo --size "$URI" 2>"$W/nbdinfo.err")
        if [ "$size" = $((MB * 1048576)) ]; then
            pass "blkback ($MODE) serves ${MB} MiB, nbdkit's front-end connected to $ADDR in $(since "$T0")s"
        else
            show "$W/nbdinfo.err"; show "$W/nbdkit.log"; show "$W/blkback.log"
            fail "nbdinfo --size on $ADDR: '$size' (expected $((MB * 1048576)))"; ok=0
        fi
    fi
    if [ $ok = 0 ]; then
        for c in nbdcopy_roundtrip kill9_restart qemu_io_odd_offsets idcctl_lists; do
            begin $c; fail "not run: serve_connect failed"
        done
        return
    fi

    begin nbdcopy_roundtrip
    t=$(up)
    if ! timeout 120 nbdcopy "$SRC" "$URI" 2>"$W/copy.err"; then
        show "$W/copy.err"; show "$W/nbdkit.log"; show "$W/blkback.log"
        fail "nbdcopy into the disk failed"
    else
        wr=$(mibps "$t"); t=$(up)
        if ! timeout 120 nbdcopy "$URI" "$W/back.img" 2>"$W/copy.err"; then
            show "$W/copy.err"; show "$W/nbdkit.log"
            fail "nbdcopy out of the disk failed"
        else
            rd=$(mibps "$t")
            got=$(sum256 "$W/back.img")
            if [ "$got" = "$SUM" ]; then
                pass "${MB} MiB written at $wr MiB/s, read back at $rd MiB/s, sha256 $(short "$SUM") == $(short "$got")"
            else
                fail "sha256 mismatch: wrote $(short "$SUM"), read back $(short "$got")"
            fi
        fi
    fi

    begin kill9_restart
    rm -f "$W/back.img"
    r0=$(stat_of reconnects "$W/stats"); r0=${r0:-0}
    timeout 150 nbdcopy --requests=16 "$URI" "$W/back.img" 2>"$W/copy.err" &
    COPY=$!
    # the kill is asked for once an eighth of the image has arrived: in the domU it lands a few
    # hundred ms later (xenstore watch), and the copy must still be running then
    _i=0
    while [ "$(allocated "$W/back.img")" -lt $((MB * 131072)) ] && [ $_i -lt 1200 ] && kill -0 $COPY 2>/dev/null; do
        sleep 0.05; _i=$((_i + 1))
    done
    at=$(( $(allocated "$W/back.img") / 1048576 ))
    if ! kill -0 $COPY 2>/dev/null; then
        wait $COPY; COPY=""
        fail "nbdcopy ended before the kill (after $at MiB): nothing was tested"
    else
        if [ "$MODE" = local ]; then
            kill -9 "$BB"; wait "$BB" 2>/dev/null; BB=""
            killed=1
            sleep 1
            start_blkback "$W" "xen:blk0?allow=0"
        else
            killed=0
            blkctl put "$DOMU" cmd kill &&
                blkctl wait "$DOMU" state 30 restarted >/dev/null && killed=1
        fi
        if wait $COPY; then copy_ok=1; else copy_ok=0; fi
        COPY=""
        # the plugin writes its counters every second
        _i=0
        while [ "$(stat_of reconnects "$W/stats")" = "$r0" ] && [ $_i -lt 30 ]; do sleep 0.1; _i=$((_i + 1)); done
        r1=$(stat_of reconnects "$W/stats"); rt=$(stat_of retries "$W/stats")
        got=$(sum256 "$W/back.img")
        if [ $killed = 0 ]; then
            fail "the domU did not report blkback killed and restarted"
        elif [ $copy_ok = 0 ]; then
            show "$W/copy.err"; show "$W/nbdkit.log"
            fail "nbdcopy failed across the restart (killed after $at MiB)"
        elif [ "$got" != "$SUM" ]; then
            fail "sha256 mismatch after the restart: $(short "$SUM") vs $(short "$got")"
        elif [ "${r1:-0}" -le "$r0" ]; then
            fail "the copy finished but the front-end did not reconnect (reconnects $r0 -> ${r1:-?})"
        else
            pass "blkback killed after $at MiB of ${MB}, restarted 1s later; nbdcopy finished," \
                "sha256 $(short "$got") intact; reconnects $r0 -> $r1, requests resent ${rt:-?}"
        fi
    fi

    begin qemu_io_odd_offsets
    if ! command -v qemu-io >/dev/null 2>&1; then
        skip "qemu-io is not in the guest (qemu-utils not installed on the host)"
    else
        out=$(timeout 60 qemu-io -f raw "$URI" \
            -c 'write -P 0x5a 4097 65531' -c 'read -P 0x5a 4097 65531' \
            -c 'write -P 0xa5 1048573 7' -c 'read -P 0xa5 1048573 7' \
            -c 'write -P 0x3c 3145727 1048577' -c 'read -P 0x3c 3145727 1048577' \
            -c flush 2>&1)
        rc=$?
        n=$(printf '%s\n' "$out" | grep -cE '^(wrote|read) [0-9]+/[0-9]+ bytes at offset')
        if [ $rc = 0 ] && [ "$n" = 6 ] && ! printf '%s\n' "$out" | grep -qiE 'fail|error'; then
            pass "3 pattern writes at 4097+65531, 1048573+7, 3145727+1048577 read back; flush"
        else
            printf '%s\n' "$out" | tail -n 10 | sed 's/^/blkxen qemu-io| /'
            fail "qemu-io: status $rc, $n of 6 transfers reported"
        fi
    fi

    # idcctl in dom0 lists the nbdkit front end's xen: endpoint, connected, with the frames the
    # copies above carried
    begin idcctl_lists
    out=$(idcctl ls xen: 2>&1)
    row=$(printf '%s\n' "$out" | awk '$2 == "nbdkit" && $5 == "connected" && $6 ~ /^blkif\// && $9 > 100 && $11 > 100')
    if [ -n "$row" ]; then
        pass "idcctl ls xen: $(printf '%s' "$row" | awk '{ print $3, $4, $5, $6, $7, "tx", $9, "rx", $11 }')"
    else
        printf '%s\n' "$out" | tail -n 8 | sed 's/^/blkxen idcctl| /'
        fail "idcctl ls xen: shows no connected nbdkit row with traffic"
    fi
}

# the nbdkit side's counters and the processes' ends, for the record
finish_dom0() {
    if [ -n "$NBDKIT" ]; then
        kill -TERM "$NBDKIT" 2>/dev/null
        _i=0; while kill -0 "$NBDKIT" 2>/dev/null && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
        kill -9 "$NBDKIT" 2>/dev/null; wait "$NBDKIT" 2>/dev/null; NBDKIT=""
    fi
    [ -f "$W/stats" ] && echo "@@idc note $SUITE: front-end $(tr '\n' ' ' < "$W/stats")"
}

# ------------------------------------------------------------------ commands
T_ALL=$(up)
case ${1:-} in
list)
    for s in blk_xen_dom0 blk_xen_domu; do
        for c in $CHECKS; do echo "$s::$c"; done
    done
    ;;
local)
    SUITE=blk_xen_dom0
    run_checks /tmp/blkxen-local xen:0/blk0 local
    finish_dom0
    stop_blkback
    grep -h 'requests (' "$W/blkback.log" | tail -n 1 | sed "s/^/@@idc note $SUITE: /"
    echo "@@idc note $SUITE: step took $(since "$T_ALL")s"
    ;;
client)
    case ${2:-} in ''|*[!0-9]*) echo "usage: blkxen client DOMU" >&2; exit 2 ;; esac
    SUITE=blk_xen_domu
    run_checks /tmp/blkxen-domu "xen:$2/blk0" remote "$2"
    finish_dom0
    blkctl put "$2" cmd stop
    blkctl wait "$2" state 20 stopped >/dev/null || echo "@@idc note $SUITE: the domU did not report blkback stopped"
    echo "@@idc note $SUITE: step took $(since "$T_ALL")s"
    ;;
serve)
    W=/tmp/blkxen
    rm -rf "$W"; mkdir -p "$W"
    ADDR="xen:blk0?allow=0"
    start_blkback "$W" "$ADDR"
    blkctl put self state up
    cmd=$(blkctl wait self cmd 240 kill stop)
    if [ "$cmd" = kill ]; then
        kill -9 "$BB"; wait "$BB" 2>/dev/null
        echo "blkxen: blkback killed with SIGKILL at $(up)s"
        blkctl put self state killed
        sleep 1
        start_blkback "$W" "$ADDR"
        blkctl put self state restarted
        cmd=$(blkctl wait self cmd 240 stop)
    fi
    stop_blkback
    show "$W/blkback.log" 6
    blkctl put self state stopped
    [ "$cmd" = stop ]
    ;;
*)
    echo "usage: blkxen list | local | client DOMU | serve" >&2
    exit 2
    ;;
esac
[ $FAILED = 0 ]

#!/bin/sh
# idcblkxen: the kernel front end idcblk (examples/idcblk) in the domU, on the kernel runtime
# idc.ko, served by the user-space blkback in dom0 over xen:. Result lines are Criterion-like,
# prefixed with "@@idc " (see docs/xen.md).
#
#   idcblkxen list          every check name the harness expects
#   idcblkxen serve DOMU    dom0: blkback on xen:idcblk?allow=DOMU, killed and restarted on request
#   idcblkxen run           the domU: load idc.ko and idcblk.ko, run the checks on /dev/idcblk0
#
# The domU asks, dom0 answers, through xenstore nodes in the domU's directory (blkctl): the
# domU writes ib-ask=kill|restart|gone|stop, dom0 answers ib-bb=up|killed|restarted|gone|stopped.
#
# Disk size: idc_blk_mb=MIB on the kernel command line (the harness's XEN_BLK_MB), else 16; at
# most 32 here (the domU's tmpfs holds three images of it).
#
# Checks (suite idcblk_domu):
#   modules_load          insmod idc.ko, then idcblk.ko address=xen:0/idcblk io_timeout=20
#   disk_appears          /dev/idcblk0 shows up with the size blkback serves
#   dd_write_verify       random data over the whole device by 4 direct-I/O writers at once,
#                         read back (direct I/O), sha256 equal
#   fio_verify            fio random writes with --verify=crc32c, 32 in flight (fio in the guest)
#   ext4_mkfs_fsck        mkfs.ext4, then e2fsck -fn finds the file system clean
#   ext4_mount_checksums  mount, write files, unmount, mount again: sha256 equal (ext4 in the guest)
#   blkfront_compare      fio 4 KiB random read QD16 and 1 MiB sequential read on idcblk0 and on
#                         Linux's xen-blkfront/xen-blkback in the same boot (xvdb, loop device
#                         over a tmpfs file): the ratios, reported (fails only when a run fails)
#   kill9_restart         blkback killed with SIGKILL during writes and restarted: the writes
#                         finish, the data reads back intact
#   backend_gone_eio      blkback gone for good: a read fails with EIO within io_timeout (plus
#                         slack), one kernel log line says why, the next read fails at once
#   modules_unload        rmmod idcblk, rmmod idc
#   no_grant_left         idc.ko held no grant and no mapping once idcblk was unloaded
#   kernel_log_clean      no WARNING:, BUG:, Oops or call trace in the kernel log since the load
#
# The modules are /idc/idcblk/idc.ko and idcblk.ko; when run.sh could not build them,
# /idc/idcblk/why says why and every check is skipped with that reason.
SUITE=idcblk_domu
# mkfs.ext4 and e2fsck are in the guest's /sbin (run.sh), which init's PATH leaves out
PATH=$PATH:/sbin
CHECKS="modules_load disk_appears dd_write_verify fio_verify ext4_mkfs_fsck ext4_mount_checksums
blkfront_compare kill9_restart backend_gone_eio modules_unload no_grant_left kernel_log_clean"
DIR=/idc/idcblk
TMO=20 # io_timeout of the module, seconds
MB=$(sed -n 's/.*idc_blk_mb=\([0-9][0-9]*\).*/\1/p' /proc/cmdline 2>/dev/null)
case $MB in ''|0*) MB=16 ;; esac
# the domU has 384 MiB (fio and its libraries take 50), and its tmpfs holds three images of this size
[ "$MB" -le 32 ] || MB=32
DEV=/dev/idcblk0
W=/tmp/idcblkxen

. "${0%/*}/checks.sh" # up, since, begin, pass, fail, skip, log_mark, log, check_kernel_log

sum256() { sha256sum < "$1" | cut -d' ' -f1; }
short() { echo "$1" | cut -c1-16; }

# ask WHAT ANSWER SECONDS: ask dom0 to do WHAT, wait until it answers ANSWER
ask() {
    blkctl put self ib-ask "$1" && blkctl wait self ib-bb "$3" "$2" >/dev/null
}

# the whole device, read with direct I/O, into FILE
read_dev() { dd if=$DEV of="$1" bs=128k iflag=direct 2>"$W/dd.err"; }

# writers FILE PASSES: 4 direct-I/O writers at once, each writing its quarter of FILE at its
# offset PASSES times over, or with PASSES 0 pass after pass until stop_writers; sets PIDS
writers() {
    PIDS=""
    rm -f "$W/stop"
    q=$((MB * 2)) # 128 KiB blocks per quarter
    for i in 0 1 2 3; do
        (
            n=0
            while if [ "$2" = 0 ]; then [ ! -f "$W/stop" ]; else [ $n -lt "$2" ]; fi; do
                dd if="$1" of=$DEV bs=128k skip=$((i * q)) seek=$((i * q)) count=$q \
                    oflag=direct conv=notrunc 2>>"$W/dd.err" || exit 1
                n=$((n + 1))
            done
        ) &
        PIDS="$PIDS $!"
    done
}
# wait_writers: 0 when every writer succeeded
wait_writers() {
    _rc=0
    for p in $PIDS; do wait "$p" || _rc=1; done
    PIDS=""
    return $_rc
}
# stop_writers: writers started with PASSES 0 end their current pass; then wait_writers
stop_writers() { touch "$W/stop"; wait_writers; }

# fio_run DEV RW BS DEPTH: one timed fio job with direct I/O; prints "IOPS KiB/s" (its terse
# output's read fields), nothing when fio failed
fio_run() {
    fio --name=cmp --filename="$1" --rw="$2" --bs="$3" --iodepth="$4" --ioengine=libaio \
        --direct=1 --size="${MB}M" --time_based --runtime=8 --ramp_time=1 --minimal \
        2>>"$W/fio.err" | awk -F';' '$5 == 0 && $8 > 0 { printf "%d %d\n", $8, $7 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# compare: fio's 4 KiB random read at queue depth 16 and 1 MiB sequential read (depth 4) on
# /dev/idcblk0 and on xvdb, Linux's own xen-blkfront over xen-blkback in dom0 on a loop device
# over a tmpfs file of the same size (blkback's image is a tmpfs file too). The runs alternate
# so that a change of the host's load touches both. The ratios are the result (under emulation
# only ratios mean anything); the check fails only when a run cannot be made.
compare() {
    blkctl put self ib-ask vbd
    a=$(blkctl wait self ib-bb 60 vbd-up vbd-failed) || a=timeout
    if [ "$a" != vbd-up ]; then
        fail "dom0 could not attach a xen-blkback disk ($a)"
        return
    fi
    _i=0
    insmod /lib/modules/xen-blkfront.ko 2>>"$W/fio.err"
    while [ "$(cat /sys/block/xvdb/size 2>/dev/null)" != $((MB * 2048)) ] && [ $_i -lt 300 ]; do
        sleep 0.1; _i=$((_i + 1))
    done
    if [ ! -b /dev/xvdb ]; then
        fail "no /dev/xvdb of $((MB * 2048)) sectors from xen-blkfront within 30s"
    else
        ri=$(fio_run $DEV randread 4k 16) rx=$(fio_run /dev/xvdb randread 4k 16)
        si=$(fio_run $DEV read 1M 4) sx=$(fio_run /dev/xvdb read 1M 4)
        if [ -z "$ri" ] || [ -z "$rx" ] || [ -z "$si" ] || [ -z "$sx" ]; then
            tail -n 5 "$W/fio.err" | sed 's/^/idcblkxen fio| /'
            fail "a fio run failed (idcblk: '$ri' '$si', xen-blkfront: '$rx' '$sx')"
        else
            set -- $ri $rx $si $sx
            pass "4k randread QD16: idcblk $1 IOPS, xen-blkfront $3 IOPS (ratio $(ratio $1 $3));" \
                "1M read QD4: idcblk $(($6 / 1024)) MiB/s, xen-blkfront $(($8 / 1024)) MiB/s" \
                "(ratio $(ratio $6 $8)); $(log | grep -m1 -o 'persistent grants: [a-z]*;' || true)"
        fi
    fi
    blkctl put self ib-ask vbd-off
    blkctl wait self ib-bb 60 vbd-off >/dev/null || detail "dom0 did not detach xvdb"
    rmmod xen-blkfront 2>/dev/null || detail "rmmod xen-blkfront failed"
}

case ${1:-} in
list)
    for c in $CHECKS; do echo "$SUITE::$c"; done
    exit 0 ;;
serve)
    case ${2:-} in ''|*[!0-9]*) echo "usage: idcblkxen serve DOMU" >&2; exit 2 ;; esac
    D=$2 BB=""
    rm -rf "$W"; mkdir -p "$W"
    start() { blkback -s "${MB}M" "xen:idcblk?allow=$D" "$W/disk.img" >>"$W/blkback.log" 2>&1 & BB=$!; }
    killbb() { [ -z "$BB" ] || { kill -9 "$BB"; wait "$BB" 2>/dev/null; BB=""; }; }
    # Linux's own back end for the comparison: xen-blkback on a loop device over a tmpfs file
    # of the same size as blkback's, attached to the domU as xvdb by xl (blkctl is the hotplug
    # script that publishes the loop device's numbers)
    LOOP=""
    vbd_up() {
        for m in loop xen-blkback; do
            [ -d /sys/module/"$(echo $m | tr - _)" ] || insmod /lib/modules/$m.ko || return 1
        done
        mkdir -p /etc/xen/scripts
        printf '#!/bin/sh\nexec /idc/bin/blkctl hotplug "$@"\n' > /etc/xen/scripts/block
        chmod +x /etc/xen/scripts/block
        blkctl fill "$MB" > "$W/vbd.img" && LOOP=$(losetup -f) && losetup "$LOOP" "$W/vbd.img" ||
            return 1
        xl block-attach "$D" "format=raw, vdev=xvdb, access=rw, target=$LOOP" >>"$W/xl.log" 2>&1 || {
            tail -n 3 "$W/xl.log" | sed 's/^/idcblkxen xl| /'
            return 1
        }
    }
    vbd_down() {
        [ -n "$LOOP" ] || return 0
        xl block-detach "$D" xvdb >>"$W/xl.log" 2>&1
        losetup -d "$LOOP"; rm -f "$W/vbd.img"; LOOP=""
    }
    start
    blkctl put "$D" ib-bb up
    while :; do
        cmd=$(blkctl wait "$D" ib-ask 400 kill restart gone vbd vbd-off stop) || cmd=stop
        # cleared before the answer: the domU asks again only once it has the answer
        blkctl put "$D" ib-ask none
        case $cmd in
        kill) killbb; blkctl put "$D" ib-bb killed ;;
        restart) start; blkctl put "$D" ib-bb restarted ;;
        gone) killbb; blkctl put "$D" ib-bb gone ;;
        vbd) if vbd_up; then blkctl put "$D" ib-bb vbd-up; else blkctl put "$D" ib-bb vbd-failed; fi ;;
        vbd-off) vbd_down; blkctl put "$D" ib-bb vbd-off ;;
        stop) break ;;
        esac
    done
    vbd_down
    if [ -n "$BB" ]; then kill -TERM "$BB"; wait "$BB" 2>/dev/null; fi
    tail -n 4 "$W/blkback.log" | sed 's/^/idcblkxen blkback.log| /'
    blkctl put "$D" ib-bb stopped
    exit 0 ;;
run) ;;
*)
    echo "usage: $0 list | serve DOMU | run" >&2
    exit 2 ;;
esac

# ------------------------------------------------------------------ the domU
rm -rf "$W"; mkdir -p "$W"
if [ ! -f $DIR/idc.ko ] || [ ! -f $DIR/idcblk.ko ]; then
    WHY=$(cat $DIR/why 2>/dev/null || echo "the modules are not in the guest")
    for c in $CHECKS; do echo "@@idc [SKIP] $SUITE::$c: $WHY"; done
    blkctl put self ib-ask stop
    exit 0
fi
log_mark # the kernel log from here on is this step's

begin modules_load
if ! blkctl wait self ib-bb 120 up >/dev/null; then
    fail "blkback did not start in dom0 within 120s"
    loaded=0
elif ! out=$(insmod $DIR/idc.ko 2>&1); then
    fail "insmod idc.ko: $out"
    loaded=0
elif ! out=$(insmod $DIR/idcblk.ko address=xen:0/idcblk io_timeout=$TMO 2>&1); then
    fail "insmod idcblk.ko: $out"
    rmmod idc
    loaded=0
else
    pass "$(uname -r)"
    loaded=1
fi

ready=0 WHY="no disk"
if [ $loaded = 0 ]; then
    begin disk_appears
    skip "not run: the modules are not loaded"
    WHY="the modules are not loaded"
else
    begin disk_appears
    want=$((MB * 2048)) _i=0
    while [ "$(cat /sys/block/idcblk0/size 2>/dev/null)" != $want ] && [ $_i -lt 600 ]; do
        sleep 0.1; _i=$((_i + 1))
    done
    if [ -b $DEV ] && [ "$(cat /sys/block/idcblk0/size)" = $want ]; then
        pass "$DEV: $want sectors in $(since "$T0")s; $(log | grep -m1 'idcblk0: connected' | sed 's/^\[[^]]*\] //')"
        ready=1
    else
        log | tail -n 10 | sed 's/^/idcblkxen dmesg| /'
        fail "no $DEV of $want sectors within 60s (size: $(cat /sys/block/idcblk0/size 2>/dev/null || echo none))"
    fi
fi

if [ $ready = 1 ]; then
    begin dd_write_verify
    blkctl fill "$MB" > "$W/src.img"
    SUM=$(sum256 "$W/src.img")
    t=$(up)
    writers "$W/src.img" 1
    if ! wait_writers; then
        tail -n 5 "$W/dd.err" | sed 's/^/idcblkxen dd| /'
        fail "writing $MB MiB failed"
    elif ! read_dev "$W/back.img"; then
        fail "reading the device back failed: $(tail -n 1 "$W/dd.err")"
    elif [ "$(sum256 "$W/back.img")" != "$SUM" ]; then
        fail "sha256 mismatch: wrote $(short "$SUM"), read back $(short "$(sum256 "$W/back.img")")"
    else
        pass "$MB MiB by 4 writers and read back in $(since "$t")s, sha256 $(short "$SUM")"
    fi
    rm -f "$W/back.img"

    begin fio_verify
    if ! command -v fio >/dev/null 2>&1; then
        skip "fio is not in the guest (Debian's fio brings about 80 MB of storage libraries)"
    elif out=$(fio --name=verify --filename=$DEV --rw=randwrite --bs=4k --size="${MB}M" \
                   --ioengine=libaio --iodepth=32 --direct=1 --verify=crc32c \
                   --do_verify=1 2>&1); then
        pass "randwrite 4k, iodepth 32, verify=crc32c over $MB MiB"
    else
        printf '%s\n' "$out" | tail -n 5 | sed 's/^/idcblkxen fio| /'
        fail "fio reported an error"
    fi

    begin ext4_mkfs_fsck
    mkfs_ok=0
    if ! command -v mkfs.ext4 >/dev/null 2>&1; then
        skip "mkfs.ext4 is not in the guest"
    elif ! out=$(mkfs.ext4 -q -F $DEV 2>&1); then
        fail "mkfs.ext4: $out"
    elif ! out=$(e2fsck -fn $DEV 2>&1); then
        printf '%s\n' "$out" | tail -n 5 | sed 's/^/idcblkxen e2fsck| /'
        fail "e2fsck -fn found problems after mkfs.ext4"
    else
        pass "mkfs.ext4 and e2fsck -fn: $(printf '%s\n' "$out" | tail -n 1)"
        mkfs_ok=1
    fi

    begin ext4_mount_checksums
    for m in crc16 mbcache jbd2 crc32c_generic ext4; do
        m=/lib/modules/$m.ko
        [ -f $m ] && insmod $m 2>/dev/null
    done
    if [ $mkfs_ok = 0 ]; then
        skip "no file system made"
    elif ! grep -qw ext4 /proc/filesystems; then
        skip "the guest kernel has no ext4 (module not in the initramfs)"
    else
        mkdir -p /mnt/idcblk
        ok=1
        if mount -t ext4 $DEV /mnt/idcblk 2>"$W/mount.err"; then
            for i in 1 2 3 4; do
                dd if="$W/src.img" of=/mnt/idcblk/f$i bs=64k count=$((MB * 2)) skip=$(((i - 1) * MB * 2 / 4)) 2>/dev/null || ok=0
            done
            (cd /mnt/idcblk && sha256sum f1 f2 f3 f4) > "$W/sums"
            umount /mnt/idcblk || ok=0
            echo 3 > /proc/sys/vm/drop_caches
            if [ $ok = 1 ] && mount -t ext4 $DEV /mnt/idcblk 2>>"$W/mount.err"; then
                (cd /mnt/idcblk && sha256sum -c "$W/sums" >/dev/null 2>&1) || ok=0
                umount /mnt/idcblk || ok=0
            else
                ok=0
            fi
        else
            ok=0
        fi
        if [ $ok = 1 ]; then pass "4 files written, remounted, sha256 equal"
        else fail "mount or checksums failed: $(tail -n 1 "$W/mount.err")"; fi
    fi

    begin blkfront_compare
    if ! command -v fio >/dev/null 2>&1; then
        skip "fio is not in the guest"
    elif [ ! -f /lib/modules/xen-blkfront.ko ]; then
        skip "xen-blkfront.ko is not in the guest"
    else
        compare
    fi

    begin kill9_restart
    blkctl fill "$MB" > "$W/src2.img"
    SUM2=$(sum256 "$W/src2.img")
    : > "$W/dd.err"
    writers "$W/src2.img" 0 # until stopped: the kill lands while they run, however fast the run
    sleep 0.5
    running=0
    for p in $PIDS; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
    if ! ask kill killed 30; then
        stop_writers
        fail "dom0 did not report blkback killed"
    else
        still=0
        for p in $PIDS; do kill -0 "$p" 2>/dev/null && still=$((still + 1)); done
        sleep 1
        if ! ask restart restarted 30; then
            stop_writers
            fail "dom0 did not report blkback restarted"
        elif ! { sleep 1; stop_writers; }; then
            tail -n 5 "$W/dd.err" | sed 's/^/idcblkxen dd| /'
            fail "writes failed across the restart"
        elif [ "$still" = 0 ]; then
            fail "no writer was running when blkback was killed: nothing was tested"
        elif ! read_dev "$W/back.img"; then
            fail "reading the device back failed: $(tail -n 1 "$W/dd.err")"
        elif [ "$(sum256 "$W/back.img")" != "$SUM2" ]; then
            fail "sha256 mismatch after the restart: $(short "$SUM2") vs $(short "$(sum256 "$W/back.img")")"
        else
            pass "killed with $still of 4 writers running ($running at the ask), restarted 1s later;" \
                "the writers went on after it and finished their passes, sha256 $(short "$SUM2") intact;" \
                "$(log | grep -c 'idcblk0: connected') connections"
        fi
    fi
    rm -f "$W/back.img"
    DURING=$(grants_held) # connected again: what no_grant_left's count shows while in use

    begin backend_gone_eio
    if ! ask gone gone 30; then
        fail "dom0 did not report blkback gone"
    else
        t=$(up)
        timeout $((TMO + 40)) dd if=$DEV of=/dev/null bs=4k count=1 skip=7 iflag=direct 2>"$W/gone.err"
        rc=$?
        el=$(since "$t")
        t=$(up)
        timeout 10 dd if=$DEV of=/dev/null bs=4k count=1 skip=9 iflag=direct 2>/dev/null
        rc2=$?
        el2=$(since "$t")
        lines=$(log | grep -c 'back end unreachable for')
        if [ $rc = 0 ]; then
            fail "a read succeeded with blkback gone"
        elif [ $rc = 124 ] || [ $rc = 143 ]; then
            fail "the read hung: no error within $((TMO + 40))s"
        elif awk -v e="$el" -v m="$((TMO + 15))" 'BEGIN { exit !(e > m) }'; then
            fail "the read failed after ${el}s, more than io_timeout $TMO + 15s"
        elif [ "$lines" != 1 ]; then
            fail "$lines kernel log lines about the lost back end (expected 1)"
        elif [ $rc2 = 0 ] || awk -v e="$el2" 'BEGIN { exit !(e > 3) }'; then
            fail "the next read: status $rc2 after ${el2}s (expected an error at once)"
        else
            pass "read failed after ${el}s ($(grep -m1 -o 'I/O error\|Input/output error' "$W/gone.err" || echo "status $rc")), the next at once (${el2}s); $(log | grep -m1 'back end unreachable' | sed 's/^\[[^]]*\] //')"
        fi
    fi
else
    skip_rest dd_write_verify fio_verify ext4_mkfs_fsck ext4_mount_checksums blkfront_compare \
        kill9_restart backend_gone_eio
fi
blkctl put self ib-ask stop

begin modules_unload
held=""
if [ $loaded = 0 ]; then
    fail "not loaded"
elif ! out=$(rmmod idcblk 2>&1); then
    fail "rmmod idcblk: $out"
elif held=$(grants_held) && ! out=$(rmmod idc 2>&1); then
    fail "rmmod idc: $out"
else
    pass
fi
check_grants_left "$held" "${DURING:-}"

check_kernel_log
log | grep -E 'idcblk|idc:' | tail -n 12 | sed 's/^/idcblkxen dmesg| /'
[ $FAILED = 0 ]

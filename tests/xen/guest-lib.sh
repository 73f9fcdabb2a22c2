# Shell helpers for the guest init scripts (busybox sh), sourced by /init in dom0 and the domU.
# Every line the harness reads from the console starts with "@@idc ".

up() { cut -d' ' -f1 /proc/uptime; }

# stage NAME [DETAIL]: a milestone of the boot (the harness tells boot failures by them)
stage() { echo "@@idc stage $* at $(up)s"; }

note() { echo "@@idc note $*"; }

# run SECONDS CMD...: one step under a timeout; a non-zero end is noted on the console
run() {
    _t=$1; shift
    timeout "$_t" "$@"
    _rc=$?
    [ $_rc = 0 ] || note "step '$*' ended with status $_rc at $(up)s"
    return $_rc
}

mount_basics() {
    mount -t proc proc /proc
    mount -t sysfs sys /sys
    mount -t devtmpfs dev /dev
    mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
    mount -t tmpfs run /run
    mount -t tmpfs tmp /tmp
}

# The Xen drivers user space needs (modules in Debian's kernel): privcmd, xenfs, event
# channels, grant mapping (gntdev) and grant allocation (gntalloc).
load_xen_modules() {
    for m in xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc; do
        # gntalloc grants at most 1024 pages in all by default: a few connections with 2 MiB
        # rings (the runtime suite's deadlock tests) need more
        _p=; [ $m = xen-gntalloc ] && _p=limit=65536
        insmod /lib/modules/$m.ko $_p || note "insmod $m failed"
    done
    mkdir -p /proc/xen
    mount -t xenfs xenfs /proc/xen
}

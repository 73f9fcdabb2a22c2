# netns.sh: network namespaces joined by a bridge, and a ZooKeeper server inside them, for the
# fabric transport's tests (tests/fabric/check.sh) and its benchmark (bench/fabnet.sh). Sourced:
#
#   netns_up TAG NET NODE...   namespace TAG-r holds a bridge at NET.1 (the registry's address);
#                              a namespace TAG-NODE per NODE, joined to the bridge by a veth pair
#                              (interface vNODE inside, bNODE on the bridge), at NET.2, NET.3, ...
#   netns_down                 every process in those namespaces killed, the namespaces deleted
#   zk_start DIR               ZooKeeper in TAG-r listening on NET.1:2181, data and logs in DIR;
#                              waits (bounded) until it answers from the first node's namespace
#   zk_kill                    the server killed (SIGKILL) and reaped
#
# The addresses exist only inside these namespaces; nothing is routed to the host. Functions
# return non-zero with the reason in NETNS_ERR. Needs root, ip(8), java and Debian's zookeeper.
NETNS_ALL=
NETNS_R=
NETNS_NET=
NETNS_FIRST=
NETNS_ERR=
ZK_PID=
ZK_CP=/etc/zookeeper/conf:/usr/share/java/zookeeper.jar

netns_fail() {
    NETNS_ERR=$*
    return 1
}

# netns_check: the tools are there (else NETNS_ERR says which is missing)
netns_check() {
    [ "$(id -u)" = 0 ] || netns_fail "needs root to create network namespaces" || return 1
    command -v ip >/dev/null || netns_fail "no ip(8) (iproute2)" || return 1
    command -v java >/dev/null ||
        netns_fail "no java (default-jre-headless) for the ZooKeeper server" || return 1
    [ -r /usr/share/java/zookeeper.jar ] ||
        netns_fail "no ZooKeeper server (Debian package zookeeper)" || return 1
}

netns_up() {
    local tag=$1 net=$2 err n=2 x ns
    shift 2
    NETNS_R=$tag-r NETNS_NET=$net NETNS_FIRST=$tag-$1
    err=$(ip netns add "$NETNS_R" 2>&1) ||
        netns_fail "cannot create network namespaces: $err" || return 1
    NETNS_ALL=$NETNS_R
    ip -n "$NETNS_R" link set lo up
    ip -n "$NETNS_R" link add br0 type bridge 2>/dev/null ||
        netns_fail "no bridge support in this kernel" || return 1
    ip -n "$NETNS_R" addr add "$net.1/24" dev br0
    ip -n "$NETNS_R" link set br0 up
    for x in "$@"; do
        ns=$tag-$x
        ip netns add "$ns" || netns_fail "cannot create network namespace $ns" || return 1
        NETNS_ALL="$ns $NETNS_ALL" # deleted before the registry's
        ip -n "$ns" link set lo up
        ip link add "v$x" netns "$ns" type veth peer name "b$x" netns "$NETNS_R" ||
            netns_fail "cannot create veth pairs" || return 1
        ip -n "$ns" addr add "$net.$n/24" dev "v$x"
        ip -n "$ns" link set "v$x" up
        ip -n "$NETNS_R" link set "b$x" master br0 up
        n=$((n + 1))
    done
}

netns_down() {
    local ns p
    zk_kill
    for ns in $NETNS_ALL; do
        if ip netns list 2>/dev/null | grep -q "^$ns\b"; then
            for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
            ip netns del "$ns" 2>/dev/null
        fi
    done
    NETNS_ALL=
}

zk_start() {
    local dir=$1 i
    mkdir -p "$dir/data"
    [ -f "$dir/zoo.cfg" ] || cat > "$dir/zoo.cfg" <<EOF
tickTime=200
dataDir=$dir/data
clientPort=2181
clientPortAddress=$NETNS_NET.1
admin.enableServer=false
minSessionTimeout=400
maxSessionTimeout=20000
4lw.commands.whitelist=ruok
EOF
    ip netns exec "$NETNS_R" java -Xmx256m -cp "$ZK_CP" -Dzookeeper.log.dir="$dir" \
        org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
        >> "$dir/server.log" 2>&1 &
    ZK_PID=$!
    for i in $(seq 1 100); do # 20 s
        if ip netns exec "$NETNS_FIRST" timeout 1 bash -c \
            "exec 3<>/dev/tcp/$NETNS_NET.1/2181 && echo ruok >&3 && cat <&3" 2>/dev/null |
            grep -q imok; then
            return 0
        fi
        sleep 0.2
    done
    netns_fail "ZooKeeper did not start: $(tail -3 "$dir/server.log")"
}

zk_kill() {
    [ -n "$ZK_PID" ] && { kill -9 "$ZK_PID" && wait "$ZK_PID"; } 2>/dev/null
    ZK_PID=
}

#!/bin/bash
# fabnet.sh: the namespaces of the benchmark's fabric placement, for one idc-bench run.
#
#   bench/fabnet.sh SCRATCH_DIR
#
# Makes node namespaces a and b joined by veth pairs through a bridge in a third one, where a
# ZooKeeper server listens (tests/fabric/netns.sh, shared with check-fabric; 10.78.0.0/24,
# addresses that exist only inside these namespaces). Prints one line on standard output,
#   ready NS_A NS_B ADDR_A ADDR_B REGISTRY      or      skip REASON
# then keeps everything until its standard input reaches end of file (idc-bench closes it when
# done, or dies), and removes every namespace and process it made. Bounded: an hour at most.
set -u
. "$(dirname "$0")/../tests/fabric/netns.sh"
TMP=$(mktemp -d "${1:-${TMPDIR:-/tmp}}/fabnet.XXXXXX") || { echo "skip no scratch directory"; exit 0; }
cleanup() {
    netns_down
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE
say_skip() {
    echo "skip $*"
    exit 0
}
netns_check || say_skip "$NETNS_ERR"
TAG=idcb$$
netns_up $TAG 10.78.0 a b >/dev/null 2>"$TMP/err" || say_skip "$NETNS_ERR"
zk_start "$TMP/zk" || say_skip "$NETNS_ERR"
echo "ready $TAG-a $TAG-b 10.78.0.2 10.78.0.3 10.78.0.1:2181"
read -r -t 3600 _ || true

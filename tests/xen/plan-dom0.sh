# The tests dom0 runs, in order (sourced by /init once xenstored and xenconsoled are up).
# Each step runs under a timeout; each program prints its own Criterion-like result lines.
# The domU runs the other side of each cross-domain step (plan-domu.sh), in the same order.

# dom0 <-> dom0: server and client as two processes
run 150 xenprim local
run 150 idcxen local
run 120 idcxen hostile                     # libidc backend vs. a hostile frontend
run 150 blkxen local                       # block example: blkback and nbdkit over xen:, in dom0
run 60 idcxen stale                         # a killed backend's leftover service node
run 300 rtxen run                           # the runtime suite (tests/runtime) over xen

# dom0 <-> domU
if domu_start; then
    run 150 xenprim pair client "$DOMU" u1     # domU serves, dom0 connects
    run 150 xenprim pair server "$DOMU" d1     # dom0 serves, domU connects
    timeout 400 idcxen deny-server "$DOMU" &    # a service the domU may not use
    IDCXEN_DENY=$!
    run 150 idcxen pair client "$DOMU" u1      # libidc xen transport, domU serves
    run 150 idcxen pair server "$DOMU" d1      # libidc xen transport, dom0 serves
    run 90 idcxen queue-server "$DOMU"         # dom0 holds the backend, the domU waits
    run 220 xenbench measure "$DOMU"           # idc vs. libxenvchan: RTT and MB/s (domU serves)
    # remote buffers across domains (grant copy): dom0 owns, the domU uses and forwards the
    # reference to a second dom0 process; then the domU owns and dom0 uses and forwards
    timeout 90 xbuf owner "$DOMU" x1 &
    XBUF_OWNER=$!
    run 90 xbuf third "$DOMU" x1
    wait $XBUF_OWNER
    timeout 90 xbuf third 0 x2 &
    XBUF_THIRD=$!
    run 90 xbuf user "$DOMU" x2
    wait $XBUF_THIRD
    run 200 blkxen client "$DOMU"              # block example: blkback in the domU, nbdkit here
    timeout 150 kidcevil serve "$DOMU" &      # a hostile backend for idc.ko's hostile_* checks
    KIDCEVIL=$!
    run 150 kidcsrv serve "$DOMU"              # the domU's kernel runtime (idc.ko) connects
    wait $KIDCEVIL
    run 420 idcblkxen serve "$DOMU"            # kernel front end idcblk in the domU, blkback here
    run 300 kbackfe run "$DOMU"                # the domU's kernel runtime (idc.ko) serves, dom0 connects
    # the domU's idcxen frontend streams to dom0 while xenprim's death step destroys the domU
    # and dom0's idcxen frontend has transactions in flight to the domU's backend
    rm -f /tmp/idcxen-death-ready /tmp/idcxen-death-ready2
    timeout 170 idcxen death-server "$DOMU" &
    IDCXEN_DEATH=$!
    timeout 170 idcxen death-frontend "$DOMU" &
    IDCXEN_DEATH2=$!
    _i=0; while { [ ! -f /tmp/idcxen-death-ready ] || [ ! -f /tmp/idcxen-death-ready2 ]; } && [ $_i -lt 600 ]; do sleep 0.1; _i=$((_i + 1)); done
    run 90 xenprim death "$DOMU" xl destroy domu
    wait $IDCXEN_DEATH
    wait $IDCXEN_DEATH2
    kill $IDCXEN_DENY 2>/dev/null
fi
domu_stop

# The tests dom0 runs, in order (sourced by /init once xenstored and xenconsoled are up).
# Each step runs under a timeout; each program prints its own Criterion-like result lines.
# The domU runs the other side of each cross-domain step (plan-domu.sh), in the same order.

# dom0 <-> dom0: server and client as two processes
run 150 xenprim local

# dom0 <-> domU
if domu_start; then
    run 150 xenprim pair client "$DOMU" u1     # domU serves, dom0 connects
    run 150 xenprim pair server "$DOMU" d1     # dom0 serves, domU connects
    run 90 xenprim death "$DOMU" xl destroy domu
fi
domu_stop

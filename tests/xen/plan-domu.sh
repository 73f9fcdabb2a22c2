# The domU's side of dom0's plan (plan-dom0.sh), in the same order.
run 60 kmodxen run                   # idc's kernel module (rings, codec) loaded; domU only
run 150 xenprim pair server 0 u1     # domU serves, dom0 connects
run 150 xenprim pair client 0 d1     # dom0 serves, domU connects
run 150 idcxen pair server 0 u1      # libidc xen transport, domU serves
run 150 idcxen pair client 0 d1      # libidc xen transport, dom0 serves
run 90 idcxen queue-client 0         # wait for dom0's busy backend, then connect
run 220 xenbench serve 0             # idc vs. libxenvchan benchmark, dom0 measures
run 90 xbuf user 0 x1                # remote buffers: dom0 owns, this domain uses
run 90 xbuf owner 0 x2               # this domain owns, dom0 uses (and forwards)
run 60 idcxen deny-client 0          # dom0's service for another domain: invisible to us
run 220 blkxen serve                 # block example: blkback serves dom0's nbdkit
run 150 kidcxen run                  # the kernel runtime idc.ko: frontends of dom0's kidcsrv
                                     # and of its hostile kidcevil
run 420 idcblkxen run                # idc.ko + idcblk.ko; dom0's blkback serves /dev/idcblk0
run 300 kbackxen run                 # the kernel runtime idc.ko serves a backend to dom0's kbackfe
idcxen death-client 0 &              # streams to dom0 until this domain is destroyed
idcxen death-backend 0 &             # serves dom0 until this domain is destroyed
xenprim linger 0                     # until dom0 destroys this domain (domain death test)

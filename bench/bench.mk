# idc benchmarks: `make bench` runs `$(MAKE) -f bench/bench.mk BUILD=$(BUILD) bench`.
#
# One binary, $(BUILD)/bench/idc-bench, holds every case (baselines, peers and, when libidc
# and the shipped protocols are built, the idc cases); it prints a table, writes
# $(BUILD)/bench/results.tsv, targets.tsv and plot data, and gnuplot turns the plot data into
# PNGs. Peers whose packages are missing are left out at build time and reported as skipped.
#
#   make bench                                    the whole run (a few minutes on 2 cores)
#   make bench BENCH_FLAGS='-r 9 -t 100'          more repetitions, longer runs
#   make bench BENCH_FLAGS='-f rtt -c ring,pipe'  a subset (see idc-bench -h)

BUILD      ?= build
CC         ?= cc
PKG_CONFIG ?= pkg-config
OPT        ?= -O2
BDIR       := $(BUILD)/bench

# Debian packages the benchmark's peers and plots need (installed by scripts/deps.sh when
# root). Not fatal when they cannot be installed: the peer is then skipped with a reason.
BENCH_DEPS := rpcsvc-proto libtirpc-dev gnuplot-nox iceoryx libiceoryx-binding-c-dev libfabric-dev \
              zookeeper default-jre-headless iproute2

BENCH_CFLAGS := -std=c11 -Wall -Wextra -Werror $(OPT) -g -D_GNU_SOURCE -Ibench -I$(BDIR)
BENCH_LIBS   := -lm -lpthread
# rpcgen output is not -Wextra clean
LOOSE_CFLAGS := -std=gnu11 -w $(OPT) -g -D_GNU_SOURCE -Ibench -I$(BDIR)

BENCH_SRCS := bench/harness.c bench/base_ring.c bench/base_sock.c bench/base_compile.c

# ---- ONC RPC peer (rpcgen + libtirpc)
RPCGEN       := $(shell command -v rpcgen 2>/dev/null)
TIRPC_CFLAGS := $(shell $(PKG_CONFIG) --cflags libtirpc 2>/dev/null)
TIRPC_LIBS   := $(shell $(PKG_CONFIG) --libs libtirpc 2>/dev/null)
ifneq ($(and $(RPCGEN),$(TIRPC_LIBS),$(wildcard bench/peer_oncrpc.c)),)
RPC_GEN  := $(BDIR)/rpc/bench_rpc.h
RPC_OBJS := $(BDIR)/rpc/bench_rpc_xdr.o $(BDIR)/rpc/bench_rpc_clnt.o $(BDIR)/rpc/bench_rpc_svc.o \
            $(BDIR)/peer_oncrpc.o
BENCH_LIBS += $(TIRPC_LIBS)
else
RPC_GEN  :=
RPC_OBJS := $(BDIR)/oncrpc_absent.o
BENCH_CFLAGS += -DBENCH_NO_ONCRPC
endif

# ---- bare libfabric, the fabric placement's baselines (libfabric-dev)
FABRIC_LIBS := $(shell $(PKG_CONFIG) --libs libfabric 2>/dev/null)
ifneq ($(FABRIC_LIBS),)
FABRIC_OBJS := $(BDIR)/base_fabric.o
BENCH_LIBS  += $(FABRIC_LIBS)
else
FABRIC_OBJS := $(BDIR)/fabric_absent.o
endif

# ---- eclipse iceoryx peer (C binding; RouDi started by the bench)
ICEORYX_INC   := $(firstword $(wildcard /usr/include/iceoryx/*/iceoryx_binding_c/api.h))
ICEORYX_ROUDI := $(shell command -v iox-roudi 2>/dev/null)
ifneq ($(and $(ICEORYX_INC),$(ICEORYX_ROUDI),$(wildcard bench/peer_iceoryx.c)),)
ICEORYX_CFLAGS := -I$(patsubst %/iceoryx_binding_c/api.h,%,$(ICEORYX_INC)) \
                  -DBENCH_IOX_ROUDI='"$(ICEORYX_ROUDI)"'
ICEORYX_OBJS := $(BDIR)/peer_iceoryx.o
BENCH_LIBS += -liceoryx_binding_c -liceoryx_posh -liceoryx_hoofs -liceoryx_platform -lstdc++
else
ICEORYX_OBJS := $(BDIR)/peer_iceoryx_absent.o
endif

# ---- idc runtime cases: bench/idc_*.c and bench/rt_*.c, when libidc is built
IDC_SRCS   := $(wildcard bench/idc_*.c bench/rt_*.c)
LIBIDC     := $(BUILD)/lib/libidc.a
LIBGEN     := $(BUILD)/lib/libidcgen.a
IDC_CFLAGS := -Iruntime/include -Iruntime/core -I$(BUILD)/gen
ifneq ($(and $(IDC_SRCS),$(wildcard $(LIBIDC)),$(wildcard runtime/include/idc.h)),)
IDC_OBJS := $(IDC_SRCS:bench/%.c=$(BDIR)/%.o)
else
IDC_OBJS := $(BDIR)/idc_absent.o
endif

# ---- generated decoder (idlc's blkif decoder vs rpcgen's XDR), when the protocols are built;
# the case uses only the codec, so the link takes blkif_codec.o alone from libidcgen.a
ifneq ($(and $(wildcard $(LIBGEN)),$(wildcard $(BUILD)/gen/blkif.h),$(wildcard $(LIBIDC))),)
GEN_OBJS := $(BDIR)/gen_decode.o
GEN_LINK := $(LIBGEN)
else
GEN_OBJS :=
GEN_LINK :=
endif
IDC_LINK := $(GEN_LINK) $(if $(wildcard $(LIBIDC)),$(LIBIDC))

OBJS := $(BENCH_SRCS:bench/%.c=$(BDIR)/%.o) $(FABRIC_OBJS) $(RPC_OBJS) $(ICEORYX_OBJS) $(IDC_OBJS) $(GEN_OBJS)
BIN  := $(BDIR)/idc-bench

.PHONY: bench bench-build bench-deps bench-prof
bench: bench-build
	$(BIN) -o $(BDIR) $(BENCH_FLAGS) $(if $(wildcard $(BUILD)/bin/idlc),-D idlc=$(BUILD)/bin/idlc) \
	    -D fabnet=bench/fabnet.sh
	@if command -v gnuplot >/dev/null 2>&1; then \
	    gnuplot -e "dir='$(BDIR)'" bench/plots.gp && \
	    echo "plots: $$(ls $(BDIR)/*.png | tr '\n' ' ')"; \
	else echo "skip: plots: gnuplot not installed (Debian gnuplot-nox)"; fi

bench-build: bench-deps
	@$(MAKE) -s -f bench/bench.mk BUILD=$(BUILD) $(BIN)

bench-deps:
	@scripts/deps.sh $(BENCH_DEPS) || \
	    echo "bench: some packages could not be installed; their peers will be skipped"

# relinked when libidc or the generated protocols change (the cases link them statically)
$(BIN): $(OBJS) $(wildcard $(LIBIDC) $(LIBGEN))
	$(CC) -o $@ $(OBJS) $(IDC_LINK) $(BENCH_LIBS)

$(BDIR)/%.o: bench/%.c bench/harness.h bench/shmring.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -MMD -MP -c -o $@ $<

# idc-prof: fixed-count workloads for callgrind (instructions per operation, load-independent);
# bench/callgrind.sh runs them: make -f bench/bench.mk BUILD=build bench-prof
PROF := $(BDIR)/idc-prof
$(PROF): bench/prof.c bench/shmring.h bench/harness.h $(LIBIDC)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) $(IDC_CFLAGS) -o $@ bench/prof.c $(LIBIDC) -lpthread

bench-prof: $(PROF)
	bench/callgrind.sh $(PROF) $(PROF_FLAGS)

# Placeholders that register a skip line with the reason, so nothing is left out silently.
$(BDIR)/peer_iceoryx_absent.o: bench/absent.c bench/harness.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -DABSENT_FIGURE='"rtt"' -DABSENT_NAME='"iceoryx"' \
	    -DABSENT_REASON='"Debian packages iceoryx and libiceoryx-binding-c-dev not installed"' \
	    -c -o $@ $<
$(BDIR)/oncrpc_absent.o: bench/absent.c bench/harness.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -DABSENT_FIGURE='"rtt"' -DABSENT_NAME='"oncrpc"' \
	    -DABSENT_REASON='"rpcgen or libtirpc-dev not installed (Debian rpcsvc-proto, libtirpc-dev)"' \
	    -c -o $@ $<
$(BDIR)/fabric_absent.o: bench/absent.c bench/harness.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -DABSENT_FIGURE='"rtt"' -DABSENT_NAME='"fi-msg"' \
	    -DABSENT_REASON='"libfabric-dev not installed: no fabric baselines"' \
	    -c -o $@ $<
$(BDIR)/idc_absent.o: bench/absent.c bench/harness.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -DABSENT_FIGURE='"rtt"' -DABSENT_NAME='"idc"' \
	    -DABSENT_REASON='"libidc not built (make runtime) or no idc cases in bench/"' \
	    -c -o $@ $<

$(IDC_OBJS): BENCH_CFLAGS += $(IDC_CFLAGS)
$(GEN_OBJS): BENCH_CFLAGS += $(IDC_CFLAGS) $(TIRPC_CFLAGS) -I$(BDIR)/rpc
$(GEN_OBJS): $(BUILD)/gen/blkif.h $(RPC_GEN)

# rpcgen: -h header, -c XDR routines, -l client stubs, -m server dispatch without main()
$(BDIR)/rpc/bench_rpc.x: bench/bench_rpc.x
	@mkdir -p $(@D)
	cp $< $@
$(BDIR)/rpc/bench_rpc.h: $(BDIR)/rpc/bench_rpc.x
	cd $(BDIR)/rpc && rm -f bench_rpc.h && rpcgen -h -o bench_rpc.h bench_rpc.x
$(BDIR)/rpc/bench_rpc_xdr.c: $(BDIR)/rpc/bench_rpc.x $(BDIR)/rpc/bench_rpc.h
	cd $(BDIR)/rpc && rm -f bench_rpc_xdr.c && rpcgen -c -o bench_rpc_xdr.c bench_rpc.x
$(BDIR)/rpc/bench_rpc_clnt.c: $(BDIR)/rpc/bench_rpc.x $(BDIR)/rpc/bench_rpc.h
	cd $(BDIR)/rpc && rm -f bench_rpc_clnt.c && rpcgen -l -o bench_rpc_clnt.c bench_rpc.x
$(BDIR)/rpc/bench_rpc_svc.c: $(BDIR)/rpc/bench_rpc.x $(BDIR)/rpc/bench_rpc.h
	cd $(BDIR)/rpc && rm -f bench_rpc_svc.c && rpcgen -m -o bench_rpc_svc.c bench_rpc.x
$(BDIR)/rpc/%.o: $(BDIR)/rpc/%.c $(BDIR)/rpc/bench_rpc.h
	$(CC) $(LOOSE_CFLAGS) $(TIRPC_CFLAGS) -c -o $@ $<
$(BDIR)/peer_oncrpc.o: bench/peer_oncrpc.c $(BDIR)/rpc/bench_rpc.h bench/harness.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) $(TIRPC_CFLAGS) -I$(BDIR)/rpc -MMD -MP -c -o $@ $<

$(BDIR)/peer_iceoryx.o: bench/peer_iceoryx.c bench/harness.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) $(ICEORYX_CFLAGS) -MMD -MP -c -o $@ $<

-include $(wildcard $(BDIR)/*.d)

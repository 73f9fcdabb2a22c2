# Real-Xen tests: `make check-xen` (see docs/xen.md).
#
# Builds the programs that run inside the guests (tests/xen/NAME_test.c -> $(BUILD)/tests/xen/bin/NAME,
# linked with the other tests/xen/*.c; tests/xen/transport/NAME_test.c, below, with the result
# lines' helper tests/xen/report.c) and runs tests/xen/run.sh, which boots Xen + dom0 + a domU
# under QEMU and runs them there. Not part of `make check`: it needs QEMU and ~1 minute.

BUILD      ?= build
CC         ?= cc
PKG_CONFIG ?= pkg-config

XEN_OUT        := $(BUILD)/tests/xen
XEN_BUILD_PKGS := libxen-dev gcc libc6-dev pkg-config
XEN_CFLAGS     := -std=c11 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE -Itests/xen
XEN_LDLIBS      = $(shell $(PKG_CONFIG) --libs xenstore xengnttab xenevtchn) -lpthread

XEN_PROG_SRCS := $(wildcard tests/xen/*_test.c)
XEN_TOOL_SRCS := tests/xen/blkctl.c
# the result lines every test program prints (report.h): linked into those programs, not blkctl
XEN_REPORT_SRC := tests/xen/report.c
XEN_REPORT_OBJ := $(XEN_OUT)/obj/report.o
XEN_LIB_SRCS  := $(filter-out $(XEN_PROG_SRCS) $(XEN_TOOL_SRCS) $(XEN_REPORT_SRC), \
                 $(wildcard tests/xen/*.c))
XEN_LIB_OBJS  := $(XEN_LIB_SRCS:tests/xen/%.c=$(XEN_OUT)/obj/%.o)
XEN_PROGS     := $(XEN_PROG_SRCS:tests/xen/%_test.c=$(XEN_OUT)/bin/%)
# programs whose `NAME list` prints the checks they report (the harness expects each of them)
XEN_LIST_PROGS ?= xenprim $(if $(wildcard tests/xen/transport/idcxen_test.c),idcxen) \
                  $(if $(wildcard tests/xen/transport/xenbench_test.c),xenbench) \
                  $(if $(wildcard tests/xen/blkxen.sh),blkxen) \
                  $(if $(wildcard tests/xen/transport/xbuf_test.c),xbuf)

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: check-xen xen-progs
.DELETE_ON_ERROR:
.SECONDARY:

$(XEN_OUT)/.deps-ok: scripts/deps.sh
	$(Q)scripts/deps.sh $(XEN_BUILD_PKGS)
	$(Q)mkdir -p $(@D) && touch $@

$(XEN_OUT)/obj/%.o: tests/xen/%.c $(wildcard tests/xen/*.h) | $(XEN_OUT)/.deps-ok
	@printf '  %-7s %s\n' CC $<
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(XEN_CFLAGS) -c -o $@ $<

$(XEN_OUT)/bin/%: $(XEN_OUT)/obj/%_test.o $(XEN_LIB_OBJS) $(XEN_REPORT_OBJ)
	@printf '  %-7s %s\n' LD $@
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(XEN_LDLIBS)

xen-progs: $(XEN_PROGS)

# the result lines the guest scripts share (sourced from their own directory)
$(XEN_OUT)/bin/checks.sh: tests/xen/checks.sh
	$(Q)mkdir -p $(@D) && install -m 644 $< $@
xen-progs: $(XEN_OUT)/bin/checks.sh

check-xen: xen-progs
	@XEN_LIST_PROGS="$(XEN_LIST_PROGS)" bash tests/xen/run.sh $(BUILD) $(XEN_OUT)/bin

# libidc's xen transport checks (tests/xen/transport/NAME_test.c -> $(XEN_OUT)/bin/NAME), linked
# with the result lines' helper (report.o) and the static libidc of the same build directory.
XT_SRCS  := $(wildcard tests/xen/transport/*_test.c)
XT_PROGS := $(XT_SRCS:tests/xen/transport/%_test.c=$(XEN_OUT)/bin/%)
XT_LIBIDC := $(BUILD)/lib/libidc.a

.PHONY: xt-libidc
xt-libidc:
	$(Q)$(MAKE) -s -f Makefile BUILD=$(BUILD) runtime

$(XT_PROGS): $(XEN_OUT)/bin/%: tests/xen/transport/%_test.c $(wildcard tests/xen/*.h) \
                               $(XEN_REPORT_OBJ) xt-libidc | $(XEN_OUT)/.deps-ok
	@printf '  %-7s %s\n' LD $@
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(XEN_CFLAGS) -Iruntime/include -o $@ $< $(XEN_REPORT_OBJ) $(XT_LIBIDC) $(XEN_LDLIBS)

# the benchmark alone compares with libxenvchan
$(XEN_OUT)/bin/xenbench: XEN_LDLIBS += $(shell $(PKG_CONFIG) --libs xenvchan xengnttab)

xen-progs: $(XT_PROGS)

# The block example in the guests (blkxen, see docs/xen.md): blkback and the nbdkit plugin of this
# build directory (built by the top-level Makefile), blkctl (the xenstore signals between dom0
# and the domU) and the driver script. Debug info is left out of the guests' copies.
XBLK_EX    := $(BUILD)/examples/blk
XBLK_PROGS := $(XEN_OUT)/bin/blkback $(XEN_OUT)/bin/nbdkit-idc-plugin.so $(XEN_OUT)/bin/blkctl \
              $(XEN_OUT)/bin/blkxen $(XEN_OUT)/bin/idcctl

.PHONY: xblk-examples
xblk-examples: | $(XEN_OUT)/.deps-ok
	$(Q)$(MAKE) -s -f Makefile BUILD=$(BUILD) $(XBLK_EX)/blkback $(XBLK_EX)/nbdkit-idc-plugin.so \
	    $(BUILD)/bin/idcctl

$(XEN_OUT)/bin/blkback $(XEN_OUT)/bin/nbdkit-idc-plugin.so: $(XEN_OUT)/bin/%: xblk-examples
	$(Q)mkdir -p $(@D)
	$(Q)objcopy --strip-debug $(XBLK_EX)/$* $@.tmp && mv $@.tmp $@

$(XEN_OUT)/bin/idcctl: xblk-examples
	$(Q)mkdir -p $(@D)
	$(Q)objcopy --strip-debug $(BUILD)/bin/idcctl $@.tmp && mv $@.tmp $@

$(XEN_OUT)/bin/blkctl: $(XEN_OUT)/obj/blkctl.o $(XEN_LIB_OBJS)
	@printf '  %-7s %s\n' LD $@
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(XEN_LDLIBS)

$(XEN_OUT)/bin/blkxen: tests/xen/blkxen.sh
	$(Q)mkdir -p $(@D)
	$(Q)cp $< $@ && chmod +x $@

xen-progs: $(XBLK_PROGS)

# The runtime's transport-generic Criterion suite (tests/runtime) run in dom0 over the xen
# transport by tests/xen/rtxen.sh: the suite's binary and its peer program, as built by the
# main Makefile in the same build directory.
RTX_PROGS := $(XEN_OUT)/bin/rtxen $(XEN_OUT)/bin/rtxen-runtime $(XEN_OUT)/bin/rtt_peer \
             $(XEN_OUT)/bin/rtxen.tests
XEN_LIST_PROGS += rtxen

.PHONY: rtx-tests
rtx-tests:
	$(Q)$(MAKE) -s -f Makefile BUILD=$(BUILD) $(BUILD)/tests/runtime $(BUILD)/tests/bin/rtt_peer

$(XEN_OUT)/bin/rtxen-runtime: rtx-tests
	$(Q)mkdir -p $(@D) && objcopy --strip-debug $(BUILD)/tests/runtime $@
$(XEN_OUT)/bin/rtt_peer: rtx-tests
	$(Q)mkdir -p $(@D) && objcopy --strip-debug $(BUILD)/tests/bin/rtt_peer $@
$(XEN_OUT)/bin/rtxen: tests/xen/rtxen.sh
	$(Q)mkdir -p $(@D) && install -m 755 $< $@
$(XEN_OUT)/bin/rtxen.tests: tests/runtime/generic.list
	$(Q)mkdir -p $(@D) && install -m 644 $< $@

xen-progs: $(RTX_PROGS)

# The kbuild check's module in the domU (tests/xen/kmodxen.sh): run.sh builds it against the
# guests' kernel headers with tests/kbuild/module.sh, which runs this build's idlc.
.PHONY: kmod-idlc
kmod-idlc:
	$(Q)$(MAKE) -s -f Makefile BUILD=$(BUILD) $(BUILD)/bin/idlc
$(XEN_OUT)/bin/kmodxen: tests/xen/kmodxen.sh | kmod-idlc
	$(Q)mkdir -p $(@D) && install -m 755 $< $@
XEN_LIST_PROGS += kmodxen

xen-progs: $(XEN_OUT)/bin/kmodxen

# The kernel runtime in the domU (tests/xen/kidcxen.sh): run.sh builds idc.ko and the self-test
# client (tests/xen/kidc/build.sh) against the guests' kernel headers; dom0 runs kidcsrv
# (tests/xen/transport/kidcsrv_test.c, built above with the other transport programs) and the
# hostile backend kidcevil (tests/xen/transport/kidcevil_test.c).
$(XEN_OUT)/bin/kidcxen: tests/xen/kidcxen.sh
	$(Q)mkdir -p $(@D) && install -m 755 $< $@
XEN_LIST_PROGS += kidcxen kidcsrv kidcevil
# kidcevil, the hostile backend, speaks the transport's wire itself (as idcxen's hostile
# frontend does): the control page and the xenbus states from the transport's wire.h, the rings
# from the core's ring.h (and libidc's ring functions), not copies of them
$(XEN_OUT)/bin/kidcevil $(XEN_OUT)/bin/idcxen: XEN_CFLAGS += -Iruntime/core -Iruntime/transports/xen
# xbuf's hand-made (hostile) links write the buffer service's request page from wire.h too
$(XEN_OUT)/bin/xbuf: XEN_CFLAGS += -Iruntime/transports/xen

xen-progs: $(XEN_OUT)/bin/kidcxen

# The kernel block front end in the domU (tests/xen/idcblkxen.sh): run.sh builds idc.ko and
# idcblk.ko against the guests' kernel headers (this build's idlc generates idcblk's client);
# dom0 serves it with blkback and answers the domU's kill/restart requests through blkctl.
$(XEN_OUT)/bin/idcblkxen: tests/xen/idcblkxen.sh | kmod-idlc
	$(Q)mkdir -p $(@D) && install -m 755 $< $@
XEN_LIST_PROGS += idcblkxen

xen-progs: $(XEN_OUT)/bin/idcblkxen

# The kernel runtime serving a backend in the domU (tests/xen/kbackxen.sh): run.sh builds idc.ko
# and the backend module (tests/xen/kback/kback_test.c) against the guests' kernel headers; dom0
# runs the frontend kbackfe (tests/xen/transport/kbackfe_test.c, built with the other transport
# programs).
$(XEN_OUT)/bin/kbackxen: tests/xen/kbackxen.sh
	$(Q)mkdir -p $(@D) && install -m 755 $< $@
XEN_LIST_PROGS += kbackxen kbackfe

xen-progs: $(XEN_OUT)/bin/kbackxen

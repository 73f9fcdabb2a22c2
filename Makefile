# idc: IDL compiler (idlc), runtime (libidc), shipped protocols, examples, tests, benchmarks.
#
#   make            build idlc, libidc and the shipped protocols        (objects under build/)
#   make check      run the whole test suite, then again under ASan+UBSan
#   make demo       the end-to-end demo (see README.md)
#   make bench      benchmarks
#   make install    PREFIX=/usr/local DESTDIR= LIBDIR=
#   V=1             show the commands
#
# Out-of-tree: every object and generated file lives under $(BUILD) (default build/; the
# sanitizer pass uses build/san). Sources are found by wildcard, so a new file in idlc/,
# runtime/core/, runtime/transports/NAME/, tests/SUITE/ or tests/SUITE/bin/ needs no edit here.

VERSION  := 0.1.0
BUILD    ?= build
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
LIBDIR   ?= $(PREFIX)/lib
INCDIR   ?= $(PREFIX)/include
DATADIR  ?= $(PREFIX)/share
MANDIR   ?= $(DATADIR)/man
DESTDIR  ?=

CC       ?= cc
AR       ?= ar
FLEX     ?= flex
BISON    ?= bison
M4       ?= m4
PKG_CONFIG ?= pkg-config

# Debian packages the build and the tests need (installed by scripts/deps.sh when root).
DEPS     := flex bison m4 pkg-config libcriterion-dev libxen-dev gcc make libc6-dev
DEPS     += nbdkit nbdkit-plugin-dev libnbd-bin qemu-utils fio
DEPS     += groff-base man-db   # tests/man renders the manual pages
DEPS     += cmake meson ninja-build   # tests/build builds the example projects with them
# tests/kbuild builds generated code as a kernel module against Debian's kernel headers
DEPS     += $(if $(filter amd64,$(shell dpkg --print-architecture 2>/dev/null)),linux-headers-amd64)
DEPS     += libfabric-dev libzookeeper-st-dev   # the fabric transport (data path, discovery)
DEPS     += zookeeper default-jre-headless iproute2   # make check-fabric: a registry, namespaces

OPT      ?= -O2
CFLAGS_BASE := -std=c11 -Wall -Wextra -Werror $(OPT) -g -D_GNU_SOURCE -fPIC \
               -DIDC_VERSION='"$(VERSION)"'
LDLIBS_BASE := -lpthread
ifeq ($(SAN),1)
CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS     += -fsanitize=address,undefined
endif
CFLAGS   ?=
ALL_CFLAGS = $(CFLAGS_BASE) $(CFLAGS)

ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-7s %s\n' $(1) $(2);
endif

.PHONY: all deps idlc idcctl runtime gen tests check check-plain check-san check-xen check-fabric check-man demo bench \
        install clean lint format
.DEFAULT_GOAL := all

# ------------------------------------------------------------------ dependency bootstrap
DEPS_STAMP := $(BUILD)/.deps-ok
$(DEPS_STAMP): scripts/deps.sh
	$(Q)scripts/deps.sh $(DEPS)
	$(Q)mkdir -p $(@D) && touch $@
deps: $(DEPS_STAMP)

# ------------------------------------------------------------------ idlc
IDLC_SRCS := $(filter-out idlc/main.c,$(wildcard idlc/*.c))
IDLC_OBJS := $(IDLC_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/idlc/parser.o $(BUILD)/idlc/lexer.o
IDLC_INC  := -Iidlc -I$(BUILD)/idlc
LIBIDLC   := $(BUILD)/lib/libidlc.a
IDLC      := $(BUILD)/bin/idlc
TEMPLATES := $(wildcard templates/c/*.m4)
BUILD_TEMPLATES := $(TEMPLATES:templates/c/%=$(BUILD)/share/idc/templates/c/%)

# one bison run writes both files, one flex run both of its: grouped targets (&:), so a
# parallel make runs each once
$(BUILD)/idlc/parser.c $(BUILD)/idlc/parser.h &: idlc/parser.y | $(DEPS_STAMP)
	$(call say,BISON,$<)
	$(Q)mkdir -p $(BUILD)/idlc
	$(Q)$(BISON) -Wall -Werror --defines=$(BUILD)/idlc/parser.h -o $(BUILD)/idlc/parser.c $<

$(BUILD)/idlc/lexer.c $(BUILD)/idlc/lexer.h &: idlc/lexer.l | $(DEPS_STAMP)
	$(call say,FLEX,$<)
	$(Q)mkdir -p $(BUILD)/idlc
	$(Q)$(FLEX) --header-file=$(BUILD)/idlc/lexer.h -o $(BUILD)/idlc/lexer.c $<

# generated scanner/parser: the scanner needs the parser's token header, and flex output
# is not -Wextra clean (unused parameters in its own helpers)
$(BUILD)/idlc/lexer.o: $(BUILD)/idlc/lexer.c $(BUILD)/idlc/parser.h
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-unused-parameter -Wno-sign-compare -Wno-unused-function $(IDLC_INC) -MMD -MP -c -o $@ $<
$(BUILD)/idlc/parser.o: $(BUILD)/idlc/parser.c $(BUILD)/idlc/lexer.h
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(IDLC_INC) -MMD -MP -c -o $@ $<
$(IDLC_SRCS:%.c=$(BUILD)/%.o): $(BUILD)/idlc/parser.h $(BUILD)/idlc/lexer.h
$(BUILD)/idlc/%.o: idlc/%.c | $(DEPS_STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(IDLC_INC) -MMD -MP -c -o $@ $<

$(LIBIDLC): $(IDLC_OBJS)
	$(call say,AR,$@)
	$(Q)mkdir -p $(@D) && rm -f $@ && $(AR) rcs $@ $^

$(IDLC): $(BUILD)/idlc/main.o $(LIBIDLC) $(BUILD_TEMPLATES)
	$(call say,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(BUILD)/idlc/main.o $(LIBIDLC) $(LDLIBS_BASE)

# idlc finds its templates relative to its own executable (../share/idc/templates/c), so
# the build tree mirrors the installed layout.
$(BUILD)/share/idc/templates/c/%: templates/c/%
	$(Q)mkdir -p $(@D) && cp $< $@

idlc: $(IDLC)

# ------------------------------------------------------------------ runtime (libidc)
# runtime/core/ (no transport), runtime/transports/ (the built-in list) and one folder per
# transport under it; runtime/core/transport.h is the contract between them.
RT_CORE_SRCS := $(wildcard runtime/core/*.c)
RT_TP_SRCS   := $(wildcard runtime/transports/*.c runtime/transports/*/*.c)
RT_SRCS  := $(RT_CORE_SRCS) $(RT_TP_SRCS)
RT_OBJS  := $(RT_SRCS:%.c=$(BUILD)/%.o)
RT_INC   := -Iruntime/include -Iruntime/core -Iruntime/transports
LIBIDC   := $(BUILD)/lib/libidc.a
LIBIDC_SO := $(BUILD)/lib/libidc.so.0
RT_MAP   := $(wildcard runtime/libidc.map)
comma    := ,

$(BUILD)/runtime/%.o: runtime/%.c | $(DEPS_STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(RT_INC) -MMD -MP -c -o $@ $<

$(LIBIDC): $(RT_OBJS)
	$(call say,AR,$@)
	$(Q)mkdir -p $(@D) && rm -f $@ && $(AR) rcs $@ $^

$(LIBIDC_SO): $(RT_OBJS) $(RT_MAP)
	$(call say,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libidc.so.0 $(if $(RT_MAP),-Wl$(comma)--version-script=$(RT_MAP)) \
	    -o $@ $(RT_OBJS) $(LDLIBS_BASE)
	$(Q)ln -sf libidc.so.0 $(BUILD)/lib/libidc.so

runtime: $(LIBIDC) $(if $(RT_SRCS),$(LIBIDC_SO))

# ------------------------------------------------------------------ shipped protocols (idl/)
IDL_FILES := $(wildcard idl/*.idl)
IDL_NAMES := $(IDL_FILES:idl/%.idl=%)
GEN_DIR   := $(BUILD)/gen
# what one idlc run writes for protocol NAME: GEN_DIR/NAME followed by each of these (the codec
# once for both sides, then the two sides' endpoint glue)
GEN_OUTPUTS := .h _codec.c _client.c _server.c
GEN_CODEC := $(IDL_NAMES:%=$(GEN_DIR)/%_codec.c)
GEN_SRCS  := $(foreach n,$(IDL_NAMES),$(foreach o,$(filter %.c,$(GEN_OUTPUTS)),$(GEN_DIR)/$(n)$(o)))
GEN_OBJS  := $(GEN_SRCS:%.c=%.o)
LIBGEN    := $(BUILD)/lib/libidcgen.a
# generated by a pattern rule and compiled by another: not intermediates make may delete
.SECONDARY: $(GEN_SRCS) $(IDL_NAMES:%=$(GEN_DIR)/%.h)

# one idlc run writes all the outputs: a grouped target (&:), so make -j runs it once per
# protocol; -MF records the imports for incremental rebuilds
$(addprefix $(GEN_DIR)/%,$(GEN_OUTPUTS)) &: idl/%.idl $(IDLC) $(BUILD_TEMPLATES)
	$(call say,IDLC,$<)
	$(Q)mkdir -p $(GEN_DIR)
	$(Q)$(IDLC) -I idl -o $(GEN_DIR) -MF $(GEN_DIR)/$*.d $<

$(GEN_DIR)/%.o: $(GEN_DIR)/%.c
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -pedantic $(RT_INC) -I$(GEN_DIR) -MMD -MP -c -o $@ $<
# every generated object may include any generated header
$(GEN_OBJS): $(IDL_NAMES:%=$(GEN_DIR)/%.h)

$(LIBGEN): $(GEN_OBJS)
	$(call say,AR,$@)
	$(Q)mkdir -p $(@D) && rm -f $@ && $(AR) rcs $@ $^

gen: $(if $(IDL_FILES),$(LIBGEN))

# ------------------------------------------------------------------ tests
# Every directory tests/SUITE with .c files becomes one Criterion binary $(BUILD)/tests/SUITE;
# tests/SUITE/bin/NAME.c becomes a helper program $(BUILD)/tests/bin/NAME (real processes).
TEST_SUITES := $(sort $(filter-out fuzz xen,$(notdir $(patsubst %/,%,$(dir $(wildcard tests/*/*.c))))))
TEST_BINS   := $(TEST_SUITES:%=$(BUILD)/tests/%)
HELPER_SRCS := $(wildcard tests/*/bin/*.c)
HELPER_BINS := $(foreach s,$(HELPER_SRCS),$(BUILD)/tests/bin/$(basename $(notdir $(s))))
TEST_CFLAGS  = $(ALL_CFLAGS) $(IDLC_INC) $(RT_INC) -I$(GEN_DIR) -Itests \
               -DIDC_SRCDIR='"$(CURDIR)"' -DIDC_BUILDDIR='"$(abspath $(BUILD))"'
TEST_LIBS    = $(LIBIDLC) $(if $(IDL_FILES),$(LIBGEN)) $(if $(RT_SRCS),$(LIBIDC)) $(LDLIBS_BASE)

# test objects live under obj/: $(BUILD)/tests/SUITE is the suite binary itself
$(BUILD)/obj/tests/%.o: tests/%.c $(if $(IDL_FILES),$(IDL_NAMES:%=$(GEN_DIR)/%.h)) | $(DEPS_STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TEST_CFLAGS) -MMD -MP -c -o $@ $<

define suite_rule
$(BUILD)/tests/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/$(1)/*.c)) $(LIBIDLC) \
		$(if $(IDL_FILES),$(LIBGEN)) $(if $(RT_SRCS),$(LIBIDC))
	$$(call say,LD,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$(filter %.o,$$^) $$(TEST_LIBS) -lcriterion
endef
$(foreach s,$(TEST_SUITES),$(eval $(call suite_rule,$(s))))

define helper_rule
$(BUILD)/tests/bin/$(basename $(notdir $(1))): $(patsubst %.c,$(BUILD)/obj/%.o,$(1)) $(LIBIDLC) \
		$(if $(IDL_FILES),$(LIBGEN)) $(if $(RT_SRCS),$(LIBIDC))
	$$(call say,LD,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$(filter %.o,$$^) $$(TEST_LIBS) $$(HELPER_LIBS)
endef
$(foreach h,$(HELPER_SRCS),$(eval $(call helper_rule,$(h))))
# the hostile fabric peer speaks libfabric and ZooKeeper itself (libidc loads them at run time)
$(BUILD)/tests/bin/fab_flood: HELPER_LIBS = $(shell $(PKG_CONFIG) --libs libfabric) -lzookeeper_st

# the kbuild suite runs its commands with the gen suite's scratch-directory and shell helpers
$(BUILD)/tests/kbuild: $(BUILD)/obj/tests/gen/shell.o

tests: $(TEST_BINS) $(HELPER_BINS)

# ------------------------------------------------------------------ idcctl (tools/idcctl/)
# Reads the stats files contexts export (runtime/core/statsfile.h); links nothing of libidc.
IDCCTL_SRCS := $(wildcard tools/idcctl/*.c)
IDCCTL      := $(BUILD)/bin/idcctl
$(BUILD)/tools/%.o: tools/%.c | $(DEPS_STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(RT_INC) -MMD -MP -c -o $@ $<
$(IDCCTL): $(IDCCTL_SRCS:%.c=$(BUILD)/%.o)
	$(call say,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^
idcctl: $(IDCCTL)

all: $(IDLC) runtime gen $(IDCCTL)

include examples/examples.mk
include tests/fuzz/fuzz.mk
include tests/hardening/hardening.mk

# Run every suite; a failing suite fails the target but the others still run.
# Criterion forks per test; -j2 matches the machine.
check-plain: all tests
	@fail=0; for t in $(TEST_BINS); do \
	    echo "== $$t"; \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	    $$t --jobs=2 $(CRITERION_FLAGS) || fail=1; \
	done; exit $$fail

check-san:
	$(MAKE) BUILD=build/san SAN=1 OPT=-O1 check-plain

check: check-plain check-san

# The fabric transport between network namespaces with a real ZooKeeper (tests/fabric/,
# docs/fabric.md); root, else skipped with the reason.
check-fabric: $(BUILD)/tests/runtime $(HELPER_BINS) examples
	@tests/fabric/check.sh $(BUILD)

# Real-Xen tests: boots Xen + dom0 + a domU under QEMU (tests/xen/, docs/xen.md)
check-xen:
	@$(MAKE) -s -f tests/xen/xen.mk BUILD=$(BUILD) check-xen

# ------------------------------------------------------------------ static analysis
# The runtime's layering rules (scripts/layering.sh: the core names no transport, transports see
# the core only through runtime/core/transport.h), then cppcheck and clang-tidy (config in
# .clang-tidy) over the compiler and the runtime.
LINT_DEPS := cppcheck clang-tidy
lint: $(BUILD)/idlc/parser.h $(BUILD)/idlc/lexer.h runtime
	$(Q)scripts/deps.sh $(LINT_DEPS)
	@echo "== layering"
	$(Q)scripts/layering.sh $(BUILD)
	@echo "== format (make format applies it)"
	$(Q)scripts/deps.sh clang-format
	$(Q)clang-format --dry-run -Werror $(FORMAT_SRCS)
	@echo "== cppcheck"
	$(Q)cppcheck -q --std=c11 --enable=warning,portability,performance --error-exitcode=1 \
	    --inline-suppr -D_GNU_SOURCE $(IDLC_INC) $(RT_INC) $(IDLC_SRCS) $(RT_SRCS) $(IDCCTL_SRCS)
	@echo "== clang-tidy"
	$(Q)clang-tidy --quiet $(IDLC_SRCS) $(RT_SRCS) $(IDCCTL_SRCS) -- -std=c11 -D_GNU_SOURCE \
	    -DIDC_VERSION='"$(VERSION)"' $(IDLC_INC) $(RT_INC) 2>&1 | grep -v 'warnings generated' ; \
	    test $${PIPESTATUS[0]} -eq 0
	@echo "lint: clean"
lint: SHELL := /bin/bash

# One style for every hand-written C file (.clang-format, .editorconfig); `make lint` checks it.
FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' | grep -v '^tests/golden/')
format:
	$(Q)scripts/deps.sh clang-format
	$(Q)clang-format -i $(FORMAT_SRCS)

# ------------------------------------------------------------------ demo, bench
demo: all
	@scripts/demo.sh $(BUILD)

bench: all
	@$(MAKE) -s -f bench/bench.mk BUILD=$(BUILD) bench

# ------------------------------------------------------------------ install
# Manual pages live in docs/man/man{1,3,7} as they are installed (link pages are ".so manN/x.N");
# the documentation keeps its tree (README.md, docs/*.md) so that its relative links work.
MAN1     := $(wildcard docs/man/man1/*.1)
MAN3     := $(wildcard docs/man/man3/*.3)
MAN7     := $(wildcard docs/man/man7/*.7)
DOC_MD   := $(wildcard docs/*.md)
DOCDIR   ?= $(DATADIR)/doc/idc
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/idc

# The files one idlc run writes, as suffixes of the IDL file's name (templates/c/manifest.m4).
# idc.pc (variable idlc_outputs) and idcConfig.cmake (IDC_GENERATED_SUFFIXES) hand this list to
# the builds that use idc, so a new output file is a change of this line (tests/build checks it
# against what idlc writes).
IDLC_OUTPUTS := $(GEN_OUTPUTS)

# Run path. The dynamic loader finds libidc.so.0 by itself only in its own directories (and in
# /usr/local/lib only after ldconfig); for any other LIBDIR, idc.pc and idcConfig.cmake link
# programs with -Wl,-rpath,LIBDIR so that they run from any prefix without LD_LIBRARY_PATH.
# RPATH=auto decides from LIBDIR; RPATH=yes or RPATH=no force it (the Debian packages use no).
RPATH    ?= auto
LOADER_DIRS = /lib /usr/lib /lib64 /usr/lib64 \
              $(foreach m,$(shell $(CC) -print-multiarch 2>/dev/null),/lib/$(m) /usr/lib/$(m))
WANT_RPATH = $(filter yes,$(RPATH))$(if $(filter auto,$(RPATH)),$(if \
             $(filter $(LOADER_DIRS),$(patsubst %/,%,$(LIBDIR))),,yes))

# Installed files name their directories relative to the prefix where they lie under it
# (${prefix}/lib in idc.pc, the config file's own location in idcConfig.cmake).
under_prefix = $(patsubst $(PREFIX)/%,%,$(filter $(PREFIX)/%,$(1)))
pc_dir       = $(if $(call under_prefix,$(1)),$${prefix}/$(call under_prefix,$(1)),$(1))
cmake_dir    = $(if $(call under_prefix,$(1)),$${_idc_prefix}/$(call under_prefix,$(1)),$(1))
# CMAKEDIR back up to PREFIX ("../../.."), empty when CMAKEDIR is not under PREFIX
CMAKE_UP     = $(subst $(space),,$(foreach c,$(subst /, ,$(call under_prefix,$(CMAKEDIR))),../))
empty       :=
space       := $(empty) $(empty)

INSTALL_SED  = -e 's|@VERSION@|$(VERSION)|g' \
               -e 's|@PREFIX@|$(PREFIX)|g' \
               -e 's|@CMAKEDIR@|$(CMAKEDIR)|g' \
               -e 's|@IDLC_OUTPUTS@|$(IDLC_OUTPUTS)|g' \
               -e 's|@RPATH@|$(if $(WANT_RPATH),ON,OFF)|g' \
               -e 's|@PC_RPATH@|$(if $(WANT_RPATH),-Wl$(comma)-rpath$(comma)$${libdir} )|g' \
               -e 's|@SIZEOF_VOID_P@|$(shell echo __SIZEOF_POINTER__ | $(CC) -E -P - 2>/dev/null)|g'
PC_SED       = $(INSTALL_SED) \
               -e 's|@BINDIR@|$(call pc_dir,$(BINDIR))|g' -e 's|@LIBDIR@|$(call pc_dir,$(LIBDIR))|g' \
               -e 's|@INCDIR@|$(call pc_dir,$(INCDIR))|g' -e 's|@DATADIR@|$(call pc_dir,$(DATADIR))|g'
CMAKE_SED    = $(INSTALL_SED) \
               -e 's|@BINDIR@|$(call cmake_dir,$(BINDIR))|g' -e 's|@LIBDIR@|$(call cmake_dir,$(LIBDIR))|g' \
               -e 's|@INCDIR@|$(call cmake_dir,$(INCDIR))|g' -e 's|@DATADIR@|$(call cmake_dir,$(DATADIR))|g' \
               -e 's|@PREFIX_FROM_CMAKEDIR@|$(if $(call under_prefix,$(CMAKEDIR)),$${CMAKE_CURRENT_LIST_DIR}/$(CMAKE_UP),$(PREFIX))|g'

# Only what it installs: the compiler, its templates and the runtime (not the examples).
install: $(IDLC) runtime $(IDCCTL)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCDIR) \
	    $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(DATADIR)/idc/templates/c $(DESTDIR)$(DOCDIR)/docs \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(IDLC) $(DESTDIR)$(BINDIR)/idlc
	install -m 755 $(IDCCTL) $(DESTDIR)$(BINDIR)/idcctl
	install -m 644 $(TEMPLATES) $(DESTDIR)$(DATADIR)/idc/templates/c/
	$(if $(MAN1),install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/)
	$(if $(MAN3),install -m 644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/)
	$(if $(MAN7),install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7/)
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/
	$(if $(DOC_MD),install -m 644 $(DOC_MD) $(DESTDIR)$(DOCDIR)/docs/)
	$(if $(RT_SRCS),install -m 644 runtime/include/*.h $(DESTDIR)$(INCDIR)/)
	$(if $(RT_SRCS),install -m 644 $(LIBIDC) $(DESTDIR)$(LIBDIR)/)
	$(if $(RT_SRCS),install -m 755 $(LIBIDC_SO) $(DESTDIR)$(LIBDIR)/ && ln -sf libidc.so.0 $(DESTDIR)$(LIBDIR)/libidc.so)
	sed $(PC_SED) idc.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/idc.pc
	sed $(CMAKE_SED) cmake/idcConfig.cmake.in > $(DESTDIR)$(CMAKEDIR)/idcConfig.cmake
	sed $(CMAKE_SED) cmake/idcConfigVersion.cmake.in > $(DESTDIR)$(CMAKEDIR)/idcConfigVersion.cmake

# The build integration alone (tests/build; also part of make check): install into a temporary
# prefix, idc.pc, the CMake package, the example projects with Make, CMake and Meson
.PHONY: check-build
check-build: $(BUILD)/tests/build $(IDLC) runtime
	$(BUILD)/tests/build --jobs=2 $(CRITERION_FLAGS)

# ------------------------------------------------------------------ Debian packages
# make deb: idlc, idc-tools, libidc0, libidc-dev and idc-doc in $(BUILD)/deb, built by dpkg-buildpackage
# (debian/) from a copy of this tree: it cleans the tree it builds and writes next to it.
# make check-deb: those packages checked from outside (tests/deb/check.sh): lintian, their
# contents, the tutorial built against them with pkg-config, CMake and Meson (a few minutes).
DEB_DEPS := debhelper dpkg-dev lintian flex bison m4 pkg-config libxen-dev libfabric-dev libzookeeper-st-dev
DEB_OUT   = $(BUILD)/deb
.PHONY: deb check-deb

deb:
	$(Q)scripts/deps.sh $(DEB_DEPS)
	$(Q)rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/idc-$(VERSION)
	$(Q)tar -c --exclude-vcs --exclude=./build --exclude='./$(BUILD)' . | tar -x -C $(DEB_OUT)/idc-$(VERSION)
	$(call say,DEB,$(DEB_OUT)/dpkg-buildpackage.log)
	$(Q)cd $(DEB_OUT)/idc-$(VERSION) && dpkg-buildpackage -b -us -uc -j2 > ../dpkg-buildpackage.log 2>&1 \
	    || { tail -40 ../dpkg-buildpackage.log; exit 1; }
	$(Q)rm -rf $(DEB_OUT)/idc-$(VERSION)
	@ls $(DEB_OUT)/*.deb

check-deb: deb
	$(Q)scripts/deps.sh cmake meson ninja-build binutils
	$(Q)tests/deb/check.sh $(DEB_OUT) $(VERSION)

# The kernel build alone (tests/kbuild; also part of make check): generated code and the rings
# as an out-of-tree module, W=1, no warning. KDIR=DIR builds against another kernel tree.
.PHONY: check-kbuild
check-kbuild: $(BUILD)/tests/kbuild $(IDLC)
	IDC_KDIR=$(KDIR) $(BUILD)/tests/kbuild --jobs=2 $(CRITERION_FLAGS)

# The kernel runtime idc.ko (runtime/kernel/, docs/kernel.md) in $(BUILD)/kmod: against KDIR,
# else the running kernel's build tree, else the newest Debian headers; W=1, no warning.
.PHONY: kmod
kmod:
	$(Q)kdir="$(KDIR)"; \
	[ -n "$$kdir" ] || kdir=/lib/modules/$$(uname -r)/build; \
	[ -d "$$kdir" ] || kdir=$$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1); \
	[ -n "$$kdir" ] || { echo "kmod: no kernel build tree: install linux-headers-amd64 or pass KDIR=" >&2; exit 1; }; \
	runtime/kernel/build.sh "$$kdir" $(BUILD)/kmod && echo "  KMOD    $(BUILD)/kmod/idc.ko ($$kdir)"

# The manual pages alone (tests/man; also part of make check): render, cross-reference, coverage
check-man: $(BUILD)/tests/man $(IDLC)
	$(BUILD)/tests/man --jobs=2 $(CRITERION_FLAGS)

clean:
	rm -rf build

# dependency files of our own objects (the Xen harness cache under $(BUILD)/xen holds unrelated *.d)
-include $(shell find $(BUILD) -path $(BUILD)/xen -prune -o -path $(BUILD)/san -prune -o -type f -name '*.d' -print 2>/dev/null)

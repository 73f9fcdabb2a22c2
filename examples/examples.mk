# Example drivers built on the shipped protocols (included by the top-level Makefile).
#
#   $(BUILD)/examples/blk/blkback               blkif back-end: file or RAM disk on shm:NAME
#   $(BUILD)/examples/blk/nbdkit-idc-plugin.so  blkif front-end as an nbdkit plugin
#   $(BUILD)/examples/mirror/blkmirror          blkif back-end mirroring onto two blkif back-ends
#   $(BUILD)/examples/console/console-server    console/echo service
#   $(BUILD)/examples/console/console-client    interactive client (also scripted, for tests)
#
# Each example is built only when what it needs exists: the runtime and its protocol in idl/
# (the nbdkit plugin header comes from nbdkit-plugin-dev, installed with the other DEPS).

EX_OUT     := $(BUILD)/examples
EX_CFLAGS   = $(ALL_CFLAGS) $(RT_INC) -I$(GEN_DIR) -Iexamples/blk
EX_LIBS     = $(LIBGEN) $(LIBIDC) $(LDLIBS_BASE)
EX_DEPLIBS  = $(LIBGEN) $(LIBIDC)

EX_HAVE_BLK     := $(and $(RT_SRCS),$(wildcard idl/blkif.idl))
EX_HAVE_CONSOLE := $(and $(RT_SRCS),$(wildcard idl/console.idl))

EX_TARGETS :=
ifneq ($(EX_HAVE_BLK),)
EX_TARGETS += $(EX_OUT)/blk/blkback
EX_TARGETS += $(if $(wildcard examples/mirror/blkmirror.c),$(EX_OUT)/mirror/blkmirror)
# nbdkit-plugin.h comes from nbdkit-plugin-dev, in DEPS: the objects wait for the dependency
# bootstrap, so no test for the header here (on a fresh machine it appears only then)
EX_TARGETS += $(EX_OUT)/blk/nbdkit-idc-plugin.so
endif
ifneq ($(EX_HAVE_CONSOLE),)
EX_TARGETS += $(if $(wildcard examples/console/console-server.c),$(EX_OUT)/console/console-server)
EX_TARGETS += $(if $(wildcard examples/console/console-client.c),$(EX_OUT)/console/console-client)
endif

.PHONY: examples
examples: $(EX_TARGETS)
all: examples

# every example object may include any generated header
$(EX_OUT)/%.o: examples/%.c $(IDL_NAMES:%=$(GEN_DIR)/%.h) | $(DEPS_STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(EX_CFLAGS) -MMD -MP -c -o $@ $<

$(EX_OUT)/blk/blkback: $(EX_OUT)/blk/blkback.o $(EX_OUT)/blk/store.o $(EX_DEPLIBS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(EX_LIBS)

$(EX_OUT)/mirror/blkmirror: $(EX_OUT)/mirror/blkmirror.o $(EX_DEPLIBS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(EX_LIBS)

# The plugin is loaded by nbdkit, so libidc goes in statically (objects are -fPIC) and only
# plugin_init is exported. Under SAN=1 nbdkit needs libasan preloaded (the tests do that).
$(EX_OUT)/blk/nbdkit-idc-plugin.so: $(EX_OUT)/blk/nbdkit-idc.o $(EX_OUT)/blk/blkfront.o $(EX_DEPLIBS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,--exclude-libs,ALL -o $@ $(filter %.o,$^) $(EX_LIBS)

$(EX_OUT)/console/console-server: $(EX_OUT)/console/console-server.o $(EX_DEPLIBS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(EX_LIBS)

$(EX_OUT)/console/console-client: $(EX_OUT)/console/console-client.o $(EX_DEPLIBS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(EX_LIBS)

# the e2e tests drive these programs, so build them before the test binaries
$(BUILD)/tests/e2e: | examples

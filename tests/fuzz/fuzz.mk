# libFuzzer targets (clang). Included by the top-level Makefile.
#   make fuzz          run every target for FUZZ_TIME seconds (default 60) each
#   make check-fuzz    replay the checked-in corpora and regressions, then a short run (CI)
# Checked-in seeds live in tests/fuzz/corpus/TARGET/, crash reproducers in
# tests/fuzz/regress/TARGET/ (replayed forever). New inputs go to $(BUILD)/fuzz/work/TARGET/.

FUZZ_DEPS    := clang libclang-rt-14-dev
FUZZ_CC      ?= clang
FUZZ_TIME    ?= 60
FUZZ_CI_TIME ?= 15
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_CFLAGS  := -std=c11 -g -O1 -D_GNU_SOURCE -DIDC_VERSION='"$(VERSION)"' \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-unused-function
FUZZ_TARGETS := idlc ring rbuf $(if $(wildcard tests/fuzz/fuzz_decode.c),decode)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_STAMP   := $(FUZZ_DIR)/.deps-ok

$(FUZZ_STAMP): scripts/deps.sh
	$(Q)scripts/deps.sh $(FUZZ_DEPS)
	$(Q)mkdir -p $(@D) && touch $@

$(FUZZ_DIR)/fuzz_idlc: tests/fuzz/fuzz_idlc.c $(IDLC_SRCS) $(BUILD)/idlc/lexer.c $(BUILD)/idlc/parser.c | $(FUZZ_STAMP)
	$(call say,FUZZCC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(IDLC_INC) -o $@ $^

$(FUZZ_DIR)/fuzz_ring: tests/fuzz/fuzz_ring.c runtime/core/ring.c | $(FUZZ_STAMP)
	$(call say,FUZZCC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(RT_INC) -o $@ $^

$(FUZZ_DIR)/fuzz_rbuf: tests/fuzz/fuzz_rbuf.c $(RT_SRCS) | $(FUZZ_STAMP)
	$(call say,FUZZCC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(RT_INC) -o $@ $^ -lpthread

# the codec of a protocol stands alone: no endpoint glue, no runtime
$(FUZZ_DIR)/fuzz_decode: tests/fuzz/fuzz_decode.c $(GEN_DIR)/everything_codec.c | $(FUZZ_STAMP)
	$(call say,FUZZCC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -Iruntime/include -I$(GEN_DIR) -o $@ $^

fuzz-build: $(FUZZ_BINS)

# run TARGET for $(1) seconds on a scratch corpus seeded from the checked-in one
define fuzz_run
	@set -e; for t in $(FUZZ_TARGETS); do \
	    w=$(FUZZ_DIR)/work/$$t; mkdir -p $$w tests/fuzz/corpus/$$t; \
	    echo "== fuzz $$t for $(1)s"; \
	    $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(1) -print_final_stats=1 -timeout=10 \
	        -artifact_prefix=$(FUZZ_DIR)/crash-$$t- $$w tests/fuzz/corpus/$$t 2>&1 \
	        | grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|==|SUMMARY|Done)|ERROR' ; \
	    test $${PIPESTATUS[0]} -eq 0; \
	done
endef

fuzz: SHELL := /bin/bash
fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_TIME))

# CI: every checked-in input and regression must run clean, then a short exploration
check-fuzz: SHELL := /bin/bash
check-fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	    in=$$(ls tests/fuzz/corpus/$$t tests/fuzz/regress/$$t 2>/dev/null | wc -l); \
	    echo "== replay $$t ($$in inputs)"; \
	    $(FUZZ_DIR)/fuzz_$$t -runs=0 $$(ls -d tests/fuzz/corpus/$$t tests/fuzz/regress/$$t 2>/dev/null) 2>&1 | tail -1; \
	    test $${PIPESTATUS[0]} -eq 0; \
	done
	$(call fuzz_run,$(FUZZ_CI_TIME))

.PHONY: fuzz fuzz-build check-fuzz

# Regenerates the binary seeds of the ring and rbuf targets (checked in).
fuzz-seeds: $(LIBIDC)
	$(Q)mkdir -p $(FUZZ_DIR) tests/fuzz/corpus/ring tests/fuzz/corpus/rbuf
	$(Q)$(CC) $(ALL_CFLAGS) $(RT_INC) -o $(FUZZ_DIR)/mkseeds tests/fuzz/mkseeds.c $(LIBIDC) -lpthread
	$(Q)$(FUZZ_DIR)/mkseeds tests/fuzz/corpus
.PHONY: fuzz-seeds

# Hardening checks that are not Criterion suites (included by the top-level Makefile).
#   make valgrind   the demo scenario's processes under valgrind memcheck: idlc on idl/*.idl,
#                   blkback and nbdkit with the idc front-end plugin (nbdcopy round trip,
#                   blkback restarts); fails on any valgrind error or definite leak
# The double-fetch suite (tests/hardening/*.c) is an ordinary suite run by `make check`.

VALGRIND_DEPS := valgrind

.PHONY: valgrind
valgrind: all
	$(Q)scripts/deps.sh $(VALGRIND_DEPS)
	$(Q)tests/hardening/valgrind.sh $(BUILD)

#!/bin/bash
# layering.sh BUILD - the runtime's layering rules, checked on the built objects and the sources.
#
#   1. The core names no transport: no object of runtime/core/ references a symbol that an
#      object of runtime/transports/ defines (nm), except the built-in list the core iterates
#      (idc__builtin_transports, idc__buffer_memory, idc__absent_transports).
#   2. Transports see the core only through the contract: no file under runtime/transports/
#      includes the core's private header (internal.h).
#   3. A transport keeps to its folder: no transport includes another transport's headers.
#   4. The kernel runtime keeps the same line: its transport (runtime/kernel/xen*.c) includes
#      neither the core's private header nor the kernel context's (kcontext.h).
# Prints each violation and exits 1 if there is one.
set -u
build=${1:-build}
fail=0
contract='^(idc__builtin_transports|idc__buffer_memory|idc__absent_transports)$'

core_objs=$(ls "$build"/runtime/core/*.o 2>/dev/null)
tp_objs=$(find "$build"/runtime/transports -name '*.o' 2>/dev/null)
if [ -z "$core_objs" ] || [ -z "$tp_objs" ]; then
    echo "layering: build the runtime first (no objects under $build/runtime)" >&2
    exit 1
fi
tp_defs=$(nm -g --defined-only $tp_objs | awk 'NF == 3 { print $3 }' | grep -Ev "$contract" | sort -u)
for o in $core_objs; do
    for sym in $(nm -u "$o" | awk '{ print $2 }' | sort -u | comm -12 - <(echo "$tp_defs")); do
        echo "layering: $o (core) references transport symbol '$sym'"
        fail=1
    done
done
while IFS=: read -r file line _; do
    echo "layering: $file:$line: a transport includes the core's private header"
    fail=1
done < <(grep -rn '#include "internal.h"' runtime/transports)
for dir in runtime/transports/*/; do
    name=$(basename "$dir")
    for other in runtime/transports/*/; do
        o=$(basename "$other")
        [ "$o" = "$name" ] && continue
        while IFS=: read -r file line _; do
            echo "layering: $file:$line: transport '$name' includes a header of transport '$o'"
            fail=1
        done < <(grep -rnE "#include \"($o/|\.\./$o/)" "$dir")
    done
done
while IFS=: read -r file line _; do
    echo "layering: $file:$line: the kernel runtime's transport includes a private core header"
    fail=1
done < <(grep -HnE '#include "(internal|kcontext)\.h"' runtime/kernel/xen*.c 2>/dev/null)
[ $fail -eq 0 ] && echo "layering: clean (core names no transport; transports use only the contract)"
exit $fail

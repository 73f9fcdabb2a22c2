#!/bin/sh
# Turn idc-bench's results.tsv (and targets.tsv next to it) into Markdown tables, one per
# figure and placement: a row per case, a column per size/batch, each cell the median over
# the interleaved repetitions (latency: p50) with its ratio to the case's baseline.
# Usage: bench/tsv2md.sh BUILD/bench/results.tsv > table.md
set -eu
tsv=${1:?usage: tsv2md.sh results.tsv}
awk -F '\t' '
NR == 1 { next }
$13 ~ /^SKIPPED/ { skip[$1] = skip[$1] sprintf("- skipped: `%s`: %s\n", $4, substr($13, 10)); next }
{
    key = $1 SUBSEP $3
    if (!(key in seen)) { seen[key] = 1; order[++nk] = key; unit[key] = $5 }
    pk = key SUBSEP $2
    if (!(pk in pseen)) { pseen[pk] = 1; params[key, ++np[key]] = $2 }
    ck = key SUBSEP $4
    if (!(ck in cseen)) { cseen[ck] = 1; cases[key, ++nc[key]] = $4 }
    if ($13 ~ /^FAILED/) cell[key, $4, $2] = "failed"
    else {
        v = $7 + 0
        s = (v >= 100) ? sprintf("%.0f", v) : (v >= 10) ? sprintf("%.1f", v) : sprintf("%.3g", v)
        if ($12 != "") s = s sprintf(" (%.2fx)", $12)
        cell[key, $4, $2] = s
    }
}
END {
    for (k = 1; k <= nk; k++) {
        key = order[k]
        split(key, kp, SUBSEP)
        fig = kp[1]; pl = kp[2]
        if (!(fig in titled)) {
            titled[fig] = 1
            printf("\n#### %s (%s)\n", fig, unit[key])
            if (fig in skip) printf("\n%s", skip[fig])
        }
        printf("\n%s:\n\n| case |", pl == "fabric" ? "fabric (two network namespaces)" : pl "-core")
        for (p = 1; p <= np[key]; p++) printf(" %s |", params[key, p])
        printf("\n|---|")
        for (p = 1; p <= np[key]; p++) printf("---|")
        printf("\n")
        for (c = 1; c <= nc[key]; c++) {
            name = cases[key, c]
            printf("| %s |", name)
            for (p = 1; p <= np[key]; p++) {
                x = cell[key, name, params[key, p]]
                printf(" %s |", x == "" ? "" : x)
            }
            printf("\n")
        }
    }
}' "$tsv"
targets=$(dirname "$tsv")/targets.tsv
if [ -s "$targets" ]; then
    printf '\n#### targets\n\n| figure | size/batch | placement | ratio | value | target | status |\n|---|---|---|---|---|---|---|\n'
    awk -F '\t' 'NR > 1 { printf("| %s | %s | %s | %s / %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8) }' "$targets"
fi

# idc bench plots: gnuplot -e "dir='BUILD/bench'" bench/plots.gp
# Reads the plot data idc-bench writes (plot-FIGURE-PLACEMENT.dat: a row per size, a column
# per case, the median over the interleaved repetitions) and writes one PNG per figure and
# placement next to it. Missing data (a case that was skipped or failed) is NaN: no point.

if (!exists("dir")) dir = "build/bench"
set terminal pngcairo size 960,600 noenhanced font ",10"
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set key outside right top
set logscale x 2
set logscale y 10
set format x "%g"
set style data linespoints
set datafile missing "NaN"
# twelve distinguishable colours (a figure has up to 11 cases), point shapes cycle as well
colors = "#9400d3 #009e73 #56b4e9 #e69f00 #c0c000 #0072b2 #e51e10 #000000 #8b4513 #ff69b4 #708090 #00ced1"

# the placement a file name ends with, as the table names it
placement_of(f) = f[strstrt(f, "-") + 1:] eq "fabric" ? "fabric (two network namespaces)" : f[strstrt(f, "-") + 1:]."-core"

# one PNG: file, title, y label
plotfile(f) = sprintf("%s/%s.dat", dir, f)
pngfile(f) = sprintf("%s/%s.png", dir, f)
have(p) = int(system(sprintf("test -s '%s' && echo 1 || echo 0", p)))

do for [f in "rtt-cross rtt-same rtt-fabric"] {
    if (have(plotfile("plot-".f))) {
        stats plotfile("plot-".f) skip 1 using 1 nooutput
        n = STATS_columns
        set output pngfile(f)
        set title sprintf("round-trip latency, p50 (median of repetitions), %s placement: lower is better", \
                          placement_of(f))
        set xtics ("8" 8, "64" 64, "256" 256, "1 Ki" 1024, "4 Ki" 4096)
        set xrange [6:5500]
        set xlabel "payload bytes each way"
        set ylabel "microseconds (log)"
        plot for [i=2:n] plotfile("plot-".f) using 1:i title columnheader(i) lw 2 pt (i % 6) + 4 lc rgb word(colors, i - 1)
        unset output
        unset xrange
    }
}

do for [f in "bulk-cross bulk-same bulk-fabric"] {
    if (have(plotfile("plot-".f))) {
        stats plotfile("plot-".f) skip 1 using 1 nooutput
        n = STATS_columns
        set output pngfile(f)
        set title sprintf("bulk transfer into the receiver's memory, %s placement: higher is better", \
                          placement_of(f))
        set xtics ("4 KiB" 4096, "64 KiB" 65536, "1 MiB" 1048576, "16 MiB" 16777216)
        set xrange [3000:23000000]
        set xlabel "transfer size"
        set ylabel "GB/s (log)"
        plot for [i=2:n] plotfile("plot-".f) using 1:i title columnheader(i) lw 2 pt (i % 6) + 4 lc rgb word(colors, i - 1)
        unset output
    }
}

# message rate: batch 1 and 16 side by side, one group per case
unset logscale x
set format x "%g"
do for [f in "rate-cross rate-same rate-fabric"] {
    if (have(plotfile("plot-".f))) {
        stats plotfile("plot-".f) skip 1 using 1 nooutput
        n = STATS_columns
        set output pngfile(f)
        set title sprintf("one-way message rate by publish batch, %s placement: higher is better", \
                          placement_of(f))
        set xtics ("1" 1, "16" 16)
        set xlabel "messages published per notify decision (batch)"
        set ylabel "million messages/s (log)"
        set logscale x 2
        set xrange [0.7:23]
        plot for [i=2:n] plotfile("plot-".f) using 1:i title columnheader(i) lw 2 pt (i % 6) + 4 lc rgb word(colors, i - 1)
        unset xrange
        unset output
    }
}

# Per-kernel device time from `ncu --csv --metrics gpu__time_duration.sum`: launches and the
# median in microseconds, kernels in order of first launch. A line "== LABEL" (run.sh puts
# one between two profiled runs) adds " LABEL" to the names of the kernels after it. Plain
# awk: the GPU machine needs nothing beyond the CUDA toolkit.
BEGIN { FS = "\",\"" }
/^== / { label = " " substr($0, 4); next }
/gpu__time_duration.sum/ {
  name = $5
  sub(/\(.*/, "", name)          # drop the parameter list
  sub(/.*::/, "", name)          # and the namespaces
  name = name label
  unit = $(NF - 1)
  value = $NF
  gsub(/[",]/, "", value)
  us = value / (unit == "ns" ? 1000 : unit == "us" ? 1 : unit == "ms" ? 0.001 : 1e-6)
  if (!(name in count)) order[++kernels] = name
  times[name, ++count[name]] = us
}
END {
  printf "%-34s %8s %10s\n", "kernel", "launches", "median us"
  for (k = 1; k <= kernels; ++k) {
    name = order[k]
    n = count[name]
    for (i = 1; i <= n; ++i) sorted[i] = times[name, i]
    for (i = 2; i <= n; ++i)  # insertion sort: a handful of launches per kernel
      for (j = i; j > 1 && sorted[j - 1] > sorted[j]; --j) { t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t }
    printf "%-34s %8d %10.1f\n", name, n, sorted[int((n + 1) / 2)]
  }
}

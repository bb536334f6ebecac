# shellcheck shell=bash
# Shared by bench/run, bench/craft and bench/matrix: the header (machine, load), timing over
# BENCH_RUNS runs with the spread, ratios against a floor, and the summary printed at the end.
# The caller sets `work` (a temp dir it removes on exit) before calling anything here.

: "${work:?set work before sourcing bench/lib.sh}"
runs=${BENCH_RUNS:-3}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_RUNS must be a positive integer" >&2; exit 2; }

# The machine and its load, printed first (and the load again by bench_footer): a number taken
# while other work ran is not comparable with one from an idle machine.
bench_header() {
  local model cores
  model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
  cores=$(nproc)
  echo "# $1"
  echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- harness 2>/dev/null || echo ' (harness/ modified)')"
  echo "machine: $model, $cores cores ($(lscpu | sed -n 's/^Thread(s) per core: *//p') thread(s)/core), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo), $(uname -sr)$(grep -q sha_ni /proc/cpuinfo && echo ', SHA-NI')"
  echo "load:    $(load_now) at start"
  echo "runs:    $runs per command (BENCH_RUNS); min / median / max over them; page cache warm"
}
load_now() { cut -d' ' -f1-3 /proc/loadavg | sed 's/ /, /g'; }
bench_footer() {
  echo
  echo "load:    $(load_now) at the end (1, 5, 15 min; $(nproc) cores: above ~0.5 per core means other work ran)"
}

# time_once OUT CMD: runs CMD (a string, through sh -c; start it with `exec` so the peak RSS is
# the command's own) once and appends "seconds peak_rss_kib" to OUT. Fails loudly.
time_once() {
  local out=$1 cmd=$2 t0 t1 rss
  t0=$EPOCHREALTIME
  if ! /usr/bin/time -f '%M' -o "$work/.rss" sh -c "$cmd" >/dev/null 2>"$work/.err"; then
    echo "FAILED: $cmd" >&2; tail -5 "$work/.err" >&2; return 1
  fi
  t1=$EPOCHREALTIME
  rss=$(tail -1 "$work/.rss")
  echo "$(python3 -c "print(f'{$t1 - $t0:.3f}')") $rss" >> "$out"
}

# stats FILE COLUMN: "min median max" of a column of numbers.
stats() {
  python3 - "$1" "$2" <<'EOF'
import statistics, sys
v = [float(l.split()[int(sys.argv[2])]) for l in open(sys.argv[1]) if l.strip()]
print(f"{min(v):.3f} {statistics.median(v):.3f} {max(v):.3f}")
EOF
}

# ratios FLOOR_FILE SUBJECT_FILE: per-run floor/subject time ratios (runs are interleaved, so
# each pair ran under the same load), as "min median max".
ratios() {
  python3 - "$1" "$2" <<'EOF'
import statistics, sys
f = [float(l.split()[0]) for l in open(sys.argv[1]) if l.strip()]
s = [float(l.split()[0]) for l in open(sys.argv[2]) if l.strip()]
r = [a / max(b, 1e-6) for a, b in zip(f, s)]
print(f"{min(r):.2f} {statistics.median(r):.2f} {max(r):.2f}")
EOF
}

header_printed=
row_header() {
  [[ -n $header_printed ]] && return
  header_printed=1
  printf "\n%-22s %7s  %-44s %7s %7s %7s %7s %8s\n" case MiB command min med max "MiB/s" "RSS MiB"
}
# row CASE MIB COMMAND FILE: one line with the min/median/max seconds, the median's
# throughput and the largest peak RSS over the runs.
row() {
  local s mn md mx rss
  read -r mn md mx <<< "$(stats "$4" 0)"
  read -r _ _ rss <<< "$(stats "$4" 1)"
  s=$(python3 -c "print(f'{$2 / max($md, 1e-6):.0f}')")
  printf "%-22s %7s  %-44s %7s %7s %7s %7s %8s\n" "$1" "$2" "$3" "$mn" "$md" "$mx" "$s" \
    "$(python3 -c "print(f'{$rss / 1024:.0f}')")"
}

# compare CASE MIB FLOOR_LABEL FLOOR_CMD SUBJECT_LABEL SUBJECT_CMD TARGET: BENCH_RUNS
# interleaved runs of each, two rows, the ratio line, and a line in the summary. TARGET is the
# lowest acceptable floor/subject time ratio (1.0: as fast as the floor).
compare() {
  local case=$1 mib=$2 fl=$3 fc=$4 sl=$5 sc=$6 target=$7 key mn md mx verdict
  key=$(echo "$case $sl" | tr -c 'a-zA-Z0-9\n' _)
  : > "$work/f.$key"; : > "$work/s.$key"
  for _ in $(seq "$runs"); do
    time_once "$work/f.$key" "$fc"
    time_once "$work/s.$key" "$sc"
  done
  row_header
  row "$case" "$mib" "$fl" "$work/f.$key"
  row "$case" "$mib" "$sl" "$work/s.$key"
  read -r mn md mx <<< "$(ratios "$work/f.$key" "$work/s.$key")"
  verdict=$(python3 -c "print('met' if $md >= $target else 'MISSED')")
  echo "  -> $sl / floor: ${md}x (${mn}x-${mx}x over $runs runs; target >= ${target}x: $verdict)"
  printf "%-22s %-26s %-22s %-10s %s\n" "$case" "$sl vs floor" "${md}x (${mn}-${mx})" ">= ${target}x" "$verdict" >> "$work/summary"
  # The subject's peak RSS, for the memory target.
  rss_note "$case" "$work/s.$key"
}

# rss_note CASE FILE: the largest peak RSS of FILE's runs into the RSS summary.
rss_note() {
  local rss
  read -r _ _ rss <<< "$(stats "$2" 1)"
  rss=$(python3 -c "print(f'{$rss / 1024:.1f}')")
  printf "%-30s %8s MiB  %s\n" "$1" "$rss" "$(python3 -c "print('< 64 MiB: met' if $rss < 64 else '>= 64 MiB: MISSED')")" >> "$work/rss_summary"
}

print_summaries() {
  if [[ -s $work/summary ]]; then
    echo
    echo "## Ratios to the floor (floor seconds / subject seconds, per interleaved run: median (min-max))"
    printf "%-22s %-26s %-22s %-10s %s\n" case ratio value target verdict
    cat "$work/summary"
  fi
  if [[ -s $work/rss_summary ]]; then
    echo
    echo "## Peak RSS (GNU time %M, largest over the runs)"
    cat "$work/rss_summary"
  fi
}

# mib FILE: its size in MiB (rounded).
mib() { python3 -c "import os; print(round(os.path.getsize('$1') / 2**20))"; }

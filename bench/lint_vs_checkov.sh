#!/usr/bin/env bash
# stepup lint vs checkov on generated Ingress corpora (issue 3).
#
#   bash bench/lint_vs_checkov.sh            # full run, prints a markdown report
#
# What it does, in one run (so the ratios compare like with like):
#   1. builds target/release/stepup (cargo build --release) and copies the
#      binary aside, so a concurrent rebuild cannot change it mid-run;
#   2. installs checkov (pinned, in a venv) if no checkov is found;
#   3. generates deterministic corpora (bench/gen_corpus.py) of N Ingresses,
#      as one multi-document file and as a directory of 100-Ingress files;
#   4. times `stepup lint` on every N (after one untimed run: median of up to REPS runs, max RSS from
#      /usr/bin/time) and `checkov -d` on CHECKOV_SIZES, on the same directory;
#   5. optionally samples a profile of stepup at the largest N (perf);
#   6. prints a markdown table: N, median seconds, seconds per 1,000
#      Ingresses, checkov seconds, checkov/stepup, findings of each tool.
#
# Every loop is bounded in time: each run has a timeout, each N a budget for
# repetitions, checkov a total budget, and a size that timed out stops the
# larger sizes (they are reported as not run).
#
# Knobs (environment):
#   SIZES="1000 10000 30000 100000"  corpus sizes for stepup
#   CHECKOV_SIZES="1000 10000"       sizes checkov runs on (subset of SIZES)
#   SHAPE=shop                       corpus shape (gen_corpus.py): shop, or exposed
#                                    (issue 17: 2 paths per Ingress, /admin exposed,
#                                    3 findings per Ingress)
#   TARGET_S=0.5 TARGET_MIB=         verdicts at N=10,000: median seconds, max RSS
#   REPS=5                           stepup repetitions per N (at most)
#   STEPUP_BUDGET=150                seconds of stepup repetitions per N and form
#   STEPUP_TIMEOUT=600               seconds one stepup run may take
#   CHECKOV_REPS=3                   checkov repetitions per N (at most)
#   CHECKOV_BUDGET=1200              seconds for all checkov runs together
#   CHECKOV_VERSION=3.3.30           pinned version installed if checkov is missing
#   CHECKOV_VENV=/opt/checkov-venv   where it is installed
#   PROFILE=1                        perf-sample stepup at the largest N (PROFILE_SECONDS=60)
#   NO_BUILD=1                       skip `cargo build --release`
#   STEPUP_BIN=PATH STEPUP_SRC=DIR   measure this binary (built from the git tree DIR) instead
#                                    of target/release/stepup (implies NO_BUILD=1)
#   WORK=DIR KEEP=1                  work directory (default mktemp), keep it
#   REPORT=FILE                      also write the markdown report to FILE
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZES=${SIZES:-"1000 10000 30000 100000"}
CHECKOV_SIZES=${CHECKOV_SIZES:-"1000 10000"}
REPS=${REPS:-5}
STEPUP_BUDGET=${STEPUP_BUDGET:-150}
STEPUP_TIMEOUT=${STEPUP_TIMEOUT:-600}
CHECKOV_REPS=${CHECKOV_REPS:-3}
CHECKOV_BUDGET=${CHECKOV_BUDGET:-1200}
CHECKOV_VERSION=${CHECKOV_VERSION:-3.3.30}
CHECKOV_VENV=${CHECKOV_VENV:-/opt/checkov-venv}
PROFILE=${PROFILE:-1}
PROFILE_SECONDS=${PROFILE_SECONDS:-60}
PER_FILE=100
SHAPE=${SHAPE:-shop}
TARGET_S=${TARGET_S:-0.5}
TARGET_MIB=${TARGET_MIB:-}
WORK=${WORK:-$(mktemp -d /tmp/stepup-lint-bench.XXXXXX)}
mkdir -p "$WORK"
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$WORK"' EXIT; fi
T0=$(date +%s)

log() { printf '[%4ds] %s\n' $(($(date +%s) - T0)) "$*" >&2; }
now() { date +%s.%N; }

# ---------------------------------------------------------------- machine
MACHINE="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine: $MACHINE; load average at start: $LOAD_START"

# ---------------------------------------------------------------- stepup binary
BIN=${STEPUP_BIN:-$ROOT/target/release/stepup}
[ -n "${STEPUP_BIN:-}" ] && NO_BUILD=1
if [ "${NO_BUILD:-0}" != 1 ]; then
  log "cargo build --release"
  if ! (cd "$ROOT" && timeout 1200 cargo build --release >"$WORK/build.log" 2>&1); then
    log "WARNING: cargo build --release failed (tail below); using the existing binary if any"
    tail -5 "$WORK/build.log" >&2
  fi
fi
[ -x "$BIN" ] || { echo "no $BIN" >&2; exit 1; }
STEPUP="$WORK/stepup"
cp "$BIN" "$STEPUP"
STEPUP_SHA=$(sha256sum "$STEPUP" | cut -c1-12)
SRC=${STEPUP_SRC:-$ROOT}
STEPUP_REV=$(cd "$SRC" && git rev-parse --short HEAD 2>/dev/null)$(cd "$SRC" && git diff --quiet HEAD -- src cmd Cargo.toml Cargo.lock 2>/dev/null || echo "+dirty")
STEPUP_BUILT=$(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC')
log "stepup: binary built $STEPUP_BUILT, tree $STEPUP_REV, sha256 $STEPUP_SHA (copied to $STEPUP)"

# ---------------------------------------------------------------- checkov
CHECKOV=""
if command -v checkov >/dev/null 2>&1; then
  CHECKOV=$(command -v checkov)
elif [ -x "$CHECKOV_VENV/bin/checkov" ]; then
  CHECKOV="$CHECKOV_VENV/bin/checkov"
else
  log "checkov not found: pip install checkov==$CHECKOV_VERSION into $CHECKOV_VENV (allow several minutes)"
  if timeout 1200 python3 -m venv "$CHECKOV_VENV" >"$WORK/pip.log" 2>&1 &&
     timeout 1200 "$CHECKOV_VENV/bin/pip" install -q "checkov==$CHECKOV_VERSION" >>"$WORK/pip.log" 2>&1; then
    CHECKOV="$CHECKOV_VENV/bin/checkov"
  else
    log "WARNING: checkov could not be installed (tail of pip log below); stepup is measured alone"
    tail -5 "$WORK/pip.log" >&2
  fi
fi
CHECKOV_VER=none
if [ -n "$CHECKOV" ]; then
  CHECKOV_VER=$(timeout 120 "$CHECKOV" --version 2>/dev/null | tail -1)
  [ -n "$CHECKOV_VER" ] || { log "WARNING: $CHECKOV --version failed; checkov skipped"; CHECKOV=""; CHECKOV_VER=broken; }
fi
log "checkov: ${CHECKOV:-not available} (version $CHECKOV_VER)"
# checkov fetches guidelines from its vendor's API at start-up; there is no
# network here, so --skip-download avoids the failed request (and its stack
# trace). --soft-fail: exit 0 when checks fail. On this corpus checkov's
# user time is about its wall time (one core busy), as is stepup's.
CHECKOV_ARGS=(--framework kubernetes --quiet --compact --soft-fail --skip-download -o json)

# ---------------------------------------------------------------- corpora
for n in $SIZES; do
  t=$(now)
  python3 "$ROOT/bench/gen_corpus.py" "$n" "$WORK/c$n" "$PER_FILE" "$SHAPE" || exit 1
  log "corpus N=$n: $(du -h "$WORK/c$n/all.yaml" | cut -f1) in all.yaml, $(ls "$WORK/c$n/split" | wc -l) files in split/ ($(awk "BEGIN {printf \"%.1f\", $(now) - $t}") s to generate)"
done
# The corpora were just written (about 60 MB at 100,000): write them back
# now, so the kernel's writeback does not run beside the first timed runs
# (it did: 10,000 took 0.27 s in the first runs of a script and 0.23 s by
# the same binary a minute later).
sync

# ---------------------------------------------------------------- helpers
# run_timed OUTFILE TIMEOUT CMD... -> prints "wall_s maxrss_kb cpu_s" (cpu =
# user + system) or "timeout T"
run_timed() {
  local out=$1 to=$2; shift 2
  local tf="$WORK/time.$$"
  /usr/bin/time -f '%e %M %U %S' -o "$tf" timeout "$to" "$@" >"$out" 2>"$out.err"
  local rc=$?
  if [ $rc = 124 ] || [ $rc = 137 ]; then echo "timeout $to"; return 1; fi
  if [ $rc != 0 ]; then echo "error rc=$rc"; tail -3 "$out.err" >&2; return 1; fi
  tail -1 "$tf" | awk '{printf "%s %s %.2f\n", $1, $2, $3 + $4}'
}

# Findings in a stepup JSON report: "total (errors/warnings/notes; rule counts)".
stepup_findings() {
  python3 - "$1" <<'EOF'
import collections, json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]
rules = collections.Counter(f["rule"] for f in d["findings"])
print(f'{s["errors"] + s["warnings"] + s["notes"]}|{s["ingresses"]}|'
      + " ".join(f"{k}:{v}" for k, v in sorted(rules.items())))
EOF
}

# checkov JSON: "failed|passed|resource_count|check ids failed".
checkov_findings() {
  python3 - "$1" <<'EOF'
import collections, json, sys
d = json.load(open(sys.argv[1]))
d = d if isinstance(d, dict) else next(x for x in d if x.get("check_type") == "kubernetes")
s = d["summary"]
ids = collections.Counter(c["check_id"] for c in d["results"].get("failed_checks", []))
print(f'{s["failed"]}|{s["passed"]}|{s["resource_count"]}|'
      + " ".join(f"{k}:{v}" for k, v in sorted(ids.items())))
EOF
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
maxof() { printf '%s\n' "$@" | sort -g | tail -1; }

declare -A S_CPU C_CPU S_MED S_REPS S_RSS S_FIND S_RULES S_ING D_MED D_REPS C_MED C_REPS C_RSS C_FAIL C_PASS C_RES C_IDS C_NOTE

# bench_stepup KEY N INPUT -> fills S_*/D_* for KEY (file|dir)
bench_stepup() {
  local form=$1 n=$2 input=$3 walls=() rsss=() cpus=() start r res w m c
  # One untimed run first (page cache, binary), as hyperfine's --warmup.
  run_timed "$WORK/stepup.$form.$n.json" "$STEPUP_TIMEOUT" \
    "$STEPUP" lint -p "$WORK/c$n/policy.yaml" "$input" -o json --fail-on never >/dev/null || true
  start=$(date +%s)
  for ((r = 1; r <= REPS; r++)); do
    res=$(run_timed "$WORK/stepup.$form.$n.json" "$STEPUP_TIMEOUT" \
      "$STEPUP" lint -p "$WORK/c$n/policy.yaml" "$input" -o json --fail-on never) || {
      log "stepup N=$n ($form) run $r: $res"
      [ ${#walls[@]} = 0 ] && { echo "$res"; return 1; }
      break
    }
    read -r w m c <<<"$res"; walls+=("$w"); rsss+=("$m"); cpus+=("$c")
    log "stepup N=$n ($form) run $r: $w s wall, $c s CPU, max RSS $((m / 1024)) MiB"
    [ $(($(date +%s) - start)) -ge "$STEPUP_BUDGET" ] && break
  done
  echo "$(median "${walls[@]}") ${#walls[@]} $(maxof "${rsss[@]}") $(median "${cpus[@]}")"
}

# ---------------------------------------------------------------- stepup runs
STOPPED=""
for n in $SIZES; do
  if [ -n "$STOPPED" ]; then S_MED[$n]="not run"; continue; fi
  if out=$(bench_stepup file "$n" "$WORK/c$n/all.yaml"); then
    read -r S_MED[$n] S_REPS[$n] S_RSS[$n] S_CPU[$n] <<<"$out"
    IFS='|' read -r S_FIND[$n] S_ING[$n] S_RULES[$n] <<<"$(stepup_findings "$WORK/stepup.file.$n.json")"
  else
    S_MED[$n]="$out"; STOPPED=$n
    log "stepup timed out or failed at N=$n: larger sizes are not run"
  fi
done

CHECKOV_START=$(date +%s)
for n in $CHECKOV_SIZES; do
  # Same input as checkov: the directory of 100-Ingress files.
  if [ -z "$STOPPED" ] || [ "$n" -lt "$STOPPED" ]; then
    if out=$(bench_stepup dir "$n" "$WORK/c$n/split"); then
      read -r D_MED[$n] D_REPS[$n] _ _ <<<"$out"
      dir_find=$(stepup_findings "$WORK/stepup.dir.$n.json" | cut -d'|' -f1)
      [ "$dir_find" = "${S_FIND[$n]}" ] || log "WARNING: stepup found $dir_find in split/ but ${S_FIND[$n]} in all.yaml at N=$n"
    else
      D_MED[$n]="$out"
    fi
  fi
  [ -n "$CHECKOV" ] || continue
  walls=(); rsss=(); cpus=()
  for ((r = 1; r <= CHECKOV_REPS; r++)); do
    left=$((CHECKOV_BUDGET - ($(date +%s) - CHECKOV_START)))
    if [ $left -le 10 ]; then C_NOTE[$n]="checkov budget (${CHECKOV_BUDGET} s) used up"; break; fi
    res=$(run_timed "$WORK/checkov.$n.json" "$left" "$CHECKOV" -d "$WORK/c$n/split" "${CHECKOV_ARGS[@]}") || {
      log "checkov N=$n run $r: $res"; C_NOTE[$n]="run $r: $res s"; break; }
    read -r w m c <<<"$res"; walls+=("$w"); rsss+=("$m"); cpus+=("$c")
    IFS='|' read -r C_FAIL[$n] C_PASS[$n] C_RES[$n] C_IDS[$n] <<<"$(checkov_findings "$WORK/checkov.$n.json")"
    log "checkov N=$n run $r: $w s wall, $c s CPU, max RSS $((m / 1024)) MiB, resources parsed ${C_RES[$n]}, failed ${C_FAIL[$n]}, passed ${C_PASS[$n]}"
    # checkov is slow: one run above 60 s is enough for a ratio.
    awk "BEGIN {exit !($w > 60)}" && break
  done
  if [ ${#walls[@]} -gt 0 ]; then
    C_MED[$n]=$(median "${walls[@]}"); C_REPS[$n]=${#walls[@]}; C_RSS[$n]=$(maxof "${rsss[@]}"); C_CPU[$n]=$(median "${cpus[@]}")
    [ "${C_RES[$n]}" = "$n" ] || log "WARNING: checkov parsed ${C_RES[$n]} resources, expected $n"
  fi
done

# ---------------------------------------------------------------- profile
PROFILE_TXT=""
if [ "$PROFILE" = 1 ] && command -v perf >/dev/null 2>&1; then
  last=""; for n in $SIZES; do last=$n; done
  log "perf record on stepup lint N=$last (at most $PROFILE_SECONDS s of it)"
  # dwarf unwinding works on the release binary (it keeps .eh_frame and
  # symbols); functions inlined into their caller do not show separately.
  if perf record -F 99 --call-graph dwarf,16384 -o "$WORK/perf.data" -- timeout "$PROFILE_SECONDS" \
      "$STEPUP" lint -p "$WORK/c$last/policy.yaml" "$WORK/c$last/all.yaml" -o json --fail-on never \
      >/dev/null 2>"$WORK/perf.err"; then :; fi
  # inclusive ("children") time of stepup's own functions, then self time
  PROFILE_TXT=$(perf report -i "$WORK/perf.data" --children --stdio --percent-limit 3 -g none 2>/dev/null |
    grep -E '^ +[0-9.]+%' | grep -E 'stepup::|serde_yaml|yaml_rust|unsafe_libyaml' | grep -vE 'stepup::cli::main|lang_start' |
    head -14 | sed -E 's/ +/ /g'; echo "self time:"; perf report -i "$WORK/perf.data" --no-children --stdio --percent-limit 3 -g none 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -8 | sed -E 's/ +/ /g')
  PROFILE_N=$last
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
TOTAL=$(($(date +%s) - T0))

# ---------------------------------------------------------------- report
fmt() { awk "BEGIN {printf \"%.${2:-2}f\", $1}"; }
isnum() { [[ "$1" =~ ^[0-9.]+$ ]]; }
{
  echo "stepup $STEPUP_REV (binary sha256 $STEPUP_SHA, built $STEPUP_BUILT); checkov $CHECKOV_VER"
  echo "machine: $MACHINE; load average $LOAD_START at start, $LOAD_END at end; run took $TOTAL s"
  echo "corpus shape: $SHAPE"
  echo
  echo "| N | stepup median s (runs) | s per 1,000 Ingresses | stepup CPU s | stepup max RSS | stepup findings | stepup on split/ s | checkov -d s (runs) | checkov CPU s | checkov / stepup (split/) | checkov findings (failed / passed checks) |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for n in $SIZES; do
    sm=${S_MED[$n]:-"-"}; per="-"; rss="-"; fnd="-"; scpu=${S_CPU[$n]:-"-"}; ccpu=${C_CPU[$n]:-"-"}
    if isnum "$sm"; then
      per=$(fmt "$sm * 1000 / $n" 3); rss="$((${S_RSS[$n]} / 1024)) MiB"; fnd="${S_FIND[$n]}"
      sm="$(fmt "$sm" 2) (${S_REPS[$n]})"
    fi
    dm=${D_MED[$n]:-"-"}; isnum "$dm" && dm="$(fmt "$dm" 2) (${D_REPS[$n]})"
    cm="-"; ratio="-"; cf="-"
    if [ -n "${C_MED[$n]:-}" ]; then
      cm="$(fmt "${C_MED[$n]}" 1) (${C_REPS[$n]})"; cf="${C_FAIL[$n]} / ${C_PASS[$n]}"
      isnum "${D_MED[$n]:-x}" && ratio="$(fmt "${C_MED[$n]} / ${D_MED[$n]}" 1)x"
    elif [ -n "${C_NOTE[$n]:-}" ]; then
      cm="${C_NOTE[$n]}"
      # extrapolate linearly from the smallest checkov size that ran
      for m in $CHECKOV_SIZES; do
        if [ -n "${C_MED[$m]:-}" ]; then cm="$cm; ~$(fmt "${C_MED[$m]} * $n / $m" 0) EXTRAPOLATED from N=$m"; break; fi
      done
    fi
    echo "| $n | $sm | $per | $scpu | $rss | $fnd | $dm | $cm | $ccpu | $ratio | $cf |"
  done
  echo
  echo "stepup findings by rule:"
  for n in $SIZES; do [ -n "${S_RULES[$n]:-}" ] && echo "  N=$n: ${S_RULES[$n]}"; done
  echo "checkov failed checks by id:"
  for n in $CHECKOV_SIZES; do [ -n "${C_IDS[$n]:-}" ] && echo "  N=$n: ${C_IDS[$n]} (resources parsed: ${C_RES[$n]})"; done
  echo
  # verdicts
  if isnum "${S_MED[10000]:-x}"; then
    if awk "BEGIN {exit !(${S_MED[10000]} < $TARGET_S)}"; then
      echo "target 10,000 < $TARGET_S s: MET (${S_MED[10000]} s)"
    else
      echo "target 10,000 < $TARGET_S s: MISSED (${S_MED[10000]} s, $(fmt "${S_MED[10000]} / $TARGET_S" 1)x the target)"
    fi
    if [ -n "$TARGET_MIB" ]; then
      rss=$((${S_RSS[10000]} / 1024))
      if [ "$rss" -lt "$TARGET_MIB" ]; then
        echo "target 10,000 < $TARGET_MIB MiB max RSS: MET ($rss MiB)"
      else
        echo "target 10,000 < $TARGET_MIB MiB max RSS: MISSED ($rss MiB)"
      fi
    fi
  fi
  first=""; for n in $SIZES; do isnum "${S_MED[$n]:-x}" && { first=$n; break; }; done
  if [ -n "$first" ]; then
    base=$(fmt "${S_MED[$first]} * 1000 / $first" 4)
    line="linear growth (s per 1,000 relative to N=$first):"
    verdict=MET
    for n in $SIZES; do
      if isnum "${S_MED[$n]:-x}"; then
        rel=$(fmt "${S_MED[$n]} * 1000 / $n / $base" 1)
        line="$line N=$n ${rel}x;"
        awk "BEGIN {exit !($rel > 1.5)}" && verdict=MISSED
      else
        line="$line N=$n ${S_MED[$n]:-not run};"; verdict=MISSED
      fi
    done
    echo "$line -> $verdict (MET means every size within 1.5x)"
  fi
  if [ -n "$PROFILE_TXT" ]; then
    echo
    echo "perf profile of stepup lint at N=$PROFILE_N (first $PROFILE_SECONDS s at most; inclusive time with children, >= 3%; overhead, command, object, symbol):"
    echo "$PROFILE_TXT"
  fi
} | tee "${REPORT:-/dev/null}"

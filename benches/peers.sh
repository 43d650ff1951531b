#!/usr/bin/env bash
# Whole-process figures for switchyard beside its peers (Go, tokio, may, Node),
# measured in one run on one machine, so every ratio compares like with like.
#
# Copies ../shared/peers (the peers' programs, procmon, loadgen, report.py) to a
# writable folder, builds them and switchyard's release examples, then runs the
# selected workloads with the systems interleaved (A B C A B C ...), so drift of
# the machine hits all alike. switchyard's programs print the peers' JSON lines
# under the labels sy-single, sy-mnP1, sy-mnP2.
#
#   benches/peers.sh                      # W1 W2 W3 W4 W5 W6 W7, REPS=3
#   ONLY="w1 w3" REPS=5 benches/peers.sh  # some workloads, more repetitions
#   SY_MODES="single mn2" PEERS="tokio-ct go-P2" benches/peers.sh
#   ONLY=w6 SY_MODES="single loops2 mn2" PEERS="tokio-mt2 go-P2 node20 node-cluster2" benches/peers.sh
#   W6_SECS=5 W6_REPS=3 benches/peers.sh
#   ONLY=w6 SY_MODES=mn2 SY_BASE=../before benches/peers.sh   # before/after
#
# SY_BASE names a second switchyard checkout (say a `git worktree` at the
# commit before a change): its echo is built there and runs in W6 beside
# this checkout's, in every mode of SY_MODES, labelled base-single,
# base-mnP2, ..., so a change is measured against its parent in one run.
#
# Output: $OUT/results.md (default $TMPDIR/switchyard-peers/results.md) and
# $OUT/raw/. The folder is kept between runs so the peers' builds are cached.
# Needs cargo; go (apt-get install golang-go) and node are used when present.
# Every server binds 127.0.0.1 only and is killed by its PID after its runs.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=${PEERS_SRC:-$ROOT/../shared/peers}
OUT=${OUT:-${TMPDIR:-/tmp}/switchyard-peers}
REPS=${REPS:-3}
W2_RUNS=${W2_RUNS:-3}
W6_SECS=${W6_SECS:-10}
W6_REPS=${W6_REPS:-3}
ONLY=${ONLY:-"w1 w2 w3 w4 w5 w6 w7"}
SY_MODES=${SY_MODES:-"single"}
SY_BASE=${SY_BASE:-}
PEERS=${PEERS:-"tokio-ct tokio-mt2 go-P2 go-P1 may-2w node20"}
SPID=""

cleanup() { if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
want() { [[ " $ONLY " == *" $1 "* ]]; }
peer() { [[ " $PEERS " == *" $1 "* ]]; }

# ------------------------------------------------------------------ build
[ -d "$SRC" ] || { log "peers folder not found: $SRC (set PEERS_SRC)"; exit 1; }
case "$OUT" in "$ROOT"/*) log "OUT must be outside the repository (cargo would see the peers as a workspace member)"; exit 1 ;; esac
mkdir -p "$OUT"
cp -r "$SRC"/. "$OUT"/
rm -rf "$OUT/raw" "$OUT/results.md"
mkdir -p "$OUT/raw"
RAW=$OUT/raw
log "building the peers (release)"
(cd "$OUT/rust" && cargo build --release -q) || { log "peers' cargo build failed"; exit 1; }
R=$OUT/rust/target/release
HAVE_GO=0
if command -v go >/dev/null && (cd "$OUT/go" && go build -o anchor .); then HAVE_GO=1; else log "go not found: Go rows skipped"; fi
HAVE_NODE=0
if command -v node >/dev/null; then HAVE_NODE=1; else log "node not found: Node rows skipped"; fi
log "building switchyard's anchor and echo (release)"
(cd "$ROOT" && cargo build --release -q -p switchyard-benches --example anchor \
  && cargo build --release -q -p switchyard-rt --example echo) || { log "switchyard build failed"; exit 1; }
SY=$ROOT/target/release/examples
if [ -n "$SY_BASE" ]; then
  log "building the base checkout's echo (release): $SY_BASE"
  (cd "$SY_BASE" && cargo build --release -q -p switchyard-rt --example echo) || { log "base build failed"; exit 1; }
  SY_BASE_BIN=$(cd "$SY_BASE" && pwd)/target/release/examples
fi
GO=$OUT/go/anchor
NODE="node $OUT/node/anchor.js"

{
  echo "date_utc: $(date -u '+%Y-%m-%d %H:%M')"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "memory: $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "kernel: $(uname -sr)"
  echo "os: $(. /etc/os-release; echo "$PRETTY_NAME")"
  [ $HAVE_GO = 1 ] && echo "go: $(go version | awk '{print $3}')"
  echo "rustc: $(rustc --version)"
  [ $HAVE_NODE = 1 ] && echo "node: $(node --version)"
  echo "switchyard: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null)"
  echo "vm.max_map_count: $(cat /proc/sys/vm/max_map_count)"
  echo "ulimit -n: $(ulimit -n)"
} >"$RAW/machine.txt"

# pm W LABEL TIMEOUT CMD...: run CMD under procmon (wall, CPU, peak RSS, peak threads)
pm() {
  local w=$1 label=$2 to=$3; shift 3
  echo "### $label: $*" >>"$RAW/$w.log"
  "$R/procmon" --tag "$w|$label" --timeout "$to" -- "$@" >>"$RAW/$w.jsonl" 2>>"$RAW/$w.log"
}

# tree_cpu_ticks PID: user+system CPU ticks of PID and its children now
# (for servers that fork workers, such as Node's cluster).
tree_cpu_ticks() {
  local total=0 p f
  for p in "$1" $(pgrep -P "$1"); do
    f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    set -- $f
    total=$(( total + ${12} + ${13} ))
  done
  echo "$total"
}

# sy W TIMEOUT ARGS...: switchyard's anchor in every mode of SY_MODES
# (a workload named W-main runs its driver in the main future: label "… from main")
sy() {
  local w=$1 to=$2; shift 2
  local m sfx=""
  case $1 in *-main) sfx=" from main" ;; esac
  for m in $SY_MODES; do
    case $m in
      single) pm "$w" "sy-single$sfx" "$to" env RUNTIME_MODE=single "$SY/anchor" "$@" ;;
      mn*) pm "$w" "sy-mnP${m#mn}$sfx" "$to" env RUNTIME_MODE=mn RUNTIME_MAXPROCS="${m#mn}" "$SY/anchor" "$@" ;;
      # loopsN: single mode on N loops, a server shape (W6 only).
      loops*) ;;
    esac
  done
}

# peers W TIMEOUT GOARGS -- TOKIOARGS -- NODEARGS -- MAYARGS
run_peers() {
  local w=$1 to=$2
  peer tokio-ct && pm "$w" tokio-ct "$to" "$R/tokio_anchor" ct "$w"
  peer tokio-mt2 && pm "$w" tokio-mt2 "$to" "$R/tokio_anchor" mt2 "$w"
  [ $HAVE_GO = 1 ] && peer go-P2 && pm "$w" go-P2 "$to" "$GO" "$w"
  [ $HAVE_GO = 1 ] && peer go-P1 && GOMAXPROCS=1 pm "$w" go-P1 "$to" "$GO" "$w"
  [ $HAVE_NODE = 1 ] && peer node20 && pm "$w" node20 "$to" $NODE "$w"
  return 0
}

if want w1; then
  log "W1 spawn cost"
  for _ in $(seq "$REPS"); do
    sy w1 120 w1
    sy w1 120 w1-main
    run_peers w1 120
    peer may-2w && pm w1 "may-2w batches of 1000" 120 "$R/may_anchor" w1 100000 1000
  done
fi

if want w2; then
  log "W2 one million sleepers"
  for _ in $(seq "$W2_RUNS"); do
    sy w2 120 w2
    run_peers w2 120
  done
  for m in $SY_MODES; do
    case $m in
      single) pm w2 "sy-single (instrumented)" 120 env RUNTIME_MODE=single "$SY/anchor" w2 1000000 count ;;
      mn*) pm w2 "sy-mnP${m#mn} (instrumented)" 120 env RUNTIME_MODE=mn RUNTIME_MAXPROCS="${m#mn}" "$SY/anchor" w2 1000000 count ;;
    esac
  done
  [ $HAVE_GO = 1 ] && peer go-P2 && pm w2 "go-P2 (instrumented)" 120 "$GO" w2 count
fi

if want w3; then
  log "W3 ping-pong"
  for _ in $(seq "$REPS"); do
    sy w3 60 w3
    sy w3 60 w3-main
    run_peers w3 60
    peer may-2w && pm w3 may-2w 60 "$R/may_anchor" w3
  done
fi

if want w4; then
  log "W4 blocking syscall storm"
  for _ in $(seq "$REPS"); do
    sy w4 60 w4
    sy w4 60 w4 syscall
    sy w4 60 w4 spawn_blocking
    run_peers w4 60
    peer tokio-ct && pm w4 "tokio-ct spawn_blocking" 60 "$R/tokio_anchor" ct w4 spawn_blocking
  done
fi

if want w5; then
  log "W5 10k tasks on a 5 s timer"
  for _ in $(seq "$REPS"); do
    sy w5 60 w5
    run_peers w5 60
    peer may-2w && pm w5 may-2w 60 "$R/may_anchor" w5
  done
fi

if want w6; then
  log "W6 TCP echo, ${W6_SECS}s per run, C=50 and C=1000"
  SERVERS=()
  port=7100
  # sy_server LABEL-PREFIX DIR MODE: the SERVERS entry of one echo.
  sy_server() {
    case $3 in
      single) SERVERS+=("$1-single|env RUNTIME_MODE=single $2/echo 127.0.0.1:$port") ;;
      mn*) SERVERS+=("$1-mnP${3#mn}|env RUNTIME_MODE=mn RUNTIME_MAXPROCS=${3#mn} $2/echo 127.0.0.1:$port") ;;
      loops*) SERVERS+=("$1-loops${3#loops}|env RUNTIME_MODE=single RUNTIME_LOOPS=${3#loops} $2/echo 127.0.0.1:$port") ;;
    esac
    port=$((port + 1))
  }
  for m in $SY_MODES; do
    sy_server sy "$SY" "$m"
    [ -n "$SY_BASE" ] && sy_server base "$SY_BASE_BIN" "$m"
  done
  peer tokio-ct && SERVERS+=("tokio-ct|$R/tokio_anchor ct w6 7201")
  peer tokio-mt2 && SERVERS+=("tokio-mt2|$R/tokio_anchor mt2 w6 7202")
  [ $HAVE_GO = 1 ] && peer go-P2 && SERVERS+=("go-P2|$GO w6 7203")
  peer may-2w && SERVERS+=("may-2w|$R/may_anchor w6 7204")
  [ $HAVE_NODE = 1 ] && peer node20 && SERVERS+=("node20|$NODE w6 7205")
  # Node's cluster with 2 workers. The load generator reads the CPU of the
  # PID it is given, the primary; the workers' CPU is added from the
  # process tree below (a "tree_cpu" line in w6.log).
  [ $HAVE_NODE = 1 ] && peer node-cluster2 && SERVERS+=("node-cluster2|$NODE w6cluster 7206 2|7206")
  for _ in $(seq "$W6_REPS"); do
    for s in "${SERVERS[@]}"; do
      # NAME|COMMAND, the port last on the command line; or NAME|COMMAND|PORT.
      name=${s%%|*}; cmd=${s#*|}; port=${cmd##*[ :]}
      if [[ $cmd == *"|"* ]]; then port=${cmd##*|}; cmd=${cmd%|*}; fi
      $cmd >>"$RAW/w6.log" 2>&1 &
      SPID=$!
      sleep 0.5
      # `env` execs the server, so SPID is the server's own PID.
      for C in 50 1000; do
        before=$(tree_cpu_ticks "$SPID")
        "$R/loadgen" "127.0.0.1:$port" "$C" "$W6_SECS" "$SPID" "$name" >>"$RAW/w6.jsonl" 2>>"$RAW/w6.log"
        after=$(tree_cpu_ticks "$SPID")
        echo "tree_cpu $name C=$C: $(( after - before )) ticks of $(getconf CLK_TCK)/s, server and its children" >>"$RAW/w6.log"
      done
      kill "$SPID"; wait "$SPID" 2>/dev/null; SPID=""
      sleep 0.5
    done
  done
fi

if want w7; then
  log "W7 CPU parallelism"
  for _ in $(seq "$REPS"); do
    sy w7 60 w7
    run_peers w7 60
  done
fi

log "writing $OUT/results.md"
python3 "$OUT/report.py" "$RAW" >"$OUT/results.md"
log "done: $OUT/results.md"

# shellcheck shell=bash
# Shared helpers for hack/cluster/* and hack/prometheus/* (sourced, not run).

_lib_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$_lib_dir/versions.env"

CRESCENDO_CACHE_DIR="${CRESCENDO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/crescendo}"
CRESCENDO_BIN_DIR="$CRESCENDO_CACHE_DIR/bin"
CRESCENDO_CLUSTER_DIR="${CRESCENDO_CLUSTER_DIR:-/tmp/crescendo-cluster}"
export CRESCENDO_CACHE_DIR CRESCENDO_BIN_DIR CRESCENDO_CLUSTER_DIR

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# free_port: prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
  local p
  for _ in $(seq 1 200); do
    # 20000-32767: below the kernel's ephemeral range, so outgoing connections never take it.
    p=$(( (RANDOM % 12768) + 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      # Nothing listens; also make sure we did not hand it out already.
      if [[ " ${_handed_ports:-} " != *" $p "* ]]; then
        _handed_ports="${_handed_ports:-} $p"
        echo "$p"
        return 0
      fi
    fi
  done
  die "no free port found"
}

# wait_until <timeout seconds> <description> <command...>
wait_until() {
  local timeout="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# pid_of <pidfile>: prints the PID recorded in <pidfile> if that process is
# still alive and is the program the file is named after (<name>.pid runs a
# binary called <name> or <name>-<version>), so a recycled PID is never hit.
pid_of() {
  local f="$1" pid name argv0
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  name="$(basename "$f" .pid)"
  argv0="$(tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | head -n 1)"
  argv0="$(basename "${argv0:-?}")"
  [[ "$argv0" == "$name" || "$argv0" == "$name"-* ]] || return 1
  echo "$pid"
}

# pid_alive <pidfile>
pid_alive() {
  pid_of "$1" >/dev/null
}

# stop_pidfile <pidfile> [grace seconds]: SIGTERM, then SIGKILL after the grace.
stop_pidfile() {
  stop_pidfiles "${2:-10}" "$1"
}

# stop_pidfiles <grace seconds> <pidfile...>: SIGTERM to all at once, wait up to
# the grace for all of them, SIGKILL whatever is left.
stop_pidfiles() {
  local grace="$1" f pid
  shift
  local -a pids=()
  for f in "$@"; do
    if pid="$(pid_of "$f")"; then
      log "stopping $(basename "$f" .pid) (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  local deadline=$((SECONDS + grace)) left
  while :; do
    left=()
    for pid in "${pids[@]}"; do
      if kill -0 "$pid" 2>/dev/null; then left+=("$pid"); fi
    done
    ((${#left[@]} == 0 || SECONDS >= deadline)) && break
    sleep 0.1
  done
  for pid in "${left[@]}"; do
    log "pid $pid ignored SIGTERM for ${grace}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$@"
}

# shellcheck shell=bash
# Common parts of the services harness, sourced by every scripts/services/<component>.sh.
#
# Every script: `install | start | stop | status`, idempotent, bound to 127.0.0.1 on the ports of ports.env,
# state under $CC_SERVICES_HOME, downloads cached under $CC_CACHE_DIR (both outside the clone so a fresh
# clone reuses them), readiness checked with a real probe and a deadline (never a fixed sleep).

set -euo pipefail

SERVICES_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# ports.env gives the defaults; a variable already set in the environment wins, so a developer can move the
# state or the cache without editing the file.
load_ports_env() {
    local line name value
    while IFS= read -r line || [[ -n "$line" ]]; do
        [[ "$line" =~ ^[[:space:]]*# || ! "$line" =~ = ]] && continue
        name="${line%%=*}"
        value="${line#*=}"
        if [[ -z "${!name:-}" ]]; then
            export "$name=$value"
        fi
    done < "$SERVICES_SCRIPT_DIR/ports.env"
}
load_ports_env

export DEBIAN_FRONTEND=noninteractive

# CI runs with a plain environment: the toolchains installed outside Debian (rustup's cargo, the Go
# distribution in /usr/local/go) may be missing from PATH there. Debian's own Go is too old for FerretDB.
for toolchain_dir in "${HOME:-/root}/.cargo/bin" /usr/local/go/bin /usr/sbin /sbin; do
    if [[ -d "$toolchain_dir" && ":$PATH:" != *":$toolchain_dir:"* ]]; then
        PATH="$PATH:$toolchain_dir"
    fi
done
export PATH

log() { printf '[%s] %s\n' "${SERVICE_NAME:-services}" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# The port of a URL or host:port (`redis://127.0.0.1:16379`, `mysql://u:p@127.0.0.1:13306/db`, `h:p`).
url_port() {
    local rest="${1#*://}"
    rest="${rest#*@}"
    rest="${rest%%/*}"
    printf '%s\n' "${rest##*:}"
}

# Is something accepting TCP connections on 127.0.0.1:<port>? Bounded to one second.
port_open() {
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2> /dev/null
}

# wait_for <what> <deadline seconds> <log file> <command...>
# Polls <command> until it succeeds; on deadline prints the log's tail and its path, and fails. With
# WAIT_PID_FILES set (space-separated pid files), fails at once when one of those processes has died.
wait_for() {
    local what="$1" deadline_seconds="$2" log_file="$3"
    shift 3
    local start=$SECONDS pid_file
    until "$@" > /dev/null 2>&1; do
        for pid_file in ${WAIT_PID_FILES:-}; do
            # Plain kill -0, not pid_alive: some servers (redis) rewrite their process title.
            if ! kill -0 "$(cat "$pid_file" 2> /dev/null || echo none)" 2> /dev/null; then
                log "$what: the process of $pid_file exited during start-up"
                [[ -n "$log_file" && -f "$log_file" ]] && tail -n 30 "$log_file" >&2
                die "$what failed to start; full log: ${log_file:-none}"
            fi
        done
        if ((SECONDS - start >= deadline_seconds)); then
            log "$what: not reached within ${deadline_seconds}s"
            if [[ -n "$log_file" && -f "$log_file" ]]; then
                log "last lines of $log_file:"
                tail -n 30 "$log_file" >&2 || true
            fi
            die "$what: gave up after ${deadline_seconds}s; full log: ${log_file:-none}"
        fi
        # Polling interval, not a synchronisation sleep: the loop exits on the probe's success.
        sleep 0.3
    done
    log "$what: ok after $((SECONDS - start))s"
}

# --- Debian packages ------------------------------------------------------------------------------

package_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2> /dev/null || true)" == "installed" ]]
}

# `apt-get update` runs at most once per six hours across all scripts (a marker file), so `all.sh start`
# on a fresh machine updates the lists once and a warm machine never waits for it.
apt_update_once() {
    local marker="$CC_SERVICES_HOME/.apt-updated"
    mkdir -p "$CC_SERVICES_HOME"
    if [[ -f "$marker" && -n "$(find "$marker" -mmin -360 2> /dev/null)" ]]; then
        return 0
    fi
    log "apt-get update"
    apt-get -o DPkg::Lock::Timeout=600 update -q > "$CC_SERVICES_HOME/apt-update.log" 2>&1 \
        || {
            tail -n 20 "$CC_SERVICES_HOME/apt-update.log" >&2
            die "apt-get update failed; log: $CC_SERVICES_HOME/apt-update.log"
        }
    touch "$marker"
}

# apt_install_if_missing <package...>: installs the missing ones in one apt-get call. Debian's maintainer
# scripts would start the system's own instances (nginx on :80, mariadb on :3306, redis on :6379, the
# Prometheus server): a temporary policy-rc.d forbids that, since this harness runs its own instances.
apt_install_if_missing() {
    local missing=() package
    for package in "$@"; do
        package_installed "$package" || missing+=("$package")
    done
    ((${#missing[@]} == 0)) && return 0
    apt_update_once
    log "apt-get install ${missing[*]}"
    local policy=/usr/sbin/policy-rc.d placed_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        placed_policy=1
    fi
    local apt_log="$CC_SERVICES_HOME/apt-install.log" rc=0
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" \
        >> "$apt_log" 2>&1 || rc=$?
    ((placed_policy)) && rm -f "$policy"
    if ((rc != 0)); then
        tail -n 30 "$apt_log" >&2
        die "apt-get install ${missing[*]} failed; log: $apt_log"
    fi
}

package_version() { dpkg-query -W -f='${Version}' "$1" 2> /dev/null || echo "not installed"; }

# --- Processes ------------------------------------------------------------------------------------

# A pid file left by a machine restart may name a pid now reused by an unrelated process: the process only
# counts as ours when its command line mentions $CC_SERVICES_HOME (every daemon here is started with a
# config, data or state path under it).
pid_alive() {
    local pid_file="$1" pid
    [[ -f "$pid_file" ]] || return 1
    pid="$(cat "$pid_file" 2> /dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2> /dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -qF "$CC_SERVICES_HOME"
}

# start_background <pid file> <log file> <command...>: runs the command detached (own session, so the
# caller's terminal or CI step ending does not signal it) and records its pid.
start_background() {
    local pid_file="$1" log_file="$2"
    shift 2
    mkdir -p "$(dirname "$pid_file")" "$(dirname "$log_file")"
    printf '\n==== %s: %s\n' "$(date -u +%FT%TZ)" "$*" >> "$log_file"
    setsid "$@" >> "$log_file" 2>&1 < /dev/null &
    echo $! > "$pid_file"
}

# stop_pid_file <what> <pid file> [deadline seconds]: SIGTERM, wait for the exit, SIGKILL at the deadline.
stop_pid_file() {
    local what="$1" pid_file="$2" deadline_seconds="${3:-30}" pid start=$SECONDS
    if ! pid_alive "$pid_file"; then
        rm -f "$pid_file"
        log "$what not running"
        return 0
    fi
    pid="$(cat "$pid_file")"
    kill -TERM "$pid" 2> /dev/null || true
    while kill -0 "$pid" 2> /dev/null; do
        if ((SECONDS - start >= deadline_seconds)); then
            log "$what (pid $pid) still running after ${deadline_seconds}s: SIGKILL"
            kill -KILL "$pid" 2> /dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$pid_file"
    log "$what stopped"
}

# Dispatch `$1` to the script's cmd_install / cmd_start / cmd_stop / cmd_status functions.
dispatch() {
    local command="${1:-}"
    shift || true
    case "$command" in
        install | start | stop | status) "cmd_$command" "$@" ;;
        *)
            echo "usage: $0 install|start|stop|status" >&2
            exit 2
            ;;
    esac
}

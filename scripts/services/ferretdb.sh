#!/usr/bin/env bash
# FerretDB 1.24.x (MongoDB wire protocol) built from the Go module proxy, SQLite backend, on the address of
# $CC_TEST_MONGODB_URL. Its debug HTTP handler (readiness probe) listens on the wire port + 1.
# Usage: ferretdb.sh install | start | stop | status
SERVICE_NAME=ferretdb
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FERRETDB_VERSION="${CC_FERRETDB_VERSION:-v1.24.2}"
BUILD_DIR="$CC_CACHE_DIR/ferretdb"
BINARY="$BUILD_DIR/$FERRETDB_VERSION/ferretdb"
STATE_DIR="$CC_SERVICES_HOME/ferretdb"
PID_FILE="$STATE_DIR/ferretdb.pid"
LOG_FILE="$STATE_DIR/ferretdb.log"
PORT="$(url_port "$CC_TEST_MONGODB_URL")"
DEBUG_PORT=$((PORT + 1))

cmd_install() {
    apt_install_if_missing curl
    [[ -x "$BINARY" ]] && "$BINARY" --version > /dev/null 2>&1 && return 0
    command -v go > /dev/null || apt_install_if_missing golang-go
    local build_log="$BUILD_DIR/build-$FERRETDB_VERSION.log"
    mkdir -p "$BUILD_DIR/$FERRETDB_VERSION"
    log "building FerretDB $FERRETDB_VERSION from the Go module proxy (log: $build_log)"
    # `go install ...@version` builds a binary that panics at start: FerretDB embeds build/version/version.txt,
    # which its release tooling generates and the module zip lacks. So: fetch the module, write that file into
    # a writable copy, and build the copy with the module's own go.sum.
    export GOMODCACHE="$CC_CACHE_DIR/gomod" GOFLAGS="-mod=mod -modcacherw -buildvcs=false"
    local module_dir source_dir="$BUILD_DIR/src-$FERRETDB_VERSION"
    module_dir="$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" 2>> "$build_log" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [[ -d "$module_dir" ]] || die "go mod download github.com/FerretDB/FerretDB@$FERRETDB_VERSION failed; log: $build_log"
    rm -rf "$source_dir"
    cp -r "$module_dir" "$source_dir"
    chmod -R u+w "$source_dir"
    echo "$FERRETDB_VERSION" > "$source_dir/build/version/version.txt"
    # Default build tags include the SQLite backend (ferretdb_no_sqlite would remove it).
    (cd "$source_dir" && go build -trimpath -o "$BINARY" ./cmd/ferretdb) >> "$build_log" 2>&1 \
        || die "building FerretDB failed; log: $build_log"
    "$BINARY" --version > /dev/null || die "$BINARY does not run; log: $build_log"
}

ready() { curl -fsS --max-time 2 "http://127.0.0.1:$DEBUG_PORT/debug/readyz" > /dev/null 2>&1 && port_open "$PORT"; }

cmd_start() {
    cmd_install
    if ready; then
        log "ferretdb on 127.0.0.1:$PORT already running"
        return 0
    fi
    mkdir -p "$STATE_DIR/data" "$STATE_DIR/state"
    if ! pid_alive "$PID_FILE"; then
        start_background "$PID_FILE" "$LOG_FILE" "$BINARY" --handler=sqlite \
            --sqlite-url="file:$STATE_DIR/data/" --listen-addr="127.0.0.1:$PORT" \
            --debug-addr="127.0.0.1:$DEBUG_PORT" --state-dir="$STATE_DIR/state" \
            --telemetry=disable --log-level=warn
    fi
    WAIT_PID_FILES="$PID_FILE" wait_for "ferretdb on 127.0.0.1:$PORT" 60 "$LOG_FILE" ready
}

cmd_stop() { stop_pid_file ferretdb "$PID_FILE" 30; }

cmd_status() {
    local version="not built"
    [[ -x "$BINARY" ]] && version="$("$BINARY" --version 2> /dev/null | sed -n 's/^version: //p')"
    if ready; then
        echo "ferretdb ${version} (sqlite) 127.0.0.1:${PORT} up"
    else
        echo "ferretdb ${version} (sqlite) 127.0.0.1:${PORT} DOWN"
        return 1
    fi
}

dispatch "$@"

#!/usr/bin/env bash
# Every real service the test suite uses: start (installing what is missing), stop, or status, then a table
# of each one's version and address.
# Usage: all.sh start | stop | status
SERVICE_NAME=all
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Docker first (slowest to come up on a fresh machine is the apt install, and sshd users need it); Kafka's
# JVMs start in the background of kafka.sh and are waited for there.
COMPONENTS=(docker redis mariadb kafka ferretdb nginx promtool sshd)
# Headless Chromium for the demo web client's browser test (binaries only, nothing runs).
COMPONENTS+=(chromium)

run_each() {
    local action="$1" component failed=() start
    for component in "${COMPONENTS[@]}"; do
        start=$SECONDS
        if "$SERVICES_SCRIPT_DIR/$component.sh" "$action"; then
            log "$component $action: ok ($((SECONDS - start))s)"
        else
            log "$component $action: FAILED ($((SECONDS - start))s)"
            failed+=("$component")
        fi
    done
    if ((${#failed[@]} > 0)); then
        # Keep going past one failure so a single run reports every broken service.
        printf '%s\n' "${failed[@]}" > "$CC_SERVICES_HOME/.failed"
        return 1
    fi
    rm -f "$CC_SERVICES_HOME/.failed"
}

print_status() {
    local component rc=0
    echo "---- services (state: $CC_SERVICES_HOME, cache: $CC_CACHE_DIR)"
    for component in "${COMPONENTS[@]}"; do
        "$SERVICES_SCRIPT_DIR/$component.sh" status || rc=1
    done
    return "$rc"
}

cmd_install() { run_each install; }

cmd_start() {
    mkdir -p "$CC_SERVICES_HOME"
    local rc=0
    run_each start || rc=1
    print_status || rc=1
    if ((rc != 0)); then
        die "some services failed to start: $(tr '\n' ' ' < "$CC_SERVICES_HOME/.failed" 2> /dev/null || true)(logs under $CC_SERVICES_HOME)"
    fi
}

cmd_stop() {
    local index
    # Reverse order of start.
    for ((index = ${#COMPONENTS[@]} - 1; index >= 0; index--)); do
        "$SERVICES_SCRIPT_DIR/${COMPONENTS[index]}.sh" stop || true
    done
}

cmd_status() { print_status; }

dispatch "$@"

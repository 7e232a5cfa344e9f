#!/usr/bin/env bash
# Redis from Debian: a standalone server ($CC_TEST_REDIS_URL, no persistence) and a 3-master Redis Cluster
# ($CC_TEST_REDIS_CLUSTER_NODES) for cluster-mode tests.
# Usage: redis.sh install | start [standalone|cluster|all] | stop [standalone|cluster|all] | status
SERVICE_NAME=redis
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE_DIR="$CC_SERVICES_HOME/redis"
STANDALONE_PORT="$(url_port "$CC_TEST_REDIS_URL")"
CLUSTER_PORTS=()
IFS=',' read -r -a cluster_urls <<< "$CC_TEST_REDIS_CLUSTER_NODES"
for url in "${cluster_urls[@]}"; do CLUSTER_PORTS+=("$(url_port "$url")"); done

node_dir() { echo "$STATE_DIR/$1"; }
node_log() { echo "$STATE_DIR/$1/redis.log"; }
node_pid() { echo "$STATE_DIR/$1/redis.pid"; }

ping_node() { [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2> /dev/null)" == "PONG" ]]; }

# Starts one redis-server on <port> unless it already answers; extra args follow the port.
start_node() {
    local port="$1"
    shift
    local dir
    dir="$(node_dir "$port")"
    if ping_node "$port"; then
        log "redis on 127.0.0.1:$port already running"
        return 0
    fi
    mkdir -p "$dir"
    # Persistence off: the tests need a fast, disposable server.
    start_background "$(node_pid "$port")" "$(node_log "$port")" \
        redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
        --protected-mode yes --daemonize no "$@"
    WAIT_PID_FILES="$(node_pid "$port")" wait_for "redis on 127.0.0.1:$port" 30 "$(node_log "$port")" ping_node "$port"
}

cluster_ok() {
    redis-cli -h 127.0.0.1 -p "${CLUSTER_PORTS[0]}" cluster info 2> /dev/null | grep -q '^cluster_state:ok'
}

# Every node must see the whole cluster with all slots assigned, not just the first one.
cluster_ok_everywhere() {
    local port
    for port in "${CLUSTER_PORTS[@]}"; do
        redis-cli -h 127.0.0.1 -p "$port" cluster info 2> /dev/null | grep -q '^cluster_state:ok' || return 1
        redis-cli -h 127.0.0.1 -p "$port" cluster info 2> /dev/null \
            | grep -q "^cluster_known_nodes:${#CLUSTER_PORTS[@]}" || return 1
    done
}

start_standalone() { start_node "$STANDALONE_PORT"; }

start_cluster() {
    local port all_up=1
    for port in "${CLUSTER_PORTS[@]}"; do ping_node "$port" || all_up=0; done
    if ((all_up)) && cluster_ok_everywhere; then
        log "redis cluster on ports ${CLUSTER_PORTS[*]} already running (cluster_state:ok)"
        return 0
    fi
    # Anything half-made (a node down, a cluster never created) is rebuilt from scratch: the cluster holds
    # no data worth keeping and a clean create is faster than repairing slots.
    stop_cluster
    for port in "${CLUSTER_PORTS[@]}"; do
        rm -rf "$(node_dir "$port")"
        start_node "$port" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000
    done
    local addresses=()
    for port in "${CLUSTER_PORTS[@]}"; do addresses+=("127.0.0.1:$port"); done
    log "creating the cluster: ${addresses[*]}"
    redis-cli --cluster create "${addresses[@]}" --cluster-replicas 0 --cluster-yes \
        >> "$STATE_DIR/cluster-create.log" 2>&1 \
        || die "redis-cli --cluster create failed; log: $STATE_DIR/cluster-create.log"
    wait_for "redis cluster (cluster_state:ok on every node)" 60 "$STATE_DIR/cluster-create.log" \
        cluster_ok_everywhere
}

port_closed() { ! port_open "$1"; }

# redis-server rewrites its process title (dropping the --dir path pid_alive looks for), so the server is
# asked to shut down itself, and the port is watched until it closes.
stop_node() {
    local port="$1"
    rm -f "$(node_pid "$port")"
    ping_node "$port" || return 0
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave > /dev/null 2>&1 || true
    wait_for "redis on 127.0.0.1:$port stopping" 20 "$(node_log "$port")" port_closed "$port"
}
stop_standalone() { stop_node "$STANDALONE_PORT"; }
stop_cluster() {
    local port
    for port in "${CLUSTER_PORTS[@]}"; do stop_node "$port"; done
}

cmd_install() { apt_install_if_missing redis-server redis-tools; }

cmd_start() {
    cmd_install
    case "${1:-all}" in
        standalone) start_standalone ;;
        cluster) start_cluster ;;
        all) start_standalone && start_cluster ;;
        *) die "unknown mode '$1' (standalone|cluster|all)" ;;
    esac
}

cmd_stop() {
    case "${1:-all}" in
        standalone) stop_standalone ;;
        cluster) stop_cluster ;;
        all) stop_standalone && stop_cluster ;;
        *) die "unknown mode '$1' (standalone|cluster|all)" ;;
    esac
}

cmd_status() {
    local version="not installed" rc=0
    command -v redis-server > /dev/null && version="$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
    if ping_node "$STANDALONE_PORT"; then
        echo "redis ${version} standalone 127.0.0.1:${STANDALONE_PORT} up"
    else
        echo "redis ${version} standalone 127.0.0.1:${STANDALONE_PORT} DOWN"
        rc=1
    fi
    if cluster_ok_everywhere; then
        echo "redis ${version} cluster ${CC_TEST_REDIS_CLUSTER_NODES} up (cluster_state:ok)"
    else
        echo "redis ${version} cluster ${CC_TEST_REDIS_CLUSTER_NODES} DOWN"
        rc=1
    fi
    return "$rc"
}

dispatch "$@"

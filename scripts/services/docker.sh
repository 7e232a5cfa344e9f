#!/usr/bin/env bash
# Docker Engine from Debian's docker.io: dockerd in the background (no systemd here), a single-node swarm
# advertised on 127.0.0.1, and a tiny local image `cc-smoke:local` (Debian's static busybox) because no
# image can be pulled from any registry here.
# Usage: docker.sh install | start | stop | status
SERVICE_NAME=docker
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE_DIR="$CC_SERVICES_HOME/docker"
PID_FILE="$STATE_DIR/dockerd.pid"
LOG_FILE="$STATE_DIR/dockerd.log"
SOCKET="${CC_TEST_DOCKER_HOST#unix://}"
SMOKE_IMAGE=cc-smoke:local
export DOCKER_HOST="$CC_TEST_DOCKER_HOST"

docker_up() { timeout 10 docker info > /dev/null 2>&1; }
swarm_state() { timeout 10 docker info --format '{{.Swarm.LocalNodeState}}' 2> /dev/null || true; }
swarm_active() { [[ "$(swarm_state)" == "active" ]]; }
swarm_node_ready() {
    [[ "$(timeout 10 docker node ls --format '{{.Status}} {{.Availability}}' 2> /dev/null)" == "Ready Active" ]]
}

cmd_install() { apt_install_if_missing docker.io; }

# The busybox binary comes from Debian's busybox-static package, unpacked into the cache rather than
# installed, so it never conflicts with a `busybox` package on the machine.
busybox_binary() {
    local dir="$CC_CACHE_DIR/docker/busybox-static"
    if [[ ! -x "$dir/root/bin/busybox" ]]; then
        mkdir -p "$dir"
        apt_update_once
        rm -f "$dir"/*.deb
        (cd "$dir" && apt-get download -q busybox-static > "$dir/download.log" 2>&1) \
            || die "apt-get download busybox-static failed; log: $dir/download.log"
        rm -rf "$dir/root"
        dpkg-deb -x "$dir"/busybox-static_*.deb "$dir/root"
    fi
    echo "$dir/root/bin/busybox"
}

build_smoke_image() {
    if timeout 10 docker image inspect "$SMOKE_IMAGE" > /dev/null 2>&1; then
        return 0
    fi
    local busybox rootfs
    busybox="$(busybox_binary)"
    rootfs="$(mktemp -d)"
    mkdir -p "$rootfs/bin" "$rootfs/tmp"
    cp "$busybox" "$rootfs/bin/busybox"
    local applet
    for applet in sh echo true false sleep cat ls env; do ln -s busybox "$rootfs/bin/$applet"; done
    tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' - "$SMOKE_IMAGE" \
        > /dev/null || die "docker import of $SMOKE_IMAGE failed"
    rm -rf "$rootfs"
    log "built image $SMOKE_IMAGE from Debian's busybox-static"
}

# After dockerd dies (CI ends every process a session left), its containerd may live on, or its pid file may
# name a pid since reused: dockerd would then wait for that "still running" containerd and give up. A
# containerd of ours (its command line names our exec root) is stopped; any other pid file is stale.
clean_stale_containerd() {
    local pid_file="$STATE_DIR/exec/containerd/containerd.pid" pid start=$SECONDS
    [[ -f "$pid_file" ]] || return 0
    pid="$(cat "$pid_file" 2> /dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] \
        && tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -qF "$STATE_DIR/exec/containerd"; then
        log "stopping containerd left by a dead dockerd (pid $pid)"
        kill -TERM "$pid" 2> /dev/null || true
        while [[ -n "$(tr -d '\0' < "/proc/$pid/cmdline" 2> /dev/null)" ]]; do
            if ((SECONDS - start >= 15)); then
                kill -KILL "$pid" 2> /dev/null || true
                break
            fi
            sleep 0.2
        done
    fi
    rm -f "$pid_file"
}

cmd_start() {
    cmd_install
    if docker_up; then
        log "dockerd already answering on $CC_TEST_DOCKER_HOST"
    else
        mkdir -p "$STATE_DIR"
        # If a previous dockerd died uncleanly its pid file blocks a restart.
        pid_alive "$PID_FILE" || rm -f "$PID_FILE" /var/run/docker.pid
        clean_stale_containerd
        start_background "$PID_FILE" "$LOG_FILE" dockerd --host="$CC_TEST_DOCKER_HOST" \
            --data-root="$STATE_DIR/data" --exec-root="$STATE_DIR/exec" --pidfile=/var/run/docker.pid
        WAIT_PID_FILES="$PID_FILE" wait_for "dockerd ($SOCKET)" 90 "$LOG_FILE" docker_up
    fi
    if ! swarm_active; then
        log "docker swarm init --advertise-addr 127.0.0.1"
        timeout 60 docker swarm init --advertise-addr 127.0.0.1 >> "$LOG_FILE" 2>&1 \
            || die "docker swarm init failed; log: $LOG_FILE"
    fi
    wait_for "swarm node Ready" 60 "$LOG_FILE" swarm_node_ready
    build_smoke_image
}

cmd_stop() {
    if pid_alive "$PID_FILE"; then
        # The swarm state stays in the data root: the next start rejoins the same single-node swarm.
        stop_pid_file dockerd "$PID_FILE" 60
    else
        log "dockerd not started by this harness (no live $PID_FILE): left alone"
    fi
}

cmd_status() {
    local server
    server="$(timeout 10 docker version --format '{{.Server.Version}}' 2> /dev/null || true)"
    if [[ -n "$server" ]]; then
        echo "docker ${server} (docker.io $(package_version docker.io)) ${CC_TEST_DOCKER_HOST} swarm=$(swarm_state) up"
    else
        echo "docker (docker.io $(package_version docker.io)) ${CC_TEST_DOCKER_HOST} DOWN"
        return 1
    fi
}

dispatch "$@"

#!/usr/bin/env bash
# Prometheus's promtool from Debian's `prometheus` package. Only the tool is used (`promtool check config`);
# the Prometheus server is never run: apt_install_if_missing keeps the package's service from starting.
# Usage: promtool.sh install | start | stop | status
SERVICE_NAME=promtool
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd_install() { apt_install_if_missing prometheus; }
cmd_start() { cmd_install; }
cmd_stop() { log "nothing to stop: the harness runs no Prometheus server"; }
cmd_status() {
    if command -v promtool > /dev/null 2>&1; then
        echo "promtool $(promtool --version 2>&1 | sed -n 's/^promtool, version \([^ ]*\).*/\1/p') (Debian prometheus $(package_version prometheus)) $(command -v promtool) installed"
    else
        echo "promtool not installed"
        return 1
    fi
}

dispatch "$@"

#!/usr/bin/env bash
# Prometheus's promtool from Debian's `prometheus` package, and Alertmanager's amtool from
# `prometheus-alertmanager`. Only the tools are used (`promtool check config`, `amtool check-config`); no
# server is run: apt_install_if_missing keeps the packages' services from starting.
# Usage: promtool.sh install | start | stop | status
SERVICE_NAME=promtool
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd_install() { apt_install_if_missing prometheus prometheus-alertmanager; }
cmd_start() { cmd_install; }
cmd_stop() { log "nothing to stop: the harness runs no Prometheus server"; }
cmd_status() {
    if command -v promtool > /dev/null 2>&1; then
        echo "promtool $(promtool --version 2>&1 | sed -n 's/^promtool, version \([^ ]*\).*/\1/p') (Debian prometheus $(package_version prometheus)) $(command -v promtool) installed"
        echo "amtool (Debian prometheus-alertmanager $(package_version prometheus-alertmanager)) $(command -v amtool || echo missing)"
    else
        echo "promtool not installed"
        return 1
    fi
}

dispatch "$@"

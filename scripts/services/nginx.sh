#!/usr/bin/env bash
# NGINX from Debian. Tests only run `nginx -t -c <file>` on generated configs, so nothing is started: the
# package's own service is kept from starting by apt_install_if_missing.
# Usage: nginx.sh install | start | stop | status
SERVICE_NAME=nginx
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd_install() { apt_install_if_missing nginx; }
cmd_start() { cmd_install; }
cmd_stop() { log "nothing to stop: the harness runs no nginx server"; }
cmd_status() {
    if command -v nginx > /dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]; then
        echo "nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*nginx/||') (Debian $(package_version nginx)) /usr/sbin/nginx installed"
    else
        echo "nginx not installed"
        return 1
    fi
}

dispatch "$@"

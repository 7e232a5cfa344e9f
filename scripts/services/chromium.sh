#!/usr/bin/env bash
# Debian's headless-capable Chromium and its WebDriver, for the browser test of the demo web client
# (tests/tests/browser_demo.rs). Only binaries are installed; no browser runs between tests, each test starts
# its own headless instance with a temporary profile.
# Usage: chromium.sh install | start | stop | status
SERVICE_NAME=chromium
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd_install() { apt_install_if_missing chromium chromium-driver; }
cmd_start() { cmd_install; }
cmd_stop() { log "nothing to stop: each browser test starts and ends its own chromium"; }
cmd_status() {
    if command -v chromium > /dev/null 2>&1; then
        echo "chromium $(package_version chromium) $(command -v chromium) installed (driver: $(command -v chromedriver || echo missing))"
    else
        echo "chromium not installed"
        return 1
    fi
}

dispatch "$@"

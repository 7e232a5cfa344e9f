#!/usr/bin/env bash
# Our own sshd (Debian openssh-server) on $CC_TEST_SSH_HOST:$CC_TEST_SSH_PORT, key-only, root login allowed,
# with everything under $CC_SERVICES_HOME/sshd:
#   ssh_host_ed25519_key(.pub)  a host key generated on first start
#   client_ed25519(.pub)        the client key tests log in with (authorized for root)
#   authorized_keys             root's authorized keys for this instance only
#   known_hosts                 `[127.0.0.1]:2222 <host key>`, for strict host key checking in tests
#   sshd_config, sshd.log
# Usage: sshd.sh install | start | stop | status
SERVICE_NAME=sshd
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE_DIR="$CC_SERVICES_HOME/sshd"
PID_FILE="$STATE_DIR/sshd.pid"
LOG_FILE="$STATE_DIR/sshd.log"
CONFIG="$STATE_DIR/sshd_config"
HOST="$CC_TEST_SSH_HOST"
PORT="$CC_TEST_SSH_PORT"

cmd_install() { apt_install_if_missing openssh-server openssh-client; }

generate_keys() {
    mkdir -p "$STATE_DIR"
    chmod 700 "$STATE_DIR"
    [[ -f "$STATE_DIR/ssh_host_ed25519_key" ]] \
        || ssh-keygen -q -t ed25519 -N '' -C "ccplatform-test-host" -f "$STATE_DIR/ssh_host_ed25519_key"
    [[ -f "$STATE_DIR/client_ed25519" ]] \
        || ssh-keygen -q -t ed25519 -N '' -C "ccplatform-test-client" -f "$STATE_DIR/client_ed25519"
    cp "$STATE_DIR/client_ed25519.pub" "$STATE_DIR/authorized_keys"
    chmod 600 "$STATE_DIR/authorized_keys" "$STATE_DIR/client_ed25519" "$STATE_DIR/ssh_host_ed25519_key"
    local key_type key_body
    read -r key_type key_body _ < "$STATE_DIR/ssh_host_ed25519_key.pub"
    printf '[%s]:%s %s %s\n' "$HOST" "$PORT" "$key_type" "$key_body" > "$STATE_DIR/known_hosts"
}

write_config() {
    # StrictModes off: the state lives under /var/tmp, whose sticky world-writable mode sshd would reject.
    # UsePAM off: no PAM session (loginuid and friends fail in containers); key-only anyway.
    cat > "$CONFIG" <<- CONFIG
		Port $PORT
		ListenAddress $HOST
		HostKey $STATE_DIR/ssh_host_ed25519_key
		PidFile $STATE_DIR/sshd.pid.own
		AuthorizedKeysFile $STATE_DIR/authorized_keys
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		PermitRootLogin prohibit-password
		UsePAM no
		StrictModes no
		PrintMotd no
		# Tests open many multiplexed sessions and connections at once.
		MaxSessions 100
		MaxStartups 100:30:200
		AcceptEnv LANG LC_*
		Subsystem sftp internal-sftp
		LogLevel VERBOSE
	CONFIG
}

# A real login with the test key and strict host key checking, exactly as the tests do it.
login_works() {
    ssh -F /dev/null -i "$STATE_DIR/client_ed25519" -p "$PORT" \
        -o UserKnownHostsFile="$STATE_DIR/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes \
        -o ConnectTimeout=3 -o IdentitiesOnly=yes "root@$HOST" true
}

cmd_start() {
    cmd_install
    generate_keys
    write_config
    if pid_alive "$PID_FILE" && login_works > /dev/null 2>&1; then
        log "sshd on $HOST:$PORT already running"
        return 0
    fi
    pid_alive "$PID_FILE" && stop_pid_file sshd "$PID_FILE" 10
    # Privilege separation directory, normally made by the init script we do not run.
    mkdir -p /run/sshd
    chmod 755 /run/sshd
    /usr/sbin/sshd -t -f "$CONFIG" >> "$LOG_FILE" 2>&1 || die "sshd config test failed; log: $LOG_FILE"
    start_background "$PID_FILE" "$LOG_FILE" /usr/sbin/sshd -D -e -f "$CONFIG"
    WAIT_PID_FILES="$PID_FILE" wait_for "sshd on $HOST:$PORT (key login)" 30 "$LOG_FILE" login_works
}

cmd_stop() { stop_pid_file sshd "$PID_FILE" 10; }

cmd_status() {
    local version
    version="$(ssh -V 2>&1 | sed 's/,.*//')"
    if login_works > /dev/null 2>&1; then
        echo "sshd ${version} (Debian $(package_version openssh-server)) ${HOST}:${PORT} up (keys in ${STATE_DIR})"
    else
        echo "sshd ${version} ${HOST}:${PORT} DOWN"
        return 1
    fi
}

dispatch "$@"

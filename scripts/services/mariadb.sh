#!/usr/bin/env bash
# MariaDB from Debian, the MySQL-protocol database standing in for TiDB in tests ($CC_TEST_MYSQL_URL).
# Our own datadir under $CC_SERVICES_HOME; the system's instance is never touched.
# User `cc` may do anything on `cc_test` and create (and drop) other databases: tests make per-test ones.
# Usage: mariadb.sh install | start | stop | status
SERVICE_NAME=mariadb
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE_DIR="$CC_SERVICES_HOME/mariadb"
DATA_DIR="$STATE_DIR/data"
SOCKET="$STATE_DIR/mariadbd.sock"
PID_FILE="$STATE_DIR/mariadbd.pid"
LOG_FILE="$STATE_DIR/mariadbd.log"
PORT="$(url_port "$CC_TEST_MYSQL_URL")"
# mysql://user:password@host:port/database
url_rest="${CC_TEST_MYSQL_URL#*://}"
DB_USER="${url_rest%%:*}"
url_rest="${url_rest#*:}"
DB_PASSWORD="${url_rest%%@*}"
DB_NAME="${CC_TEST_MYSQL_URL##*/}"

root_sql() { mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot --batch --skip-column-names; }
socket_ping() { mariadb-admin --no-defaults --protocol=socket --socket="$SOCKET" -uroot ping; }
# The readiness that matters to tests: the test user logs in over TCP on the test port and sees its database.
tcp_ready() {
    mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$PORT" -u"$DB_USER" -p"$DB_PASSWORD" \
        --connect-timeout=2 -e "SELECT 1" "$DB_NAME"
}

cmd_install() { apt_install_if_missing mariadb-server mariadb-client; }

cmd_start() {
    cmd_install
    if tcp_ready > /dev/null 2>&1; then
        log "mariadb on 127.0.0.1:$PORT already running"
        return 0
    fi
    mkdir -p "$STATE_DIR"
    if [[ ! -d "$DATA_DIR/mysql" ]]; then
        log "initialising $DATA_DIR"
        rm -rf "$DATA_DIR"
        mariadb-install-db --no-defaults --user=root --datadir="$DATA_DIR" \
            --auth-root-authentication-method=socket --skip-test-db >> "$LOG_FILE" 2>&1 \
            || die "mariadb-install-db failed; log: $LOG_FILE"
    fi
    if ! pid_alive "$PID_FILE"; then
        # Small buffers: a test database on a shared 2-core machine. No binlog: nothing replicates from it.
        start_background "$PID_FILE" "$LOG_FILE" \
            mariadbd --no-defaults --user=root --datadir="$DATA_DIR" --socket="$SOCKET" \
            --bind-address=127.0.0.1 --port="$PORT" --skip-log-bin --skip-name-resolve \
            --innodb-buffer-pool-size=128M --innodb-log-file-size=48M --max-connections=500 \
            --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci
    fi
    wait_for "mariadb socket" 60 "$LOG_FILE" socket_ping
    # Idempotent: safe on every start, and repairs a datadir whose user was dropped by hand.
    root_sql <<- SQL || die "creating user $DB_USER failed; log: $LOG_FILE"
		CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`;
		CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
		CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
		ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
		ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
		GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1';
		GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost';
		FLUSH PRIVILEGES;
	SQL
    wait_for "mariadb on 127.0.0.1:$PORT (user $DB_USER)" 30 "$LOG_FILE" tcp_ready
}

cmd_stop() { stop_pid_file "mariadb" "$PID_FILE" 60; }

cmd_status() {
    local version
    version="$(package_version mariadb-server)"
    if tcp_ready > /dev/null 2>&1; then
        echo "mariadb ${version} 127.0.0.1:${PORT} (user ${DB_USER}, database ${DB_NAME}) up"
    else
        echo "mariadb ${version} 127.0.0.1:${PORT} DOWN"
        return 1
    fi
}

dispatch "$@"

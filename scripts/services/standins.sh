#!/usr/bin/env bash
# Stand-in images for the third-party services of the rendered stack, built from what this machine has
# (no image can be pulled here): each is `docker import`ed from a tarball of Debian binaries, the exact
# libraries `ldd` lists, Debian's static busybox (the `sh`, `cat`, `grep`, `wget`, `nc` the rendered
# commands and health checks use) and a few tiny shell helpers where the rendered stack calls a tool the
# stand-in lacks (`curl`, `install`, `nc -z`, `mongosh`, the TiDB and Kafka entry points).
#
#   redis   Debian redis-server + redis-cli              (stack image redis:*)
#   nginx   Debian nginx, its temp/log directories        (stack image nginx:*)
#   tidb    Debian MariaDB in TiDB's place: port and status port from the rendered tidb.toml,
#           an empty root password at first start as TiDB has; `ccctl deploy` sets the passwords
#   kafka   the Kafka jars the harness resolved from Maven + this machine's JDK 17 (large: ~350 MB)
#   mongo   the FerretDB binary the harness built (SQLite backend), started from the rendered mongod.conf
#
# Tags are derived from the image's content (`cc-standin-<name>:<16 hex>`): an image already present is
# skipped, a changed binary or helper makes a new tag. `build` writes the override map that
# `ccctl deploy --image-override @FILE` reads to $CC_SERVICES_HOME/standins/overrides.txt.
# Usage: standins.sh build | status | overrides
SERVICE_NAME=standins
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# A failure inside `$(build_one …)` must stop the script too.
shopt -s inherit_errexit

STATE_DIR="$CC_SERVICES_HOME/standins"
OVERRIDES="$STATE_DIR/overrides.txt"
# Bump when the layout of the images changes without a change of their inputs.
LAYOUT=1
export DOCKER_HOST="$CC_TEST_DOCKER_HOST"
NAMES=(redis nginx tidb kafka mongo)
KAFKA_LIBS="$CC_CACHE_DIR/kafka/${CC_KAFKA_VERSION:-4.4.0}/libs"
FERRETDB_BINARY="$CC_CACHE_DIR/ferretdb/v1.24.2/ferretdb"
JDK_DIR=/usr/lib/jvm/java-17-openjdk-amd64

busybox_binary() {
    local binary="$CC_CACHE_DIR/docker/busybox-static/root/bin/busybox"
    [[ -x "$binary" ]] || "$SERVICES_SCRIPT_DIR/docker.sh" install > /dev/null
    [[ -x "$binary" ]] || die "$binary missing: run scripts/services/docker.sh start (it unpacks busybox-static)"
    echo "$binary"
}

# copy_with_libs <rootfs> <file...>: each file at its own path (symbolic links resolved) plus every library
# and the loader `ldd` lists for it.
copy_with_libs() {
    local rootfs="$1" file library
    shift
    for file in "$@"; do
        mkdir -p "$rootfs$(dirname "$file")"
        cp -L "$file" "$rootfs$file"
        if [[ -z "${ALLOW_NOT_FOUND:-}" ]] && ldd "$file" 2> /dev/null | grep -q 'not found'; then
            die "ldd $file: $(ldd "$file" | grep 'not found' | tr -s ' \t' ' ')"
        fi
        while read -r library; do
            [[ -e "$rootfs$library" ]] && continue
            mkdir -p "$rootfs$(dirname "$library")"
            cp -L "$library" "$rootfs$library"
        done < <(ldd "$file" 2> /dev/null | grep -oE '/[^ ]+' || true)
    done
}

# The common base: busybox with its applets in /bin, /etc/passwd and /etc/group, /tmp, and the helpers.
base_rootfs() {
    local rootfs="$1" busybox applet
    busybox="$(busybox_binary)"
    mkdir -p "$rootfs/bin" "$rootfs/usr/bin" "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/run" \
        "$rootfs/var/run" "$rootfs/data"
    mkdir -p -m 1777 "$rootfs/tmp"
    cp "$busybox" "$rootfs/bin/busybox"
    for applet in $("$busybox" --list); do
        [[ "$applet" == busybox || "$applet" == sh ]] || ln -sf busybox "$rootfs/bin/$applet"
    done
    # `sh` is Debian's dash, not busybox's ash: ash runs its own applets before anything on PATH, which
    # would hide the helpers below (`nc -z`).
    copy_with_libs "$rootfs" /bin/dash
    ln -sf dash "$rootfs/bin/sh"
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
        'www-data:x:33:33:www-data:/var/www:/bin/false' 'mysql:x:999:999:mysql:/var/lib/mysql:/bin/false' \
        > "$rootfs/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' 'www-data:x:33:' 'mysql:x:999:' > "$rootfs/etc/group"
    printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
    # `install -m MODE -o UID -g GID SRC DST` (busybox has no install applet; the mongo command uses it).
    cat > "$rootfs/usr/local/bin/install" <<- 'SH'
		#!/bin/sh
		mode= owner= group=
		while [ $# -gt 2 ]; do
		    case "$1" in
		        -m) mode="$2"; shift 2 ;;
		        -o) owner="$2"; shift 2 ;;
		        -g) group="$2"; shift 2 ;;
		        *) break ;;
		    esac
		done
		cp "$1" "$2" || exit 1
		[ -n "$mode" ] && chmod "$mode" "$2"
		[ -n "$owner$group" ] && chown "${owner:-0}:${group:-0}" "$2"
		exit 0
	SH
    # `nc -z HOST PORT`: connect and close (busybox nc has no -z).
    cat > "$rootfs/usr/local/bin/nc" <<- 'SH'
		#!/bin/sh
		if [ "$1" = -z ]; then
		    shift
		    exec /bin/busybox nc -w 2 "$1" "$2" < /dev/null > /dev/null
		fi
		exec /bin/busybox nc "$@"
	SH
    # `curl -fsS URL`: fetch, fail on an HTTP error (the health checks only need that much).
    cat > "$rootfs/usr/local/bin/curl" <<- 'SH'
		#!/bin/sh
		url=
		for argument in "$@"; do
		    case "$argument" in -*) ;; *) url="$argument" ;; esac
		done
		exec /bin/busybox timeout 4 /bin/busybox wget -q -O /dev/null "$url"
	SH
    chmod 755 "$rootfs"/usr/local/bin/*
}

rootfs_redis() {
    local rootfs="$1"
    copy_with_libs "$rootfs" /usr/bin/redis-cli
    mkdir -p "$rootfs/usr/bin" "$rootfs/usr/local/etc/redis"
    # Debian's redis-server is a link to the multi-call redis-check-rdb; the name selects the server.
    copy_with_libs "$rootfs" "$(readlink -f /usr/bin/redis-server)"
    mv "$rootfs$(readlink -f /usr/bin/redis-server)" "$rootfs/usr/bin/redis-server"
    echo 'CMD ["redis-server"]'
}

rootfs_nginx() {
    local rootfs="$1" directory
    copy_with_libs "$rootfs" /usr/sbin/nginx
    for directory in body fastcgi proxy scgi uwsgi; do mkdir -p "$rootfs/var/lib/nginx/$directory"; done
    mkdir -p "$rootfs/var/log/nginx" "$rootfs/etc/nginx" "$rootfs/usr/share/nginx" "$rootfs/var/lock"
    cp /etc/nginx/mime.types "$rootfs/etc/nginx/mime.types"
    echo 'CMD ["nginx","-g","daemon off;"]'
}

rootfs_tidb() {
    local rootfs="$1" seed
    copy_with_libs "$rootfs" /usr/sbin/mariadbd /usr/bin/mariadb-admin
    # Character sets and English messages, from wherever this MariaDB keeps them (Debian: /usr/share/mysql).
    local share
    for share in /usr/share/mariadb /usr/share/mysql; do
        [[ -d "$share/charsets" ]] && break
    done
    [[ -d "$share/charsets" ]] || die "MariaDB's charsets directory not found (mariadb-server-core installed?)"
    mkdir -p "$rootfs/usr/share/mariadb/english"
    cp -r "$share/charsets" "$rootfs/usr/share/mariadb/"
    cp "$share/english/errmsg.sys" "$rootfs/usr/share/mariadb/english/"
    # The system tables, made once per MariaDB version and kept (mariadb-install-db is a script with many
    # tools behind it, and a fresh datadir differs byte for byte: the image's content tag must not).
    seed="$STATE_DIR/mariadb-seed-$(mariadbd --version | awk '{print $3}')"
    if [[ ! -d "$seed/data/mysql" ]]; then
        rm -rf "$seed" && mkdir -p "$seed"
        mariadb-install-db --no-defaults --user=root --datadir="$seed/data" \
            --auth-root-authentication-method=normal --skip-test-db > "$seed/install.log" 2>&1 || {
            tail -n 20 "$seed/install.log" >&2
            die "mariadb-install-db failed"
        }
    fi
    mkdir -p "$rootfs/var/lib"
    cp -a "$seed/data" "$rootfs/var/lib/mysql-seed"
    # TiDB's entry point: `/tidb-server --config=FILE ...`. Port and status port come from the rendered
    # tidb.toml; `root` may connect from anywhere with an empty password until `ccctl deploy` sets it (as a
    # fresh TiDB); the status port answers once the server accepts connections.
    cat > "$rootfs/tidb-server" <<- 'SH'
		#!/bin/sh
		config=
		for argument in "$@"; do
		    case "$argument" in --config=*) config="${argument#--config=}" ;; esac
		done
		value() { sed -n "s/^$1 *= *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" "$config" | head -n 1; }
		port="$(value port)"; port="${port:-4000}"
		status_port="$(value status-port)"; status_port="${status_port:-10080}"
		[ -d /var/lib/mysql/mysql ] || cp -a /var/lib/mysql-seed/. /var/lib/mysql/
		cat > /tmp/init.sql <<- SQL
			CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '';
			GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
		SQL
		mkdir -p /tmp/status && echo ok > /tmp/status/status
		(
		    until mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$port" -u root --connect-timeout=2 ping \
		        > /dev/null 2>&1 || mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$port" -u root \
		        --connect-timeout=2 ping 2>&1 | grep -q 'Access denied'; do
		        sleep 1
		    done
		    exec busybox httpd -f -p "$status_port" -h /tmp/status
		) &
		exec mariadbd --no-defaults --user=root --datadir=/var/lib/mysql --port="$port" \
		    --bind-address=0.0.0.0 --socket=/tmp/mysqld.sock --lc-messages-dir=/usr/share/mariadb \
		    --character-sets-dir=/usr/share/mariadb/charsets --skip-name-resolve --init-file=/tmp/init.sql \
		    --max-connections=1000
	SH
    chmod 755 "$rootfs/tidb-server"
    mkdir -p "$rootfs/var/lib/mysql"
    echo 'CMD ["/tidb-server"]'
}

rootfs_kafka() {
    local rootfs="$1" library
    [[ -f "$KAFKA_LIBS/.complete" ]] || "$SERVICES_SCRIPT_DIR/kafka.sh" install
    [[ -x "$JDK_DIR/bin/java" ]] || die "$JDK_DIR missing: apt-get install openjdk-17-jre-headless"
    mkdir -p "$rootfs/opt/kafka/libs" "$rootfs/opt/kafka/bin" "$rootfs/opt/kafka/config" "$rootfs/var/lib/kafka" \
        "$rootfs/usr/lib/jvm"
    cp "$KAFKA_LIBS"/*.jar "$rootfs/opt/kafka/libs/"
    # The JDK with its links resolved (Debian points conf/ and security/ into /etc); a dangling link is skipped.
    cp -rL "$JDK_DIR" "$rootfs/usr/lib/jvm/" 2> /dev/null || true
    [[ -x "$rootfs$JDK_DIR/bin/java" ]] || die "copying $JDK_DIR failed"
    copy_with_libs "$rootfs" "$JDK_DIR/bin/java"
    # The JDK's own libraries find libjvm.so next to them (ldd cannot): only the system ones are copied.
    while read -r library; do
        ALLOW_NOT_FOUND=1 copy_with_libs "$rootfs" "$library"
    done < <(find "$JDK_DIR/lib" -name '*.so' -type f)
    ln -sf "$JDK_DIR/bin/java" "$rootfs/usr/bin/java"
    cat > "$rootfs/opt/kafka/config/log4j2.properties" <<- 'PROPERTIES'
		status = warn
		appender.console.type = Console
		appender.console.name = STDOUT
		appender.console.layout.type = PatternLayout
		appender.console.layout.pattern = [%d] %p %m (%c)%n
		rootLogger.level = info
		rootLogger.appenderRef.stdout.ref = STDOUT
	PROPERTIES
    # The entry points the rendered command calls, as in the Apache distribution's bin/.
    cat > "$rootfs/opt/kafka/bin/kafka-run-class.sh" <<- 'SH'
		#!/bin/sh
		exec java ${KAFKA_HEAP_OPTS:--Xmx512m} -XX:+UseG1GC -Djava.awt.headless=true \
		    -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties ${KAFKA_OPTS:-} \
		    -cp '/opt/kafka/libs/*' "$@"
	SH
    printf '#!/bin/sh\nKAFKA_HEAP_OPTS=-Xmx256m exec /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool "$@"\n' \
        > "$rootfs/opt/kafka/bin/kafka-storage.sh"
    printf '#!/bin/sh\nexec /opt/kafka/bin/kafka-run-class.sh kafka.Kafka "$@"\n' \
        > "$rootfs/opt/kafka/bin/kafka-server-start.sh"
    printf '#!/bin/sh\nKAFKA_HEAP_OPTS=-Xmx256m KAFKA_OPTS= exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.TopicCommand "$@"\n' \
        > "$rootfs/opt/kafka/bin/kafka-topics.sh"
    chmod 755 "$rootfs"/opt/kafka/bin/*
    echo 'CMD ["/opt/kafka/bin/kafka-server-start.sh","/etc/kafka/server.properties"]'
}

rootfs_mongo() {
    local rootfs="$1"
    [[ -x "$FERRETDB_BINARY" ]] || "$SERVICES_SCRIPT_DIR/ferretdb.sh" install
    copy_with_libs "$rootfs" "$FERRETDB_BINARY"
    mv "$rootfs$FERRETDB_BINARY" "$rootfs/usr/local/bin/ferretdb"
    mkdir -p "$rootfs/data/db" "$rootfs/etc/mongo"
    # The official image's entry point, `docker-entrypoint.sh mongod --config FILE`: FerretDB on the port
    # and under the dbPath of the rendered mongod.conf. FerretDB has no replica sets and no keyfile.
    cat > "$rootfs/usr/local/bin/docker-entrypoint.sh" <<- 'SH'
		#!/bin/sh
		config=
		while [ $# -gt 0 ]; do
		    case "$1" in --config) config="$2"; shift ;; esac
		    shift
		done
		port=27017 db=/data/db replica_set=
		if [ -n "$config" ]; then
		    port="$(sed -n 's/^ *port: *\([0-9]*\).*/\1/p' "$config" | head -n 1)"
		    db="$(sed -n 's/^ *dbPath: *\([^ ]*\).*/\1/p' "$config" | head -n 1)"
		    replica_set="$(sed -n 's/^ *replSetName: *"\{0,1\}\([^" ]*\)"\{0,1\}.*/\1/p' "$config" | head -n 1)"
		fi
		mkdir -p "${db:-/data/db}/state"
		# Drivers given `replicaSet=` accept only a server that names that set in its `hello`.
		exec ferretdb --handler=sqlite --sqlite-url="file:${db:-/data/db}/" --listen-addr="0.0.0.0:${port:-27017}" \
		    --state-dir="${db:-/data/db}/state" --repl-set-name="$replica_set" --telemetry=disable --log-level=warn
	SH
    # `mongosh --eval 'ping'` of the health check: the server accepts connections.
    printf '#!/bin/sh\nexec /usr/local/bin/nc -z 127.0.0.1 27017\n' > "$rootfs/usr/local/bin/mongosh"
    chmod 755 "$rootfs/usr/local/bin/docker-entrypoint.sh" "$rootfs/usr/local/bin/mongosh"
    echo 'CMD ["docker-entrypoint.sh","mongod"]'
}

# content_tag <rootfs>: 16 hex of the sha256 over every path, link target and file content.
content_tag() {
    local rootfs="$1"
    {
        echo "layout $LAYOUT"
        (cd "$rootfs" && find . -type l -printf 'link %p -> %l\n' | LC_ALL=C sort)
        (cd "$rootfs" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
        (cd "$rootfs" && find . -type d -printf 'dir %p %m\n' | LC_ALL=C sort)
    } | sha256sum | cut -c1-16
}

# build_one <name>: prints `<name>=<reference>`.
build_one() {
    local name="$1" rootfs cmd tag reference
    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/standin-$name.XXXXXX")"
    base_rootfs "$rootfs"
    cmd="$("rootfs_$name" "$rootfs")"
    tag="$(content_tag "$rootfs")"
    reference="cc-standin-$name:$tag"
    if timeout 20 docker image inspect "$reference" > /dev/null 2>&1; then
        log "$reference present"
    else
        log "importing $reference ($(du -sh "$rootfs" | cut -f1))"
        tar --owner=0 --group=0 -C "$rootfs" -c . \
            | docker import --change "$cmd" --change 'ENV PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin' \
                - "$reference" > /dev/null || die "docker import of $reference failed"
    fi
    rm -rf "$rootfs"
    echo "$name=$reference"
}

cmd_build() {
    local only=("$@") name lines=()
    ((${#only[@]} > 0)) || only=("${NAMES[@]}")
    apt_install_if_missing redis-server nginx mariadb-server openjdk-17-jre-headless
    mkdir -p "$STATE_DIR"
    for name in "${only[@]}"; do
        [[ " ${NAMES[*]} " == *" $name "* ]] || die "unknown stand-in $name (known: ${NAMES[*]})"
        lines+=("$(build_one "$name")")
    done
    # The map keeps the stand-ins not rebuilt this time.
    {
        printf '%s\n' "${lines[@]}"
        [[ -f "$OVERRIDES" ]] && grep -v -E "^($(IFS='|'; echo "${only[*]}"))=" "$OVERRIDES" || true
    } | LC_ALL=C sort > "$OVERRIDES.new"
    mv "$OVERRIDES.new" "$OVERRIDES"
    log "override map: $OVERRIDES"
}

cmd_status() {
    local rc=0 line reference
    if [[ ! -f "$OVERRIDES" ]]; then
        echo "stand-in images: not built (scripts/services/standins.sh build)"
        return 1
    fi
    while IFS= read -r line; do
        reference="${line#*=}"
        if timeout 20 docker image inspect "$reference" > /dev/null 2>&1; then
            echo "stand-in ${line%%=*}: $reference"
        else
            echo "stand-in ${line%%=*}: $reference MISSING (standins.sh build)"
            rc=1
        fi
    done < "$OVERRIDES"
    return "$rc"
}

case "${1:-}" in
    build)
        shift
        cmd_build "$@"
        ;;
    status) cmd_status ;;
    overrides) cat "$OVERRIDES" ;;
    *)
        echo "usage: $0 build [NAME...] | status | overrides" >&2
        exit 2
        ;;
esac

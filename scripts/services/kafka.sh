#!/usr/bin/env bash
# Apache Kafka 4.x in KRaft mode, resolved from Maven Central (org.apache.kafka:kafka_2.13 and its runtime
# dependencies, through Maven's dependency plugin) and run with `java -cp`.
#   single:  one combined broker+controller, broker $CC_TEST_KAFKA_BROKERS, controller on broker port + 1.
#   cluster: three combined nodes, brokers $CC_TEST_KAFKA_CLUSTER_BROKERS, a 3-voter controller quorum on
#            each broker port + 1, replication factor 3 and min.insync.replicas 2 by default.
# Usage: kafka.sh install | start [single|cluster|all] | stop [single|cluster|all] | status
SERVICE_NAME=kafka
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION="${CC_KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION=2.24.3
# Pinned: Maven's nearest-wins would otherwise pick a 1.7 slf4j-api that cannot see the log4j binding.
SLF4J_VERSION=2.0.17
LIB_DIR="$CC_CACHE_DIR/kafka/$KAFKA_VERSION/libs"
STATE_DIR="$CC_SERVICES_HOME/kafka"
# Small heap: a test broker on a shared 2-core machine; four of them run at once.
KAFKA_JAVA_OPTS=(-Xms128m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$STATE_DIR/log4j2.properties")

SINGLE_PORT="$(url_port "$CC_TEST_KAFKA_BROKERS")"
CLUSTER_PORTS=()
IFS=',' read -r -a cluster_brokers <<< "$CC_TEST_KAFKA_CLUSTER_BROKERS"
for broker in "${cluster_brokers[@]}"; do CLUSTER_PORTS+=("$(url_port "$broker")"); done

# Command-line tools get a smaller heap: they only send a request or two.
kafka_tool() { java -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$STATE_DIR/log4j2.properties" \
    -cp "$LIB_DIR/*" "$@"; }

libs_present() { [[ -f "$LIB_DIR/.complete" ]]; }

cmd_install() {
    command -v java > /dev/null || apt_install_if_missing default-jre-headless
    command -v mvn > /dev/null || apt_install_if_missing maven
    libs_present && return 0
    local work="$CC_CACHE_DIR/kafka/$KAFKA_VERSION"
    mkdir -p "$work"
    # kafka_2.13 is the broker (kafka.Kafka, kafka.tools.StorageTool); kafka-tools holds the CLI classes the
    # readiness probe uses (TopicCommand); slf4j 2 + log4j-slf4j2-impl make the broker log to our file.
    cat > "$work/pom.xml" <<- POM
		<?xml version="1.0" encoding="UTF-8"?>
		<project xmlns="http://maven.apache.org/POM/4.0.0">
		  <modelVersion>4.0.0</modelVersion>
		  <groupId>ccplatform.services</groupId>
		  <artifactId>kafka-runtime</artifactId>
		  <version>$KAFKA_VERSION</version>
		  <packaging>pom</packaging>
		  <dependencies>
		    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
		    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
		    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$SLF4J_VERSION</version></dependency>
		    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
		    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
		  </dependencies>
		</project>
	POM
    log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime dependencies (Maven)"
    rm -rf "$LIB_DIR"
    mvn -B -q -f "$work/pom.xml" -Dmaven.repo.local="$CC_CACHE_DIR/m2" \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$LIB_DIR" > "$work/mvn.log" 2>&1 \
        || {
            tail -n 30 "$work/mvn.log" >&2
            die "Maven could not resolve Kafka $KAFKA_VERSION; log: $work/mvn.log"
        }
    [[ -f "$LIB_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing in $LIB_DIR"
    touch "$LIB_DIR/.complete"
    log "Kafka $KAFKA_VERSION: $(find "$LIB_DIR" -name '*.jar' | wc -l) jars in $LIB_DIR"
}

write_log4j_config() {
    mkdir -p "$STATE_DIR"
    cat > "$STATE_DIR/log4j2.properties" <<- 'LOG4J'
		rootLogger.level = INFO
		rootLogger.appenderRef.stdout.ref = STDOUT
		appender.stdout.type = Console
		appender.stdout.name = STDOUT
		appender.stdout.layout.type = PatternLayout
		appender.stdout.layout.pattern = [%d] %p %m (%c)%n
		logger.kafka.name = org.apache.kafka
		logger.kafka.level = WARN
		logger.state.name = state.change.logger
		logger.state.level = WARN
		logger.server.name = kafka.server.KafkaRaftServer
		logger.server.level = INFO
	LOG4J
}

# node_config <name> <node id> <broker port> <voters> <replication factor> <min isr>
node_config() {
    local name="$1" node_id="$2" port="$3" voters="$4" replication="$5" min_isr="$6"
    local dir="$STATE_DIR/$name"
    mkdir -p "$dir"
    cat > "$dir/server.properties" <<- PROPERTIES
		process.roles=broker,controller
		node.id=$node_id
		controller.quorum.voters=$voters
		listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1))
		advertised.listeners=PLAINTEXT://127.0.0.1:$port
		controller.listener.names=CONTROLLER
		inter.broker.listener.name=PLAINTEXT
		listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
		log.dirs=$dir/data
		num.partitions=3
		default.replication.factor=$replication
		min.insync.replicas=$min_isr
		offsets.topic.replication.factor=$replication
		offsets.topic.num.partitions=10
		transaction.state.log.replication.factor=$replication
		transaction.state.log.min.isr=$min_isr
		transaction.state.log.num.partitions=10
		share.coordinator.state.topic.replication.factor=$replication
		share.coordinator.state.topic.min.isr=$min_isr
		unclean.leader.election.enable=false
		auto.create.topics.enable=true
		# Tests create consumer groups constantly: no initial rebalance delay.
		group.initial.rebalance.delay.ms=0
		num.network.threads=2
		num.io.threads=4
		background.threads=4
		log.retention.hours=24
		log.segment.bytes=16777216
	PROPERTIES
    echo "$dir/server.properties"
}

# Formats a node's storage once (meta.properties present = formatted). All nodes of a cluster share one id.
format_storage() {
    local config="$1" cluster_id="$2" dir
    dir="$(dirname "$config")"
    [[ -f "$dir/data/meta.properties" ]] && return 0
    kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$config" --ignore-formatted \
        >> "$dir/kafka.log" 2>&1 || die "formatting $dir/data failed; log: $dir/kafka.log"
}

cluster_id_for() {
    local file="$STATE_DIR/$1.cluster-id"
    if [[ ! -s "$file" ]]; then
        mkdir -p "$STATE_DIR"
        kafka_tool kafka.tools.StorageTool random-uuid 2> /dev/null | tail -n 1 > "$file"
    fi
    cat "$file"
}

start_node() {
    local name="$1" config="$2" dir
    dir="$(dirname "$config")"
    if pid_alive "$dir/kafka.pid"; then
        log "kafka $name already running (pid $(cat "$dir/kafka.pid"))"
        return 0
    fi
    start_background "$dir/kafka.pid" "$dir/kafka.log" java "${KAFKA_JAVA_OPTS[@]}" -cp "$LIB_DIR/*" kafka.Kafka "$config"
}

# A real request through Kafka's own admin client: list topics (single) or create-if-missing a topic of
# replication factor 3 (cluster, which succeeds only once all three brokers have registered).
single_ready() {
    port_open "$SINGLE_PORT" || return 1
    timeout 30 bash -c "$(declare -f kafka_tool); LIB_DIR='$LIB_DIR' STATE_DIR='$STATE_DIR' \
        kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:$SINGLE_PORT --list"
}
cluster_ready() {
    local port
    for port in "${CLUSTER_PORTS[@]}"; do port_open "$port" || return 1; done
    timeout 40 bash -c "$(declare -f kafka_tool); LIB_DIR='$LIB_DIR' STATE_DIR='$STATE_DIR' \
        kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server '$CC_TEST_KAFKA_CLUSTER_BROKERS' \
        --create --if-not-exists --topic cc-harness-ready --partitions 1 --replication-factor 3"
}

start_single() {
    local config
    config="$(node_config single 1 "$SINGLE_PORT" "1@127.0.0.1:$((SINGLE_PORT + 1))" 1 1)"
    format_storage "$config" "$(cluster_id_for single)"
    start_node single "$config"
}

start_cluster() {
    local voters="" index config cluster_id
    for index in "${!CLUSTER_PORTS[@]}"; do
        voters+="${voters:+,}$((index + 1))@127.0.0.1:$((CLUSTER_PORTS[index] + 1))"
    done
    cluster_id="$(cluster_id_for cluster)"
    for index in "${!CLUSTER_PORTS[@]}"; do
        config="$(node_config "cluster-$((index + 1))" "$((index + 1))" "${CLUSTER_PORTS[index]}" "$voters" 3 2)"
        format_storage "$config" "$cluster_id"
        start_node "cluster-$((index + 1))" "$config"
    done
}

cmd_start() {
    cmd_install
    write_log4j_config
    local mode="${1:-all}"
    case "$mode" in
        single | cluster | all) ;;
        *) die "unknown mode '$mode' (single|cluster|all)" ;;
    esac
    # Start every JVM first, then wait: the nodes boot in parallel.
    if [[ "$mode" != cluster ]]; then start_single; fi
    if [[ "$mode" != single ]]; then start_cluster; fi
    if [[ "$mode" != cluster ]]; then
        WAIT_PID_FILES="$STATE_DIR/single/kafka.pid" \
            wait_for "kafka single broker 127.0.0.1:$SINGLE_PORT" 120 "$STATE_DIR/single/kafka.log" single_ready
    fi
    if [[ "$mode" != single ]]; then
        local cluster_pid_files="" index
        for index in "${!CLUSTER_PORTS[@]}"; do cluster_pid_files+=" $STATE_DIR/cluster-$((index + 1))/kafka.pid"; done
        WAIT_PID_FILES="$cluster_pid_files" \
            wait_for "kafka cluster $CC_TEST_KAFKA_CLUSTER_BROKERS" 180 "$STATE_DIR/cluster-1/kafka.log" cluster_ready
    fi
}

cmd_stop() {
    local mode="${1:-all}" index
    if [[ "$mode" != cluster ]]; then stop_pid_file "kafka single" "$STATE_DIR/single/kafka.pid" 60; fi
    if [[ "$mode" != single ]]; then
        # Stop the nodes together. Whatever the order, the last node standing has lost the controller quorum
        # and its controlled shutdown waits forever: it gets a short deadline, then SIGKILL (the test data
        # recovers from the log on the next start).
        for index in "${!CLUSTER_PORTS[@]}"; do
            local pid_file="$STATE_DIR/cluster-$((index + 1))/kafka.pid"
            if pid_alive "$pid_file"; then kill -TERM "$(cat "$pid_file")" 2> /dev/null || true; fi
        done
        for index in "${!CLUSTER_PORTS[@]}"; do
            stop_pid_file "kafka cluster-$((index + 1))" "$STATE_DIR/cluster-$((index + 1))/kafka.pid" 15
        done
    fi
}

cmd_status() {
    local rc=0 index
    if pid_alive "$STATE_DIR/single/kafka.pid" && port_open "$SINGLE_PORT"; then
        echo "kafka ${KAFKA_VERSION} single 127.0.0.1:${SINGLE_PORT} (controller :$((SINGLE_PORT + 1))) up"
    else
        echo "kafka ${KAFKA_VERSION} single 127.0.0.1:${SINGLE_PORT} DOWN"
        rc=1
    fi
    local cluster_up=1
    for index in "${!CLUSTER_PORTS[@]}"; do
        pid_alive "$STATE_DIR/cluster-$((index + 1))/kafka.pid" && port_open "${CLUSTER_PORTS[index]}" || cluster_up=0
    done
    if ((cluster_up)); then
        echo "kafka ${KAFKA_VERSION} cluster ${CC_TEST_KAFKA_CLUSTER_BROKERS} (RF 3, min ISR 2) up"
    else
        echo "kafka ${KAFKA_VERSION} cluster ${CC_TEST_KAFKA_CLUSTER_BROKERS} DOWN"
        rc=1
    fi
    return "$rc"
}

dispatch "$@"

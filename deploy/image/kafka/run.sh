#!/bin/bash
# Writes server.properties from the KAFKA_* environment the way apache/kafka's image does
# (KAFKA_FOO_BAR -> foo.bar, "__" -> "_", "___" -> "-"), formats the storage with
# $CLUSTER_ID, and runs the broker in the foreground as PID 1's only child.
set -euo pipefail
props=/opt/kafka/config/server.properties
: "${CLUSTER_ID:?CLUSTER_ID is required}"
{
    echo "log.dirs=${KAFKA_LOG_DIRS:-/var/lib/kafka/data}"
    while IFS='=' read -r name value; do
        case "$name" in
            KAFKA_HEAP_OPTS|KAFKA_OPTS|KAFKA_JVM_PERFORMANCE_OPTS|KAFKA_LOG_DIRS) continue ;;
            KAFKA_*) ;;
            *) continue ;;
        esac
        key="${name#KAFKA_}"
        key="${key//___/-}"; key="${key//__/@}"; key="${key//_/.}"; key="${key//@/_}"
        echo "${key,,}=$value"
    done < <(env)
} >"$props"
cp="/opt/kafka/libs/*"
java -cp "$cp" kafka.tools.StorageTool format --ignore-formatted \
    --cluster-id "$CLUSTER_ID" --config "$props" >/dev/null
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m} ${KAFKA_OPTS:-} -Djava.awt.headless=true \
    -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties -cp "$cp" kafka.Kafka "$props"

#!/bin/bash
# Entrypoint of the rks-standin/kafka image (scripts/docker-standins.sh), standing in for
# apache/kafka's: every KAFKA_<NAME> variable becomes a line of server.properties (<NAME> lower
# case, '_' -> '.', '__' -> '_', '___' -> '-'), except the JVM options (KAFKA_HEAP_OPTS,
# KAFKA_OPTS, ...); the log dir is formatted once with CLUSTER_ID; then the broker runs in the
# foreground with the Kafka jars in /opt/kafka/libs.
set -euo pipefail
conf=/opt/kafka/config
mkdir -p "$conf"
props=$conf/server.properties
: >"$props"
for name in $(compgen -e | sort); do
  case "$name" in
    KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_LOG4J_OPTS | KAFKA_GC_LOG_OPTS | KAFKA_JMX_OPTS) continue ;;
    KAFKA_*) ;;
    *) continue ;;
  esac
  key=${name#KAFKA_}
  key=${key,,}
  key=${key//___/$'\x01'}
  key=${key//__/$'\x02'}
  key=${key//_/.}
  key=${key//$'\x01'/-}
  key=${key//$'\x02'/_}
  printf '%s=%s\n' "$key" "${!name}" >>"$props"
done
grep -q '^log.dirs=' "$props" || echo 'log.dirs=/var/lib/kafka/data' >>"$props"
cat >"$conf/log4j2.properties" <<'LOG'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = STDOUT
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = INFO
LOG
classpath=(-cp '/opt/kafka/libs/*' "-Dlog4j2.configurationFile=$conf/log4j2.properties")
log_dir=$(sed -n 's/^log\.dirs=\([^,]*\).*/\1/p' "$props")
if [ ! -f "$log_dir/meta.properties" ]; then
  : "${CLUSTER_ID:?CLUSTER_ID must be set to format the log dir}"
  java -Xmx256m "${classpath[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$props" --ignore-formatted
fi
# shellcheck disable=SC2086 # the options are lists of flags, as in Kafka's own scripts
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20} \
  ${KAFKA_OPTS:-} "${classpath[@]}" kafka.Kafka "$props"

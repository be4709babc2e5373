#!/bin/bash
# Stand-in for Kafka's bin/kafka-broker-api-versions.sh in the rks-standin/kafka image: exits 0
# when the broker at --bootstrap-server answers an admin request (the jars the sandbox resolves
# have no BrokerApiVersionsCommand, so it asks for the broker configs with ConfigCommand).
set -euo pipefail
bootstrap=localhost:9092
while [ $# -gt 0 ]; do
  case "$1" in
    --bootstrap-server) bootstrap=$2; shift 2 ;;
    *) shift ;;
  esac
done
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
printf 'request.timeout.ms=5000\ndefault.api.timeout.ms=8000\n' >"$cfg"
exec java -Xmx128m -XX:TieredStopAtLevel=1 -cp '/opt/kafka/libs/*' -Dlog4j2.level=ERROR \
  kafka.admin.ConfigCommand --bootstrap-server "$bootstrap" --command-config "$cfg" \
  --describe --entity-type brokers --entity-default

/**
 * The broker's configuration files: server.properties (one KRaft process that is both broker
 * and controller, five client listeners on 127.0.0.1) and log4j2.properties.
 *
 * Both files are regenerated on every start from these constants, so a changed port or user
 * takes effect on the next start; the data dir is never reformatted for it. SCRAM users are the
 * exception: they live in the metadata log, written once by `StorageTool format --add-scram`.
 *
 * Listener names equal their security protocols, so `listener.name.<lowercase>.` prefixes and
 * the protocol map stay obvious; the exception is MTLS, an SSL listener that requires a client
 * certificate (ssl.client.auth=required), beside SSL which only requests one. Static quorum (`controller.quorum.voters`) is used so formatting
 * needs no `--standalone` flag.
 */
import { KAFKA_USERS, KEYSTORE_PASSWORD, STACK_HOST, STACK_PORTS, type KafkaPaths, type TlsPaths } from './paths.js';

const SASL_LISTENERS = ['sasl_plaintext', 'sasl_ssl'] as const;

function saslJaasLines(): string[] {
  const plain =
    'org.apache.kafka.common.security.plain.PlainLoginModule required ' +
    `user_${KAFKA_USERS.plain.username}="${KAFKA_USERS.plain.password}";`;
  const scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  return SASL_LISTENERS.flatMap((listener) => [
    `listener.name.${listener}.plain.sasl.jaas.config=${plain}`,
    `listener.name.${listener}.scram-sha-256.sasl.jaas.config=${scram}`,
    `listener.name.${listener}.scram-sha-512.sasl.jaas.config=${scram}`,
  ]);
}

export function serverProperties(paths: KafkaPaths, tls: TlsPaths): string {
  const p = STACK_PORTS.kafka;
  const h = STACK_HOST;
  const clientListeners = [
    `PLAINTEXT://${h}:${p.plaintext}`,
    `SASL_PLAINTEXT://${h}:${p.saslPlaintext}`,
    `SSL://${h}:${p.ssl}`,
    `SASL_SSL://${h}:${p.saslSsl}`,
    `MTLS://${h}:${p.mtls}`,
  ];
  return [
    "# Written by 'redis-kafka-sync stack up'; regenerated on every start.",
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${h}:${p.controller}`,
    `listeners=${[...clientListeners, `PROXIED://${h}:${p.proxied}`, `CONTROLLER://${h}:${p.controller}`].join(',')}`,
    // 127.0.0.1, not localhost: Node and librdkafka may resolve localhost to ::1 first.
    // PROXIED advertises another port, so a client bootstrapping there keeps every connection
    // on a TCP proxy listening on that port (the chaos suite cuts connections with it).
    `advertised.listeners=${[...clientListeners, `PROXIED://${h}:${p.proxiedAdvertised}`].join(',')}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,' +
      'SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,PROXIED:PLAINTEXT,MTLS:SSL',
    `log.dirs=${paths.dataDir}`,
    // RKS_KAFKA_AUTO_CREATE=false gives a broker that refuses unknown topics (fault tests).
    `auto.create.topics.enable=${process.env['RKS_KAFKA_AUTO_CREATE'] === 'false' ? 'false' : 'true'}`,
    'num.partitions=3',
    // One node: every internal topic must be satisfiable by a single replica.
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'num.network.threads=2',
    'num.io.threads=2',
    // The 128 MiB default would be taken from a 512 MiB heap.
    'log.cleaner.dedupe.buffer.size=33554432',
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    ...saslJaasLines(),
    'ssl.keystore.type=PKCS12',
    `ssl.keystore.location=${tls.brokerKeystore}`,
    `ssl.keystore.password=${KEYSTORE_PASSWORD}`,
    `ssl.key.password=${KEYSTORE_PASSWORD}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${tls.caCert}`,
    // SSL, requested: clients with only the CA and clients with a certificate both work, so a
    // successful connection there proves nothing about client certificates.
    // MTLS, required: the handshake fails without a client certificate that chains to ca.pem.
    // Listener-prefixed because the broker-wide key warns that it ignores SASL_SSL anyway.
    'listener.name.ssl.ssl.client.auth=requested',
    'listener.name.mtls.ssl.client.auth=required',
    '',
  ].join('\n');
}

export function log4jProperties(paths: KafkaPaths): string {
  return [
    "# Written by 'redis-kafka-sync stack up'. WARN and above, plus the 'Kafka Server started' line.",
    'status = warn',
    'name = rks-kafka',
    'appender.file.type = File',
    'appender.file.name = FILE',
    `appender.file.fileName = ${paths.logFile}`,
    'appender.file.layout.type = PatternLayout',
    'appender.file.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = WARN',
    'rootLogger.appenderRef.file.ref = FILE',
    'logger.raftserver.name = kafka.server.KafkaRaftServer',
    'logger.raftserver.level = INFO',
    '',
  ].join('\n');
}

/** `--add-scram` arguments for StorageTool format: the SCRAM users exist from the first start. */
export function scramFormatArgs(): string[] {
  return [KAFKA_USERS.scram256, KAFKA_USERS.scram512].flatMap((user) => [
    '--add-scram',
    `${user.mechanism}=[name=${user.username},password=${user.password}]`,
  ]);
}

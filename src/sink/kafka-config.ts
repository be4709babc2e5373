/**
 * librdkafka configuration of the producer, from the service configuration. Safety first:
 * acks=all, idempotence (ordered, no duplicates from internal retries), and by default no
 * message timeout, so librdkafka keeps retrying through an outage rather than failing messages.
 */
import type { Config } from '../config/config.js';

export type KafkaSettings = Record<string, string | number | boolean>;

export function securitySettings(k: Config['kafka']): KafkaSettings {
  const s: KafkaSettings = { 'security.protocol': k.securityProtocol.toLowerCase() };
  if (k.securityProtocol.startsWith('SASL_')) {
    s['sasl.mechanisms'] = k.saslMechanism;
    s['sasl.username'] = k.saslUsername;
    s['sasl.password'] = k.saslPassword;
  }
  if (k.securityProtocol === 'SSL' || k.securityProtocol === 'SASL_SSL') {
    s['enable.ssl.certificate.verification'] = true;
    s['ssl.endpoint.identification.algorithm'] = 'https';
    if (k.sslCaLocation) s['ssl.ca.location'] = k.sslCaLocation;
    if (k.sslCertificateLocation) s['ssl.certificate.location'] = k.sslCertificateLocation;
    if (k.sslKeyLocation) s['ssl.key.location'] = k.sslKeyLocation;
    if (k.sslKeyPassword) s['ssl.key.password'] = k.sslKeyPassword;
  }
  return s;
}

export function producerSettings(k: Config['kafka']): KafkaSettings {
  return {
    'bootstrap.servers': k.bootstrapServers,
    'client.id': k.clientId,
    ...securitySettings(k),
    'enable.idempotence': true,
    acks: 'all',
    'max.in.flight.requests.per.connection': 5,
    'compression.codec': k.compression,
    'linger.ms': k.lingerMs,
    'batch.size': 1_000_000,
    'message.max.bytes': k.maxRequestSizeBytes,
    'message.timeout.ms': k.messageTimeoutMs,
    'queue.buffering.max.messages': 2_000_000,
    'queue.buffering.max.kbytes': Math.max(1024, Math.ceil((k.maxInFlightBytes * 2) / 1024)),
    'retry.backoff.ms': 100,
    'retry.backoff.max.ms': 2000,
    'reconnect.backoff.max.ms': 5000,
    'socket.keepalive.enable': true,
    // Nagle holds a small produce request back while an earlier one is unacknowledged: up to a
    // delayed-ACK period (~40 ms) of latency for nothing; batching is linger.ms's job.
    'socket.nagle.disable': true,
    dr_cb: true,
  };
}

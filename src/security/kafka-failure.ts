/**
 * Why a Kafka connection attempt failed, in words an operator can act on.
 *
 * librdkafka's connect error is generic ("broker transport failure", "Local: Broker transport
 * failure") whatever went wrong; the reason is only in its log lines (event.log, severity <= 6):
 * "SSL handshake failed: ... certificate verify failed", "SASL authentication error:
 * Authentication failed ...", "Connect to ... failed: Connection refused". KafkaSink.connectOnce
 * collects those lines while it connects and asks `explainConnectFailure` for the message.
 *
 * Invariant: the message always starts with the endpoint, always keeps librdkafka's own words
 * (in parentheses), and names the variables to check. The most specific cause wins, because a
 * broker that restarts during the attempt adds "Connection refused" lines to a real
 * authentication failure.
 */

interface Cause {
  readonly test: RegExp;
  readonly explain: string;
}

/** Most specific first. */
const CAUSES: readonly Cause[] = [
  {
    test: /certificate verify failed|certificate verification failed|unable to get local issuer|self[- ]signed certificate|broker certificate could not be verified/i,
    explain:
      "TLS certificate verification failed: the broker's certificate is not signed by a CA in KAFKA_SSL_CA_LOCATION (the system CAs when it is empty), or its name does not match the host in KAFKA_BOOTSTRAP_SERVERS",
  },
  {
    test: /alert (certificate unknown|bad certificate|certificate required|unknown ca|certificate expired)|peer did not return a certificate/i,
    explain:
      'the broker rejected the client certificate (a listener that requires mutual TLS also refuses a client that sends none): set KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION to a certificate signed by a CA the broker trusts, not expired',
  },
  {
    test: /SASL authentication error|authentication failed|invalid credentials|invalid username or password/i,
    explain:
      'SASL authentication failed: check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE) and KAFKA_SASL_MECHANISM',
  },
  {
    test: /unsupported sasl mechanism|mechanism handshake failed|sasl mechanism .* not (enabled|supported)/i,
    explain:
      "the listener does not accept KAFKA_SASL_MECHANISM (librdkafka lists the broker's mechanisms; none means the port is not a SASL listener: check KAFKA_SECURITY_PROTOCOL and the port)",
  },
  {
    test: /incorrect security\.protocol|PLAINTEXT broker listener|wrong version number|packet length too long|record layer failure|SSL handshake failed|ssl routines|in state (APIVERSION_QUERY|SSL_HANDSHAKE)/i,
    explain:
      "TLS or protocol mismatch: KAFKA_SECURITY_PROTOCOL probably does not match the broker's listener on this port (SSL/SASL_SSL vs PLAINTEXT/SASL_PLAINTEXT)",
  },
  {
    test: /connection refused|failed to resolve|name or service not known|no route to host|network is unreachable|timed out/i,
    explain: 'the broker cannot be reached: check KAFKA_BOOTSTRAP_SERVERS and that the broker runs',
  },
];

/** "[thrd:ssl://h:p/bootstrap]: ssl://h:p/bootstrap: SSL handshake failed: ..." -> "SSL handshake failed: ..." */
function reasonOf(line: string): string {
  return line
    .replace(/^\[thrd:[^\]]*\]:\s*/, '')
    .replace(/^\S+:\/\/\S+?:\s+/, '')
    .trim();
}

/**
 * The message of a failed connection attempt.
 * @param endpoint  e.g. "Kafka SSL 127.0.0.1:19095"
 * @param error     librdkafka's connect error message
 * @param brokerLog librdkafka log lines (warnings and errors) seen during the attempt, oldest first
 */
export function explainConnectFailure(endpoint: string, error: string, brokerLog: readonly string[]): string {
  for (const cause of CAUSES) {
    const line = [...brokerLog].reverse().find((l) => cause.test.test(l));
    if (line !== undefined) return `${endpoint}: ${cause.explain} (librdkafka: ${reasonOf(line)})`;
  }
  return `${endpoint}: ${error}; check KAFKA_BOOTSTRAP_SERVERS and the security settings`;
}

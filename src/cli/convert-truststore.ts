/**
 * `redis-kafka-sync convert-truststore --in FILE --password PW --out DIR`: a Java trust or key
 * store (JKS, JCEKS, PKCS12) -> ca.pem, client.pem, client.key (see src/security/truststore.ts).
 * Prints one line per file written with the certificate subjects, and the variables to set.
 * Exit codes: 0 converted, 1 the store could not be converted, 2 usage.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { errorMessage } from '../errors.js';
import { convertStore, type StoreType } from '../security/truststore.js';

interface ConvertFlags {
  readonly in: string;
  readonly out: string;
  readonly password?: string;
  readonly passwordFile?: string;
  readonly keyPassword?: string;
  readonly alias?: string;
  readonly type?: StoreType;
}

const VARIABLES: Record<string, string> = {
  ca: 'KAFKA_SSL_CA_LOCATION / SOURCE_REDIS_TLS_CA_LOCATION / TARGET_REDIS_TLS_CA_LOCATION',
  certificate: 'KAFKA_SSL_CERTIFICATE_LOCATION / *_REDIS_TLS_CERTIFICATE_LOCATION',
  key: 'KAFKA_SSL_KEY_LOCATION / *_REDIS_TLS_KEY_LOCATION',
};

export function registerConvertTruststoreCommand(program: Command): void {
  program
    .command('convert-truststore')
    .description('convert a JKS/PKCS12 truststore or keystore to PEM files (ca.pem, client.pem, client.key)')
    .requiredOption('--in <file>', 'the JKS, JCEKS or PKCS12 store')
    .requiredOption('--out <dir>', 'folder for the PEM files (created when missing; existing files are replaced)')
    .option('--password <password>', 'store password')
    .option('--password-file <file>', 'read the store password from a file (e.g. a Docker secret)')
    .option('--key-password <password>', 'password of the private key, when it differs from the store password')
    .option('--alias <alias>', 'convert only this entry (when the store holds several private keys)')
    .addOption(new Option('--type <type>', 'store format (default: detected)').choices(['jks', 'jceks', 'pkcs12']))
    .action(async (flags: ConvertFlags) => {
      const password = passwordOf(flags);
      try {
        const result = await convertStore({
          input: flags.in,
          password,
          outDir: flags.out,
          ...(flags.keyPassword !== undefined ? { keyPassword: flags.keyPassword } : {}),
          ...(flags.alias !== undefined ? { alias: flags.alias } : {}),
          ...(flags.type !== undefined ? { type: flags.type } : {}),
        });
        const legacy = result.legacy ? ' (legacy RC2/3DES encryption: read with openssl -legacy)' : '';
        process.stdout.write(`read ${flags.in} as ${result.type.toUpperCase()}${legacy}\n`);
        for (const f of result.files) {
          const subjects = f.subjects.length > 0 ? `: ${f.subjects.join('; ')}` : '';
          process.stdout.write(`wrote ${f.path}${subjects}\n    use it as ${VARIABLES[f.kind] ?? ''}\n`);
        }
      } catch (err) {
        process.stderr.write(`convert-truststore: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      }
    });
}

function passwordOf(flags: ConvertFlags): string {
  if ((flags.password === undefined) === (flags.passwordFile === undefined)) {
    usage('pass the store password with exactly one of --password or --password-file');
  }
  if (flags.passwordFile === undefined) return flags.password ?? '';
  try {
    return readFileSync(flags.passwordFile, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    return usage(`--password-file: cannot read ${flags.passwordFile} (${errorMessage(err)})`);
  }
}

function usage(message: string): never {
  process.stderr.write(`convert-truststore: ${message}\n`);
  process.exit(2);
}

/**
 * Java key and trust stores (JKS, JCEKS, PKCS12) -> the PEM files the service reads:
 *   ca.pem      every certificate of the store that has no private key (trusted CAs and the
 *               issuers in a key entry's chain): KAFKA_SSL_CA_LOCATION, *_REDIS_TLS_CA_LOCATION
 *   client.pem  the certificate that belongs to the private key: *_CERTIFICATE_LOCATION
 *   client.key  that private key, unencrypted PKCS#8, mode 0600: *_KEY_LOCATION
 * client.pem and client.key are written only when the store holds a private key.
 *
 * How: JKS/JCEKS (or any store when one alias is picked) go through
 * `keytool -importkeystore` into a PKCS12 file in a private temporary folder; then
 * `openssl pkcs12` splits it (-cacerts / -clcerts / -nocerts). A PKCS12 made with the old
 * RC2/3DES algorithms needs OpenSSL 3's legacy provider: that is detected from openssl's error
 * and the call is repeated with `-legacy`.
 *
 * Invariants:
 * - Programs are spawned with argument arrays, never a shell, and passwords travel in
 *   environment variables (`-storepass:env`, `-passin env:`), never in argument lists that
 *   `ps` shows.
 * - Nothing is written to the output folder unless the whole conversion succeeded and every
 *   certificate parses (and the client certificate matches the key); files appear by rename.
 * - The temporary folder is removed whatever happens.
 */
import { randomBytes, createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PrerequisiteError, SyncError } from '../errors.js';
import { runCommand, type CommandResult } from '../stack/process.js';

/** A store that cannot be converted: the message says what is wrong and what to do. */
export class TruststoreError extends SyncError {
  static override readonly CODE = 'TRUSTSTORE_CONVERSION_FAILED';
}

export type StoreType = 'jks' | 'jceks' | 'pkcs12';

export interface ConvertOptions {
  /** The JKS, JCEKS or PKCS12 file. */
  readonly input: string;
  /** The store password. */
  readonly password: string;
  /** Folder for ca.pem, client.pem, client.key (created when missing; files are replaced). */
  readonly outDir: string;
  /** Password of the private key when it differs from the store password (JKS, JCEKS). */
  readonly keyPassword?: string;
  /** Convert only this entry (needed when the store holds several private keys). */
  readonly alias?: string;
  /** Store format; detected from the file's first bytes when omitted. */
  readonly type?: StoreType;
}

export interface ConvertedFile {
  readonly path: string;
  readonly kind: 'ca' | 'certificate' | 'key';
  /** Subjects of the certificates in the file (empty for the key). */
  readonly subjects: readonly string[];
}

export interface ConvertResult {
  readonly type: StoreType;
  /** True when openssl needed its legacy provider (RC2/3DES-encrypted PKCS12). */
  readonly legacy: boolean;
  readonly files: readonly ConvertedFile[];
}

const PASS_ENV = 'RKS_STORE_PASSWORD';
const KEYPASS_ENV = 'RKS_KEY_PASSWORD';
const TMPPASS_ENV = 'RKS_TMP_PASSWORD';

/** JKS starts with 0xFEEDFEED, JCEKS with 0xCECECECE, PKCS12 is DER (a SEQUENCE, 0x30). */
export function detectStoreType(file: string): StoreType {
  let head: Buffer;
  try {
    head = readFileSync(file).subarray(0, 16);
  } catch (err) {
    throw new TruststoreError(`cannot read ${file}: ${(err as Error).message}; check the --in path`, { cause: err });
  }
  if (head.length >= 4 && head.readUInt32BE(0) === 0xfeedfeed) return 'jks';
  if (head.length >= 4 && head.readUInt32BE(0) === 0xcececece) return 'jceks';
  if (head.length >= 2 && head[0] === 0x30) return 'pkcs12';
  if (head.toString('latin1').startsWith('-----BEGIN')) {
    throw new TruststoreError(`${file} is already PEM: point the *_LOCATION variables at it directly`);
  }
  throw new TruststoreError(`${file} is not a JKS, JCEKS or PKCS12 store (unknown first bytes); pass --type if it is`);
}

export async function convertStore(opts: ConvertOptions): Promise<ConvertResult> {
  if (opts.password === '') throw new TruststoreError('the store password is empty: pass --password');
  const type = opts.type ?? detectStoreType(opts.input);
  const tmp = mkdtempSync(join(tmpdir(), 'rks-truststore-'));
  chmodSync(tmp, 0o700);
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, [PASS_ENV]: opts.password };
    let p12 = resolve(opts.input);
    if (type !== 'pkcs12' || opts.alias !== undefined || opts.keyPassword !== undefined) {
      // keytool wants >= 6 characters for a new store: a random one guards the temporary copy.
      env[TMPPASS_ENV] = randomBytes(18).toString('base64url');
      let alias = opts.alias;
      if (opts.keyPassword !== undefined) {
        env[KEYPASS_ENV] = opts.keyPassword;
        // keytool takes -srckeypass only together with -srcalias: find the one key entry.
        alias ??= await singleKeyAlias(opts.input, type, env);
      }
      p12 = join(tmp, 'store.p12');
      await toPkcs12({ ...opts, ...(alias !== undefined ? { alias } : {}) }, type, p12, env);
      env[PASS_ENV] = env[TMPPASS_ENV];
    }
    const split = await splitPkcs12(p12, opts.input, env);
    const files = checkAndDescribe(split, opts);
    writeOutputs(opts.outDir, split, tmp);
    return { type, legacy: split.legacy, files };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function toPkcs12(opts: ConvertOptions, type: StoreType, dest: string, env: NodeJS.ProcessEnv): Promise<void> {
  const args = [
    '-importkeystore',
    '-noprompt',
    '-srckeystore',
    resolve(opts.input),
    '-srcstoretype',
    type.toUpperCase(),
    `-srcstorepass:env`,
    PASS_ENV,
    '-destkeystore',
    dest,
    '-deststoretype',
    'PKCS12',
    '-deststorepass:env',
    TMPPASS_ENV,
  ];
  if (opts.alias !== undefined) args.push('-srcalias', opts.alias);
  if (opts.keyPassword !== undefined) args.push('-srckeypass:env', KEYPASS_ENV);
  const r = await tool('keytool', args, env, 'a Java runtime (Debian: apt-get install openjdk-17-jre-headless)');
  const out = `${r.stdout}\n${r.stderr}`;
  // keytool exits 0 even when it skipped an entry it could not read (e.g. a wrong key password).
  const failed = /(\d+) entries failed/.exec(out);
  if (r.status === 0 && (failed === null || failed[1] === '0')) return;
  if (/password was incorrect|keystore password was incorrect|tampered/i.test(out)) {
    throw new TruststoreError(`wrong password for ${opts.input}: keytool could not open the store; check --password`);
  }
  if (/Cannot recover key|Get Key failed|UnrecoverableKey|Too many failures|Enter key password/i.test(out)) {
    throw new TruststoreError(
      `cannot read the private key in ${opts.input}: its key password differs from the store password; pass --key-password`,
    );
  }
  if (opts.alias !== undefined && /Alias <[^>]*> does not exist/i.test(out)) {
    throw new TruststoreError(
      `${opts.input} has no entry named "${opts.alias}"; list them with: keytool -list -keystore ${opts.input}`,
    );
  }
  throw new TruststoreError(`keytool could not read ${opts.input} as ${type.toUpperCase()}: ${lastLines(out)}`);
}

/** The alias of the store's only private key entry (keytool -list -v). */
async function singleKeyAlias(input: string, type: StoreType, env: NodeJS.ProcessEnv): Promise<string> {
  const args = [
    '-list',
    '-v',
    '-keystore',
    resolve(input),
    '-storetype',
    type.toUpperCase(),
    '-storepass:env',
    PASS_ENV,
  ];
  const r = await tool('keytool', args, env, 'a Java runtime (Debian: apt-get install openjdk-17-jre-headless)');
  if (r.status !== 0) {
    if (/password was incorrect|tampered|mac/i.test(`${r.stdout}${r.stderr}`)) {
      throw new TruststoreError(`wrong password for ${input}: keytool could not open the store; check --password`);
    }
    throw new TruststoreError(`keytool could not list ${input}: ${lastLines(`${r.stdout}\n${r.stderr}`)}`);
  }
  const aliases: string[] = [];
  let current: string | undefined;
  for (const line of r.stdout.split('\n')) {
    const name = /^Alias name: (.*)$/.exec(line.trim());
    if (name) current = name[1];
    if (/^Entry type: PrivateKeyEntry/.test(line.trim()) && current !== undefined) aliases.push(current);
  }
  const [only, ...others] = aliases;
  if (only === undefined) throw new TruststoreError(`${input} holds no private key, so --key-password does not apply`);
  if (others.length > 0) {
    throw new TruststoreError(
      `${input} holds ${aliases.length} private keys (${aliases.join(', ')}): pick one with --alias`,
    );
  }
  return only;
}

interface Split {
  readonly caCerts: readonly string[];
  readonly clientCerts: readonly string[];
  readonly keys: readonly string[];
  readonly legacy: boolean;
}

async function splitPkcs12(p12: string, input: string, env: NodeJS.ProcessEnv): Promise<Split> {
  let legacy = false;
  const extract = async (selection: readonly string[]): Promise<string[]> => {
    const args = ['pkcs12', '-in', p12, '-passin', `env:${PASS_ENV}`, ...selection];
    let r = await tool(
      'openssl',
      legacy ? [...args, '-legacy'] : args,
      env,
      'openssl (Debian: apt-get install openssl)',
    );
    if (r.status !== 0 && !legacy && needsLegacy(r.stderr)) {
      legacy = true;
      r = await tool('openssl', [...args, '-legacy'], env, 'openssl');
    }
    if (r.status !== 0) {
      if (/mac verify (error|failure)|invalid password/i.test(r.stderr)) {
        throw new TruststoreError(`wrong password for ${input}: the PKCS12 integrity check failed; check --password`);
      }
      if (legacy && needsLegacy(r.stderr)) {
        throw new TruststoreError(
          `${input} uses legacy algorithms (RC2/3DES) and this openssl has no legacy provider: re-export the store with AES, e.g. keytool -importkeystore -deststoretype PKCS12`,
        );
      }
      throw new TruststoreError(`openssl could not read ${input} as PKCS12: ${lastLines(r.stderr)}`);
    }
    return pemBlocks(r.stdout);
  };
  const caCerts = await extract(['-nokeys', '-cacerts']);
  const clientCerts = await extract(['-nokeys', '-clcerts']);
  // -nodes: write the key unencrypted (the service reads it without a password).
  const keys = (await extract(['-nocerts', '-nodes'])).filter((b) => b.includes('PRIVATE KEY'));
  return { caCerts, clientCerts, keys, legacy };
}

function needsLegacy(stderr: string): boolean {
  return /unsupported|RC2-40-CBC|RC2-CBC|DES-EDE3|inner_evp_generic_fetch|legacy/i.test(stderr);
}

/** The PEM blocks of openssl's output, without its "Bag Attributes" text. */
export function pemBlocks(text: string): string[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g)].map((m) => `${m[0]}\n`);
}

function checkAndDescribe(split: Split, opts: ConvertOptions): ConvertedFile[] {
  const subjectsOf = (blocks: readonly string[], what: string): string[] =>
    blocks.map((pem) => {
      try {
        return new X509Certificate(pem).subject.replace(/\n/g, ', ');
      } catch (err) {
        throw new TruststoreError(`a ${what} certificate in ${opts.input} does not parse: ${(err as Error).message}`);
      }
    });
  const out = resolve(opts.outDir);
  const files: ConvertedFile[] = [];
  if (split.keys.length > 1) {
    throw new TruststoreError(
      `${opts.input} holds ${split.keys.length} private keys: pick one with --alias (list them with: keytool -list -keystore ${opts.input})`,
    );
  }
  if (split.caCerts.length === 0 && split.keys.length === 0) {
    throw new TruststoreError(`${opts.input} holds no certificates${opts.alias ? ` under alias "${opts.alias}"` : ''}`);
  }
  if (split.caCerts.length > 0) {
    files.push({ path: join(out, 'ca.pem'), kind: 'ca', subjects: subjectsOf(split.caCerts, 'trusted') });
  }
  const key = split.keys[0];
  if (key !== undefined) {
    const leaf = split.clientCerts[0];
    if (leaf === undefined) {
      throw new TruststoreError(`${opts.input} holds a private key without its certificate; re-create the key entry`);
    }
    const subjects = subjectsOf(split.clientCerts, 'client');
    let matches = false;
    try {
      matches = new X509Certificate(leaf).checkPrivateKey(createPrivateKey(key));
    } catch (err) {
      throw new TruststoreError(`the private key in ${opts.input} does not parse: ${(err as Error).message}`);
    }
    if (!matches) throw new TruststoreError(`the private key in ${opts.input} does not belong to its certificate`);
    files.push({ path: join(out, 'client.pem'), kind: 'certificate', subjects });
    files.push({ path: join(out, 'client.key'), kind: 'key', subjects: [] });
  }
  return files;
}

function writeOutputs(outDir: string, split: Split, tmp: string): void {
  const out = resolve(outDir);
  try {
    mkdirSync(out, { recursive: true });
  } catch (err) {
    throw new TruststoreError(`cannot create ${out}: ${(err as Error).message}; check --out`, { cause: err });
  }
  const staged: [string, string][] = [];
  const stage = (name: string, content: string, mode: number): void => {
    const file = join(tmp, name);
    writeFileSync(file, content, { mode });
    chmodSync(file, mode);
    staged.push([file, join(out, name)]);
  };
  if (split.caCerts.length > 0) stage('ca.pem', split.caCerts.join(''), 0o644);
  if (split.keys.length > 0) {
    stage('client.pem', split.clientCerts.join(''), 0o644);
    stage('client.key', split.keys.join(''), 0o600);
  }
  for (const [from, to] of staged) {
    try {
      renameSync(from, to);
    } catch (err) {
      // Another file system (EXDEV): copy instead; the mode is kept by writeFileSync's option.
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      writeFileSync(to, readFileSync(from), { mode: to.endsWith('.key') ? 0o600 : 0o644 });
      chmodSync(to, to.endsWith('.key') ? 0o600 : 0o644);
    }
  }
}

async function tool(
  command: 'keytool' | 'openssl',
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  install: string,
): Promise<CommandResult> {
  const r = await runCommand(command, args, { env });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new PrerequisiteError(`${command} is not installed or not on PATH: install ${install}`);
    throw new TruststoreError(`could not run ${command}: ${r.error.message}`, { cause: r.error });
  }
  return r;
}

function lastLines(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('Warning:') && !l.includes('proprietary format'));
  return lines.slice(-3).join(' | ') || 'no error output';
}

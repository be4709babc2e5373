/**
 * The Kafka broker's jars, resolved from Maven Central by the committed kafka/pom.xml and
 * copied once into the cache outside the repo (paths.ts kafkaLibsDir).
 *
 * Invariant: the libs folder is usable only when the marker file next to it exists. The
 * marker is written after Maven finished copying; a folder without it (interrupted copy,
 * failed download) is deleted and copied again.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { runCommand } from './process.js';
import { kafkaLibsDir, kafkaLibsMarker, kafkaPomPath, kafkaVersion } from './paths.js';

const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies';

export function hasKafkaJars(): boolean {
  return existsSync(kafkaLibsMarker()) && existsSync(kafkaLibsDir());
}

/** Copy the jars into the cache unless a complete copy is there. Returns true when it copied. */
export async function ensureKafkaJars(log: (line: string) => void): Promise<boolean> {
  if (hasKafkaJars()) return false;
  const libs = kafkaLibsDir();
  const marker = kafkaLibsMarker();
  rmSync(marker, { force: true });
  rmSync(libs, { recursive: true, force: true });
  mkdirSync(dirname(libs), { recursive: true });
  log(`resolving Kafka ${kafkaVersion()} jars with Maven into ${libs} (first run only)`);
  const result = await runCommand('mvn', [
    '-q',
    '-B',
    '-f',
    kafkaPomPath(),
    DEPENDENCY_PLUGIN,
    '-DincludeScope=runtime',
    `-DoutputDirectory=${libs}`,
  ]);
  const jars = existsSync(libs) ? readdirSync(libs).filter((f) => f.endsWith('.jar')) : [];
  const broker = `kafka_2.13-${kafkaVersion()}.jar`;
  if (result.status !== 0 || !jars.includes(broker)) {
    const output = (result.error?.message ?? `${result.stdout}\n${result.stderr}`)
      .trim()
      .split('\n')
      .slice(-15)
      .join('\n');
    throw new Error(
      `Maven could not resolve the Kafka jars from ${kafkaPomPath()} ` +
        `(is Maven Central reachable, or a mirror configured in ~/.m2/settings.xml?):\n${output}`,
    );
  }
  writeFileSync(marker, `${jars.length} jars copied ${new Date().toISOString()}\n`);
  return true;
}

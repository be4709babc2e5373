import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import {
  defaultComposeFile,
  defaultSwarmFile,
  formatCommand,
  registerManageCommand,
  type ManageIo,
} from '../../src/cli/manage.js';
import { repoRoot } from '../../src/stack/paths.js';

interface Captured {
  out: string[];
  err: string[];
  code: number | undefined;
}

/** Runs `redis-kafka-sync manage ...` in process, capturing its output and exit code. */
async function manage(args: string[], env?: NodeJS.ProcessEnv): Promise<Captured> {
  const captured: Captured = { out: [], err: [], code: undefined };
  const io: ManageIo = {
    out: (line) => captured.out.push(line),
    err: (line) => captured.err.push(line),
    exit: (code) => (captured.code = code),
    ...(env !== undefined ? { env } : {}),
  };
  const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined });
  registerManageCommand(program, io);
  await program.parseAsync(['node', 'redis-kafka-sync', 'manage', ...args]);
  return captured;
}

describe('redis-kafka-sync manage', () => {
  const compose = defaultComposeFile();
  const swarm = defaultSwarmFile();

  it('prints the docker compose commands of up, down and status without running them on --dry-run', async () => {
    const up = await manage(['compose', 'up', '--dry-run'], { PATH: '/nonexistent' });
    assert.deepEqual(up.out, [`+ docker compose -f ${compose} -p redis-kafka-sync up -d --build`]);
    assert.equal(up.code, 0, 'nothing ran, so a missing docker does not matter');
    const down = await manage(['compose', 'down', '--volumes', '--dry-run']);
    assert.deepEqual(down.out, [`+ docker compose -f ${compose} -p redis-kafka-sync down --volumes`]);
    const status = await manage([
      'compose',
      'status',
      '--dry-run',
      '-p',
      'edge-1',
      '--compose-command',
      'docker-compose',
    ]);
    assert.deepEqual(status.out, [`+ docker-compose -f ${compose} -p edge-1 ps`]);
  });

  it('passes repeated -f files on in order, to docker compose and to docker stack deploy', async () => {
    const up = await manage(['compose', 'up', '--dry-run', '-f', 'a.yml', '-f', 'b.yml']);
    assert.deepEqual(up.out, ['+ docker compose -f a.yml -f b.yml -p redis-kafka-sync up -d --build']);
    const deploy = await manage(['swarm', 'deploy', '--dry-run', '-f', 'a.yml', '-f', 'b.yml', '--stack-name', 's']);
    assert.deepEqual(deploy.out, [
      '+ docker stack deploy --compose-file a.yml --compose-file b.yml --with-registry-auth s',
    ]);
  });

  it('prints the docker stack commands of deploy, remove and status for the given --stack-name on --dry-run', async () => {
    const deploy = await manage(['swarm', 'deploy', '--stack-name', 'rks-prod', '--dry-run']);
    assert.deepEqual(deploy.out, [`+ docker stack deploy --compose-file ${swarm} --with-registry-auth rks-prod`]);
    const withImage = await manage([
      'swarm',
      'deploy',
      '--stack-name',
      'rks-prod',
      '--image',
      'registry.example:5000/rks:1.2',
      '--dry-run',
    ]);
    assert.deepEqual(withImage.out, [
      `+ RKS_IMAGE=registry.example:5000/rks:1.2 docker stack deploy --compose-file ${swarm} --with-registry-auth rks-prod`,
    ]);
    const remove = await manage(['swarm', 'remove', '--stack-name', 'rks-prod', '--dry-run']);
    assert.deepEqual(remove.out, ['+ docker stack rm rks-prod']);
    const status = await manage(['swarm', 'status', '--stack-name', 'rks-prod', '--dry-run']);
    assert.deepEqual(status.out, ['+ docker stack services rks-prod', '+ docker stack ps rks-prod']);
  });

  it("uses the spec's stack name redis-kafka-sync-stack when --stack-name is not given", async () => {
    const r = await manage(['swarm', 'remove', '--dry-run']);
    assert.deepEqual(r.out, ['+ docker stack rm redis-kafka-sync-stack']);
  });

  it('quotes arguments so a printed command can be pasted into a shell', () => {
    assert.equal(
      formatCommand({ argv: ['docker', 'compose', '-f', "/tmp/my dir/it's.yml", 'ps'], env: { RKS_IMAGE: 'a b' } }),
      `RKS_IMAGE='a b' docker compose -f '/tmp/my dir/it'\\''s.yml' ps`,
    );
  });

  it('is a subcommand of the redis-kafka-sync CLI', () => {
    const cli = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(repoRoot(), 'src', 'cli', 'bin.ts'),
        'manage',
        'swarm',
        'deploy',
        '--stack-name',
        'cli-check',
        '--dry-run',
      ],
      { encoding: 'utf8', cwd: repoRoot() },
    );
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(cli.stdout, `+ docker stack deploy --compose-file ${swarm} --with-registry-auth cli-check\n`);
  });

  it('rejects an unknown action before running anything', async () => {
    await assert.rejects(manage(['swarm', 'explode', '--dry-run']), /value 'explode' is invalid for argument 'action'/);
  });

  describe('without --dry-run', () => {
    let dir: string;
    let log: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'rks-manage-test-'));
      log = join(dir, 'calls.log');
      // A stand-in docker: records its arguments and RKS_IMAGE, fails for `stack services`.
      writeFileSync(
        join(dir, 'docker'),
        [
          '#!/bin/sh',
          `echo "RKS_IMAGE=\${RKS_IMAGE:-} $*" >> '${log}'`,
          'if [ "$1 $2" = "stack services" ]; then exit 3; fi',
          'exit 0',
          '',
        ].join('\n'),
      );
      chmodSync(join(dir, 'docker'), 0o755);
    });
    after(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('runs each printed command with its environment', async () => {
      const r = await manage(['swarm', 'deploy', '--stack-name', 's1', '--image', 'rks:test'], {
        ...process.env,
        PATH: `${dir}:${process.env['PATH'] ?? ''}`,
      });
      assert.equal(r.code, 0);
      assert.equal(r.out.length, 1);
      assert.equal(
        readFileSync(log, 'utf8'),
        `RKS_IMAGE=rks:test stack deploy --compose-file ${swarm} --with-registry-auth s1\n`,
      );
    });

    it('stops at the first failing command and exits with its code', async () => {
      rmSync(log, { force: true });
      const r = await manage(['swarm', 'status', '--stack-name', 's2'], {
        ...process.env,
        PATH: `${dir}:${process.env['PATH'] ?? ''}`,
      });
      assert.equal(r.code, 3);
      assert.deepEqual(r.out, ['+ docker stack services s2'], 'docker stack ps was not printed nor run');
      assert.equal(readFileSync(log, 'utf8'), 'RKS_IMAGE= stack services s2\n');
      assert.match(r.err.join('\n'), /'docker stack services s2' failed with exit code 3/);
    });

    it('says how to install docker when it is not on PATH', async () => {
      const r = await manage(['compose', 'status'], { PATH: join(dir, 'empty') });
      assert.equal(r.code, 1);
      assert.match(r.err.join('\n'), /docker is not installed or not on PATH: install Docker Engine/);
    });
  });
});

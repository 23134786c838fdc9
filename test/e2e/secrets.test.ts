import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from './fleet/index.js';
import { runCli, secretFragments, type CliResult } from './cli.js';

let fleet: Fleet;
let inventory: string;
/** Every key that was ever on a node during the tests, to look for in every output. */
const seen = new Map<string, Buffer>();
const outputs: string[] = [];

beforeAll(async () => {
  fleet = await startFleet({
    pools: [
      { name: 'web', server: 'nginx', nodes: 2 },
      { name: 'lb', server: 'haproxy', nodes: 2 },
    ],
  });
  inventory = await fleet.writeInventory();
});
afterAll(async () => {
  await fleet?.stop();
});

async function collectKeys(): Promise<void> {
  for (const node of fleet.nodes) {
    for (const f of await readdir(node.keyDir)) {
      const path = `${node.keyDir}/${f}`;
      if (f.endsWith('.key')) seen.set(path + (await stat(path)).mtimeMs, await readFile(path));
      if (f === 'tickets.keys') {
        for (const line of (await readFile(path, 'utf8')).split('\n').filter(Boolean)) {
          seen.set(line, Buffer.from(line, 'base64'));
        }
      }
    }
  }
}

async function run(args: string[]): Promise<CliResult> {
  await collectKeys();
  const res = await runCli(args);
  outputs.push(res.stdout, res.stderr);
  await collectKeys();
  return res;
}

describe('secret hygiene', () => {
  it('writes key files 0600 in 0700 directories, and no reader ever sees a partial key', async () => {
    const node = fleet.pool('web').nodes[0]!;
    // A reader on the node that looks at every key file as fast as it can during the runs.
    const reader = node.sh(
      `end=$(( $(date +%s) + 25 )); while [ $(date +%s) -lt $end ]; do for f in ${node.keyDir}/*.key; do ` +
        `s=$(wc -c < "$f" 2>/dev/null) && echo "$s"; done; [ -e ${node.dir}/stop-reader ] && break; done | sort | uniq -c`,
      { timeoutMs: 60_000 },
    );
    for (let i = 0; i < 3; i++)
      expect((await run(['rotate', '-i', inventory, '--yes', '--json'])).code).toBe(0);
    await writeFile(`${node.dir}/stop-reader`, '');
    const sizes = (await reader).stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[1]);
    expect(sizes.length).toBeGreaterThan(0);
    expect(new Set(sizes)).toEqual(new Set(['48']));
    for (const n of fleet.nodes) {
      expect((await stat(n.keyDir)).mode & 0o777).toBe(0o700);
      for (const f of await readdir(n.keyDir)) {
        expect(`${f} ${((await stat(`${n.keyDir}/${f}`)).mode & 0o777).toString(8)}`).toBe(
          `${f} 600`,
        );
      }
    }
  });

  it('a host key mismatch stops the run before anything is written anywhere', async () => {
    const snapshot = async () =>
      Promise.all(
        fleet.nodes.map(async (n) =>
          Promise.all(
            (await readdir(n.keyDir))
              .sort()
              .map(async (f) => `${f}:${(await readFile(`${n.keyDir}/${f}`)).toString('hex')}`),
          ),
        ),
      );
    const before = await snapshot();
    const original = await readFile(fleet.knownHosts, 'utf8');
    const [a, b] = fleet.pool('lb').nodes;
    await writeFile(
      fleet.knownHosts,
      original
        .split('\n')
        .map((l) => (l.startsWith(`[${b!.host}]`) ? `[${b!.host}]:22022 ${a!.hostKey}` : l))
        .join('\n'),
    );
    try {
      const res = await run(['rotate', '-i', inventory, '--yes']);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/host key/i);
      expect(res.stderr).toContain(b!.host);
      expect(await snapshot()).toEqual(before);
    } finally {
      await writeFile(fleet.knownHosts, original);
    }
  });

  it('never prints key bytes: stdout, stderr, --json, audit log, metrics, state files, errors', async () => {
    const audit = `${fleet.dir}/audit.log`;
    const metrics = `${fleet.dir}/m.prom`;
    await run(['status', '-i', inventory, '--json']);
    await run(['verify', '-i', inventory, '--json', '--metrics-file', metrics]);
    await run(['rotate', '-i', inventory, '--dry-run', '--json']);
    await run([
      'rotate',
      '-i',
      inventory,
      '--yes',
      '--audit-log',
      audit,
      '--metrics-file',
      metrics,
    ]);
    await run(['rollback', '-i', inventory, '--yes', '--audit-log', audit]);
    // An error path: a config test that fails prints the server's own output.
    const bad = await fleet.writeInventory({
      path: `${fleet.dir}/bad.yaml`,
      pools: ['web'],
      nodeOverrides: (n) => (n.index === 1 ? { check: `cat ${n.keyDir}/*.key; false` } : undefined),
    });
    outputs.push(...Object.values(await run(['rotate', '-i', bad, '--yes'])).map(String));
    const texts = [...outputs, await readFile(audit, 'utf8'), await readFile(metrics, 'utf8')];
    for (const n of fleet.nodes) texts.push(await readFile(`${n.keyDir}/stekctl.json`, 'utf8'));
    expect(seen.size).toBeGreaterThan(4);
    for (const key of seen.values()) {
      for (const frag of secretFragments(key)) for (const t of texts) expect(t).not.toContain(frag);
    }
  });
});

import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TlsVersion } from '../../src/inventory/types.js';
import { offerTicket, takeTicket, type ProbeTarget } from '../../src/probe/index.js';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { runCli } from './cli.js';
import { startCli, waitForTransactions, waitUntil } from './invariant-extra.js';

let fleet: Fleet;
let inventory: string;
const versions: TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];

beforeAll(async () => {
  fleet = await startFleet({
    pools: [
      { name: 'web', server: 'nginx', nodes: 2 },
      { name: 'app', server: 'apache', nodes: 2 },
      { name: 'lb', server: 'haproxy', nodes: 2, distinctTicketsNode: 1 },
    ],
  });
  inventory = await fleet.writeInventory();
});
afterAll(async () => {
  await fleet?.stop();
});

const target = (n: FleetNode): ProbeTarget => ({
  node: n.host,
  host: n.host,
  port: n.tlsPort,
  servername: n.servername,
  ca: undefined,
  timeoutMs: 5000,
});

interface StatusPool {
  pool: string;
  verdict: string;
  ring: string[];
  faults: { node: string; reason: string }[];
}
async function status(pool?: string): Promise<{ code: number; pools: StatusPool[] }> {
  const res = await runCli([
    'status',
    '-i',
    inventory,
    '--json',
    ...(pool ? ['--pool', pool] : []),
  ]);
  return { code: res.code, pools: (JSON.parse(res.stdout) as { pools: StatusPool[] }).pools };
}
async function rotateJson(args: string[]) {
  const res = await runCli(['rotate', '-i', inventory, '--yes', '--json', ...args]);
  return { code: res.code, stderr: res.stderr, doc: JSON.parse(res.stdout) as RotateDoc };
}
interface RotateDoc {
  exitCode: number;
  pools: {
    pool: string;
    keyId: string;
    outcome: string;
    after: string[];
    switchLoss?: { lost: number };
    phases: { name: string; windowMs?: number }[];
    warnings: string[];
  }[];
}

describe('Apache and HAProxy pools, and one run over all three kinds', () => {
  it('finds the hand-placed HAProxy key file that differs on one node (drift)', async () => {
    const st = await status('lb');
    expect(st.code).toBe(1);
    expect(st.pools[0]?.verdict).toBe('inconsistent');
    expect(st.pools[0]?.faults.map((f) => f.node)).toEqual([fleet.pool('lb').nodes[1]!.host]);
  });

  it('rotates an nginx, an Apache and an HAProxy pool in one run, each with its own key', async () => {
    const { code, doc, stderr } = await rotateJson([]);
    expect(code, stderr).toBe(0);
    const keys = doc.pools.map((p) => p.keyId);
    expect(new Set(keys).size).toBe(3);
    const st = await status();
    expect(st.code).toBe(0);
    for (const p of st.pools) expect(p.verdict).toBe('consistent');
    // The HAProxy drift is gone: both nodes now encrypt with the new key.
    expect(st.pools.find((p) => p.pool === 'lb')?.ring[0]).toBe(
      doc.pools.find((p) => p.pool === 'lb')?.keyId,
    );
    const verify = await runCli(['verify', '-i', inventory]);
    expect(verify.code, verify.stdout).toBe(0);
  });

  for (const pool of ['lb', 'app'] as const) {
    it(`${pool}: repeated rotations; fresh tickets carry the new key and resume across nodes in TLS 1.2 and 1.3`, async () => {
      const nodes = fleet.pool(pool).nodes;
      for (let round = 0; round < 2; round++) {
        const before = await Promise.all(versions.map((v) => takeTicket(target(nodes[0]!), v)));
        const { code, doc } = await rotateJson(['--pool', pool]);
        expect(code).toBe(0);
        const keyId = doc.pools[0]!.keyId;
        // Seconds after the last rotation, within the 300 s the servers give their tickets
        // (HAProxy's tune.ssl.lifetime, Apache's SSLSessionCacheTimeout).
        if (round > 0)
          expect(doc.pools[0]!.warnings).toContainEqual(
            expect.stringMatching(/s ago, less than the ticket lifetime \(300s\)/),
          );
        for (const v of versions) {
          for (const from of nodes) {
            const t = await takeTicket(target(from), v);
            expect(t.keyId).toBe(keyId);
            for (const to of nodes) expect((await offerTicket(target(to), v, t)).reused).toBe(true);
          }
        }
        for (const [i, v] of versions.entries()) {
          const resumed = (await offerTicket(target(nodes[1]!), v, before[i]!)).reused;
          // HAProxy keeps the previous key for decryption; Apache holds one key and cannot.
          expect(resumed).toBe(pool === 'lb');
        }
        if (pool === 'app') {
          expect(doc.pools[0]!.switchLoss?.lost).toBeGreaterThan(0);
          expect(doc.pools[0]!.phases.find((p) => p.name === 'switch')?.windowMs).toBeTypeOf(
            'number',
          );
        }
      }
    });
  }

  for (const pool of ['lb', 'app'] as const) {
    it(`${pool}: a config test that fails on one node mid-rotation rolls every node back`, async () => {
      const [first, second] = fleet.pool(pool).nodes as [FleetNode, FleetNode];
      const managed = `${second.keyDir}/${pool === 'lb' ? 'tickets.keys' : 'tickets.conf'}`;
      const frozen = `${second.dir}/managed.orig`;
      await writeFile(frozen, await readFile(managed));
      const ringBefore = (await status(pool)).pools[0]!.ring;
      // The check passes as long as the managed file is untouched, so preflight passes and the
      // first write on this node fails.
      const inv = await fleet.writeInventory({
        path: `${fleet.dir}/inv-${pool}-check.yaml`,
        pools: [pool],
        nodeOverrides: (n) =>
          n === second ? { check: `cmp -s ${managed} ${frozen} && ${second.check}` } : undefined,
      });
      const res = await runCli(['rotate', '-i', inv, '--yes']);
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).toContain(second.host);
      const after = (await status(pool)).pools[0]!;
      expect(after.verdict).toBe('consistent');
      expect(after.ring).toEqual(ringBefore);
      const v = await runCli(['verify', '-i', inventory, '--pool', pool]);
      expect(v.code, v.stdout).toBe(0);
      void first;
    });
  }

  it('apache: a node switched to another key by hand is named, and the next rotation repairs it', async () => {
    const odd = fleet.pool('app').nodes[1]!;
    const key = randomBytes(48);
    await writeFile(`${odd.keyDir}/hand.key`, key, { mode: 0o600 });
    await writeFile(
      `${odd.keyDir}/tickets.conf`,
      `SSLSessionTicketKeyFile ${odd.keyDir}/hand.key\n`,
    );
    await odd.reloadServer();
    const st = await status('app');
    expect(st.code).toBe(1);
    expect(
      st.pools[0]?.faults.some((f) => f.node === odd.host && /ring differs/.test(f.reason)),
    ).toBe(true);
    const { code } = await rotateJson(['--pool', 'app']);
    expect(code).toBe(0);
    expect((await status('app')).pools[0]?.verdict).toBe('consistent');
  });

  it('apache in two steps: the plan, the stage and the switch say what one key means', async () => {
    const dry = await runCli(['rotate', '-i', inventory, '--pool', 'app', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(
      'and how many tickets taken before the switch fall back to a full handshake',
    );
    expect(dry.stdout).not.toContain('still resume');
    const staged = await runCli(['rotate', '-i', inventory, '--pool', 'app', '--stage', '--yes']);
    expect(staged.code, staged.stderr).toBe(0);
    expect(staged.stdout).toMatch(
      /pool app \(apache\): staged [0-9a-f]{12}: its file is on every node, unused until the switch/,
    );
    expect(staged.stdout).not.toContain('for decryption');
    // The next step is a command to paste, scoped to the pool that was staged.
    expect(staged.stdout).toContain(
      `switch with \`stekctl rotate -i ${inventory} -p app --promote\``,
    );
    // --promote over every pool: the pools with nothing staged refuse, and the run leaves app
    // staged too, which the output says along with the command that promotes app alone.
    const all = await runCli(['rotate', '-i', inventory, '--promote', '--yes']);
    expect(all.code).toBe(1);
    expect(all.stderr).toMatch(/no staged key to promote; nothing was changed/);
    expect(all.stderr).toContain(
      `app was not changed either, as a run changes all its pools or none: \`stekctl rotate -i ${inventory} -p app --promote\` acts on it alone`,
    );
    const { code, doc } = await rotateJson(['--pool', 'app', '--promote']);
    expect(code).toBe(0);
    expect(doc.pools[0]?.outcome).toBe('rotated');
  });

  it('apache: a run killed during the switch is finished by the next one, which keeps the previous key for a rollback', async () => {
    const [first] = fleet.pool('app').nodes as [FleetNode];
    const previous = (await status('app')).pools[0]!.ring[0]!;
    const run = startCli(['rotate', '-i', inventory, '--pool', 'app', '--yes', '--overlap', '0s']);
    // Killed once a node records the switch: after it, every ring names the new key alone.
    await waitUntil('the switch recorded on a node', async () =>
      /"phase": "promoted"/.test(
        await readFile(`${first.keyDir}/stekctl.json`, 'utf8').catch(() => ''),
      ),
    );
    run.kill('SIGKILL');
    await run.exited;
    await waitForTransactions(fleet, 'app');
    const { code, doc } = await rotateJson(['--pool', 'app']);
    expect(code).toBe(0);
    expect(doc.pools[0]?.outcome).toBe('rotated');
    const dry = await runCli(['rollback', '-i', inventory, '--pool', 'app', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`make the previous key ${previous.slice(0, 12)} primary again`);
  });

  it('rejects 80-byte keys for an Apache pool before contacting anything', async () => {
    const inv = await fleet.writeInventory({
      path: `${fleet.dir}/inv-apache-80.yaml`,
      pools: ['app'],
      poolOverrides: { app: { keySize: 80 } },
    });
    const res = await runCli(['rotate', '-i', inv, '--yes']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/keySize/);
  });
});

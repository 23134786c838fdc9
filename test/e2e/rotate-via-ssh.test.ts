import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { keyId, newKey, placeNginxRing, runCli, secretFragments, type CliResult } from './cli.js';
import { preflightFailureOf, rotateDocOf, type RotateDoc } from './rotate-doc.js';
import { assertInvariant, assertRingsAsBefore, listKeyDirs, readPoolRings } from './invariant.js';
import { waitForKey } from './verify-run.js';

/**
 * `probe.via: ssh` for rotate and rollback: every handshake of the run (reload confirmations,
 * tickets taken before the promotion, verification, rollback confirmations) runs with openssl
 * on a pool node, and the session directory it keeps there is gone when the run ends.
 */

let fleet: Fleet;
let web: FleetNode[];
let certNodes: FleetNode[];
let webInventory: string;
let certInventory: string;
const outputs: string[] = [];
const handMade = [newKey(), newKey()];

/** Session directories of SSH probes; the nodes share this machine's temporary directory. */
async function probeDirs(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((f) => f.startsWith('stekctl-probe.'));
}

/**
 * Runs the CLI while watching for probe directories. Other test files may probe over SSH at the
 * same time, so a directory seen here is only known to be this run's when it appeared during it;
 * whichever they are, they must all be gone soon after (a deadline, not a fixed pause).
 */
async function runWatched(
  args: string[],
): Promise<{ res: CliResult; dirs: string[]; sessionFiles: number }> {
  const before = new Set(await probeDirs());
  const seen = new Set<string>();
  let sessionFiles = 0;
  let running = true;
  const watch = (async () => {
    while (running) {
      for (const d of await probeDirs()) {
        if (before.has(d)) continue;
        seen.add(d);
        // Tickets taken before a phase wait there as session files until the run ends.
        const files = await readdir(join(tmpdir(), d)).catch(() => []);
        sessionFiles = Math.max(sessionFiles, files.filter((f) => /^s\d+\.pem$/.test(f)).length);
      }
      await sleep(50);
    }
  })();
  const res = await runCli(args, { timeoutMs: 240_000 });
  running = false;
  await watch;
  outputs.push(res.stdout, res.stderr);
  return { res, dirs: [...seen], sessionFiles };
}

async function expectRemoved(dirs: string[]): Promise<void> {
  const until = Date.now() + 60_000;
  let left = dirs;
  while (Date.now() < until) {
    const now = new Set(await probeDirs());
    left = dirs.filter((d) => now.has(d));
    if (left.length === 0) return;
    await sleep(250);
  }
  expect(left, 'probe directories left on the nodes').toEqual([]);
}

async function rotateViaSsh(
  verb: 'rotate' | 'rollback',
  inventory: string,
): Promise<{ res: CliResult; doc: RotateDoc; pool: RotateDoc['pools'][number] }> {
  const { res, dirs, sessionFiles } = await runWatched([verb, '-i', inventory, '--yes', '--json']);
  const doc = rotateDocOf(res);
  expect(doc.pools).toHaveLength(1);
  const pool = doc.pools[0]!;
  expect(pool.via).toBe('ssh');
  expect(dirs.length, 'no probe directory appeared on a node').toBeGreaterThan(0);
  if (verb === 'rotate' && pool.kind !== 'bootstrap')
    expect(sessionFiles, 'no ticket was kept on the probing node').toBeGreaterThan(0);
  await expectRemoved(dirs);
  return { res, doc, pool };
}

beforeAll(async () => {
  fleet = await startFleet({
    pools: [
      { name: 'web', server: 'nginx', nodes: 3 },
      { name: 'cert', server: 'nginx', nodes: 2, distinctCertNode: 1 },
    ],
  });
  web = fleet.pool('web').nodes;
  certNodes = fleet.pool('cert').nodes;
  webInventory = await fleet.writeInventory({
    path: `${fleet.dir}/web-ssh.yaml`,
    pools: ['web'],
    poolOverrides: { web: { probe: { via: 'ssh', port: 24443 } } },
  });
  certInventory = await fleet.writeInventory({
    path: `${fleet.dir}/cert-ssh.yaml`,
    pools: ['cert'],
    poolOverrides: { cert: { probe: { via: 'ssh' } } },
  });
  // A ring placed by hand, so that the failed run has a ring to return to.
  await Promise.all(
    certNodes.map(async (n) => {
      await placeNginxRing(n, handMade);
      await n.reloadServer();
      await waitForKey(n, keyId(handMade[0]!));
    }),
  );
});
afterAll(async () => {
  await fleet?.stop();
});

describe('stekctl rotate and rollback with probe.via: ssh', () => {
  it('writes the probe settings merged into the pool defaults', async () => {
    const doc = parse(await readFile(webInventory, 'utf8')) as {
      pools: { web: { probe: Record<string, unknown> } };
    };
    expect(doc.pools.web.probe).toEqual({
      port: 24443,
      servername: 'web.test',
      timeout: '3s',
      via: 'ssh',
    });
  });

  it('bootstraps, rotates and rolls back with every probe run over SSH', async () => {
    const boot = await rotateViaSsh('rotate', webInventory);
    expect(boot.res.code, boot.res.stderr).toBe(0);
    expect(boot.pool).toMatchObject({ kind: 'bootstrap', outcome: 'rotated' });
    expect(boot.pool.probedFrom).toBe(web[0]!.host);
    expect(boot.pool.verification?.ok).toBe(true);
    await assertInvariant(fleet, 'web');

    const first = boot.pool.keyId;
    const full = await rotateViaSsh('rotate', webInventory);
    expect(full.res.code, full.res.stderr).toBe(0);
    expect(full.pool).toMatchObject({ kind: 'rotate', outcome: 'rotated' });
    expect(full.pool.probedFrom).toBe(web[0]!.host);
    // 3 nodes x 3 nodes x 2 versions, every one resumed.
    expect(full.pool.verification).toMatchObject({
      ok: true,
      summary: { probes: 18, resumed: 18 },
    });
    expect(full.pool.ticketChecks).toContainEqual({
      name: 'tickets-before-promotion-resume',
      ok: true,
      problems: [],
    });
    const inv = await assertInvariant(fleet, 'web');
    for (const ring of inv.rings.values()) expect(ring).toEqual([full.pool.keyId, first]);

    const back = await rotateViaSsh('rollback', webInventory);
    expect(back.res.code, back.res.stderr).toBe(0);
    expect(back.pool.probedFrom).toBe(web[0]!.host);
    const after = await assertInvariant(fleet, 'web');
    for (const ring of after.rings.values()) expect(ring[0]).toBe(first);
    for (const ids of after.encrypting.values()) expect(ids).toEqual([first, first]);
  });

  it('detects over SSH a node serving another certificate, and rolls back', async () => {
    const before = await assertInvariant(fleet, 'cert');
    const { res, doc, pool } = await rotateViaSsh('rotate', certInventory);
    expect(res.code, res.stderr).toBe(1);
    expect(doc.exitCode).toBe(1);
    expect(pool.outcome).toBe('rolled-back');
    expect(pool.probedFrom).toBe(certNodes[0]!.host);
    expect(pool.error).toMatch(/verification/);
    expect(pool.verification?.ok).toBe(false);
    expect(pool.verification?.diagnostics.map((d) => d.code)).toContain('different-certificates');
    // Rolled back, with the reloads confirmed over SSH: every ring as it was, no new key file.
    expect(pool.phases.map((p) => `${p.name} ${p.ok}`)).toContain('rollback true');
    await assertRingsAsBefore(fleet, 'cert', before);
    expect([...(await readPoolRings(fleet, 'cert')).values()]).toEqual(
      [handMade, handMade].map((r) => r.map(keyId)),
    );
    for (const n of certNodes)
      expect(await readdir(n.keyDir), n.name).not.toContain(`${pool.keyId}.key`);
  });

  it('stops before any write when a TLS server does not answer the probing node', async () => {
    await assertInvariant(fleet, 'web');
    const files = await listKeyDirs(fleet, 'web');
    const off = web[2]!;
    await off.stopServer();
    try {
      const { res, dirs } = await runWatched(['rotate', '-i', webInventory, '--yes', '--json']);
      const { node, reason } = preflightFailureOf(res);
      expect(node).toBe(off.host);
      expect(reason).toMatch(
        new RegExp(
          `^nothing accepts connections on ${off.host}:24443 \\(from ${web[0]!.host}: cannot connect: .+\\): is the TLS server \\(nginx\\) running\\?`,
        ),
      );
      // Probed from a node, the hint to probe from the nodes does not apply.
      expect(reason).not.toContain('probe.via');
      expect(await listKeyDirs(fleet, 'web')).toEqual(files);
      await expectRemoved(dirs);
    } finally {
      await off.startServer();
    }
  });

  it('never prints key bytes', async () => {
    const ids = [...new Set([...(await readPoolRings(fleet, 'web')).values()].flat())];
    const keys = await Promise.all(ids.map((id) => readFile(`${web[0]!.keyDir}/${id}.key`)));
    for (const key of [...keys, ...handMade])
      for (const frag of secretFragments(key))
        for (const text of outputs) expect(text).not.toContain(frag);
  });
});

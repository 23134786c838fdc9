import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { keyId, newKey, placeNginxRing } from './cli.js';
import {
  expectMatrix,
  expectNoKeyBytes,
  expectPassed,
  haproxyKeys,
  statusOf,
  verify,
  verifyJson,
  waitForKey,
  writePoolInventory,
} from './verify-run.js';

let fleet: Fleet;
let web: FleetNode[];
/** The first three nginx nodes: the pool most tests verify. */
let web3: string;
const ring = [newKey()];
const stray = newKey();
const apacheKey = randomBytes(48);

async function placeRing(nodes: FleetNode[], keys: Buffer[]): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      await placeNginxRing(n, keys);
      await n.reloadServer();
      await waitForKey(n, keyId(keys[0]!));
    }),
  );
}

beforeAll(async () => {
  fleet = await startFleet({
    pools: [
      { name: 'web', server: 'nginx', nodes: 5 },
      { name: 'cert', server: 'nginx', nodes: 2, distinctCertNode: 1 },
      { name: 'lb', server: 'haproxy', nodes: 2 },
      { name: 'app', server: 'apache', nodes: 2 },
    ],
  });
  web = fleet.pool('web').nodes;
  await placeRing([...web, ...fleet.pool('cert').nodes], ring);
  web3 = await writePoolInventory(fleet, 'web', 3, 'web3.yaml');
});
afterAll(async () => {
  await fleet?.stop();
});

describe('stekctl verify on a real fleet', () => {
  it('passes a consistent nginx pool in TLS 1.2 and 1.3, every node x every node', async () => {
    const text = await verify(web3);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/pool web \(nginx\): ok {2}18\/18 resumed/);
    expect(text.stdout).toContain(keyId(ring[0]!).slice(0, 12));

    const { res, doc, pool } = await verifyJson(web3);
    expect(res.code).toBe(0);
    expect(doc.ok).toBe(true);
    expect(pool.via).toBe('direct');
    expect(pool.ring?.verdict).toBe('consistent');
    expect(pool.probe.plan).toBe('matrix');
    expectPassed(pool, 18, keyId(ring[0]!));
    expectMatrix(
      pool,
      web.slice(0, 3).map((n) => n.host),
    );
  });

  it('fails a node given a different key by hand, and names it alone', async () => {
    const odd = web[2]!;
    await placeRing([odd], [stray]);
    try {
      const { res, pool } = await verifyJson(web3);
      expect(res.code).toBe(1);
      expect(statusOf(pool, odd)?.ok).toBe(false);
      expect(statusOf(pool, odd)?.codes[0]).toBe('unknown-key');
      expect(statusOf(pool, odd)?.reasons.join('\n')).toContain(keyId(stray));
      expect(pool.probe.nodes.filter((n) => !n.ok).map((n) => n.node)).toEqual([odd.host]);

      const text = await verify(web3);
      expect(text.code).toBe(1);
      expect(text.stdout).toContain('FAILED');
      expect(text.stdout).toMatch(
        new RegExp(`! ${odd.host.replaceAll('.', '\\.')}: TLSv1\\.[23]: .*not in the pool's ring`),
      );

      // Without the ring every refusal is only seen from both sides: the node is still named.
      const blind = await verifyJson(web3, '--no-ring');
      expect(blind.res.code).toBe(1);
      expect(statusOf(blind.pool, odd)?.codes).toContain('mixed-keys');
    } finally {
      await placeRing([odd], ring);
    }
  });

  it('fails a node with tickets turned off', async () => {
    const off = web[1]!;
    const conf = await readFile(off.config, 'utf8');
    await writeFile(
      off.config,
      conf.replace('ssl_session_tickets on;', 'ssl_session_tickets off;'),
    );
    await off.reloadServer();
    await waitForKey(off, undefined);
    try {
      const { res, pool } = await verifyJson(web3);
      expect(res.code).toBe(1);
      expect(statusOf(pool, off)?.ok).toBe(false);
      expect(statusOf(pool, off)?.codes).toContain('no-tickets');
      for (const v of pool.probe.versions)
        expect(v.nodes.find((n) => n.node === off.host)?.issued).toBe(false);
      const text = await verify(web3);
      expect(text.stdout).toMatch(new RegExp(`${off.host}: TLSv1\\.2: .*issues no tickets`));
    } finally {
      await writeFile(off.config, conf);
      await off.reloadServer();
      await waitForKey(off, keyId(ring[0]!));
    }
  });

  it('fails a node serving a different certificate, and says so', async () => {
    const inv = await fleet.writeInventory({ path: `${fleet.dir}/cert.yaml`, pools: ['cert'] });
    const { res, pool } = await verifyJson(inv);
    expect(res.code).toBe(1);
    const [a, b] = fleet.pool('cert').nodes as [FleetNode, FleetNode];
    const cross = pool.probe.offers.filter((o) => o.from !== o.to);
    expect(cross.every((o) => !o.reused && o.diagnoses?.[0] === 'different-certificates')).toBe(
      true,
    );
    expect(pool.probe.offers.filter((o) => o.from === o.to).every((o) => o.reused)).toBe(true);
    expect(pool.probe.encryptingKeyIds).toEqual([keyId(ring[0]!)]);
    expect(statusOf(pool, b)?.codes).toContain('different-certificates');
    const text = await verify(inv);
    expect(text.stdout).toContain(`${b.host} serves a different certificate`);
    expect(text.stdout).toContain(a.host);
  });

  it('ends within its deadline when a server accepts TCP but never answers TLS', async () => {
    const mute = web[1]!;
    const sockets = new Set<Socket>();
    const server: Server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, mute.host, resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const inv = await writePoolInventory(fleet, 'web', 3, 'mute.yaml', {
        nodeOverrides: (n) => (n === mute ? { probe: { port, timeout: '1s' } } : undefined),
      });
      const started = Date.now();
      const { res, pool } = await verifyJson(inv, '--no-ring');
      const elapsed = Date.now() - started;
      expect(res.code).toBe(1);
      expect(sockets.size).toBeGreaterThan(0);
      // The pool's deadline is 24 s (4 x 3 s x 2 versions); the mute node's own 1 s ends it first.
      expect(elapsed).toBeLessThan(10_000);
      expect(statusOf(pool, mute)).toMatchObject({ ok: false, codes: ['timeout'] });
      expect(statusOf(pool, mute)?.reasons.join('\n')).toMatch(/no TLS handshake within 1000 ms/);
      expect(pool.probe.nodes.filter((n) => n.node !== mute.host).every((n) => n.ok)).toBe(true);
      expect(pool.probe.offers.filter((o) => o.to === mute.host).every((o) => o.skipped)).toBe(
        true,
      );
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('probes a pool larger than matrixMax in a cycle: each node at itself and another', async () => {
    const inv = await fleet.writeInventory({
      path: `${fleet.dir}/web5.yaml`,
      pools: ['web'],
      poolOverrides: { web: { probe: { matrixMax: 3 } } },
    });
    const { res, pool } = await verifyJson(inv, '--no-ring');
    expect(res.code).toBe(0);
    expect(pool.probe.plan).toBe('cycle');
    expectPassed(pool, 20, keyId(ring[0]!));
    for (const version of ['TLSv1.2', 'TLSv1.3']) {
      for (const n of web) {
        const own = pool.probe.offers.filter((o) => o.version === version && o.from === n.host);
        expect(own.map((o) => o.to === n.host).sort()).toEqual([false, true]);
        const received = pool.probe.offers.filter((o) => o.version === version && o.to === n.host);
        expect(received.some((o) => o.from !== n.host)).toBe(true);
      }
    }
  });

  it('passes an HAProxy pool sharing the tickets.keys the fleet placed', async () => {
    const inv = await fleet.writeInventory({ path: `${fleet.dir}/lb.yaml`, pools: ['lb'] });
    const { res, pool } = await verifyJson(inv);
    expect(res.code).toBe(0);
    expect(pool.ring?.verdict).toBe('consistent');
    expectPassed(pool, 8);
    // HAProxy encrypts with the penultimate line of its file.
    const keys = await haproxyKeys(fleet.pool('lb').nodes[0]!);
    expect(pool.probe.encryptingKeyIds).toEqual([keyId(keys.at(-2)!)]);
  });

  it('passes an Apache pool given the same key file by hand', async () => {
    const nodes = fleet.pool('app').nodes;
    await Promise.all(
      nodes.map(async (n) => {
        await writeFile(`${n.keyDir}/x.key`, apacheKey, { mode: 0o600 });
        await writeFile(`${n.keyDir}/tickets.conf`, `SSLSessionTicketKeyFile ${n.keyDir}/x.key\n`);
        await n.reloadServer();
        await waitForKey(n, keyId(apacheKey));
      }),
    );
    const inv = await fleet.writeInventory({ path: `${fleet.dir}/app.yaml`, pools: ['app'] });
    const { res, pool } = await verifyJson(inv);
    expect(res.code).toBe(0);
    expectPassed(pool, 8, keyId(apacheKey));
  });

  it('never prints key bytes', async () => {
    const keys = [...ring, stray, apacheKey, ...(await haproxyKeys(fleet.pool('lb').nodes[0]!))];
    expectNoKeyBytes(keys);
  });
});

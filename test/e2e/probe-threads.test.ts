import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeTicket } from '../../src/probe/index.js';
import { runCli } from './cli.js';
import { targetOf } from './invariant.js';
import { rotateDocOf } from './rotate-doc.js';
import { startWebPool, type WebPool } from './web-pool.js';

let web: WebPool;

beforeAll(async () => {
  web = await startWebPool();
});
afterAll(async () => {
  await web?.fleet.stop();
});

describe('probes in worker threads (--probe-threads)', () => {
  it('rotates and verifies the pool with its handshakes run in two threads', async () => {
    const res = await runCli([
      'rotate',
      '-i',
      web.inventory,
      '--yes',
      '--json',
      '--probe-threads',
      '2',
    ]);
    const doc = rotateDocOf(res);
    expect(res.code, res.stderr).toBe(0);
    const pool = doc.pools[0]!;
    expect(pool.outcome).toBe('rotated');
    expect(pool.verification?.ok).toBe(true);
    expect(pool.verification?.summary.resumed).toBe(pool.verification?.summary.probes);
    for (const node of web.nodes) {
      expect((await takeTicket(targetOf(node), 'TLSv1.3')).keyId).toBe(pool.keyId);
    }
    const verify = await runCli(['verify', '-i', web.inventory, '--probe-threads', '1']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/pool web \(nginx\): ok {2}18\/18 resumed/);
  });

  it('names what failed when a handshake in a thread cannot connect', async () => {
    const text = await readFile(web.inventory, 'utf8');
    const port = /probe: \{ port: (\d+)/.exec(text)?.[1];
    expect(port).toBeDefined();
    // Port 9 (discard) is closed on the loopback fleet: every probe is refused.
    const closed = web.inventory.replace(/\.yaml$/, '-closed.yaml');
    await writeFile(closed, text.replace(`probe: { port: ${port}`, 'probe: { port: 9'));
    const res = await runCli(['verify', '-i', closed, '--probe-threads', '1']);
    expect(res.code).toBe(1);
    const host = web.nodes[0]!.host;
    // One line per node and version, and one reason per node for both versions.
    expect(res.stdout).toMatch(
      new RegExp(`TLSv1\\.3 +${host} +cannot connect: connection refused`),
    );
    expect(res.stdout).toContain(`! ${host}: TLSv1.2, TLSv1.3: cannot connect: connection refused`);
    expect(res.stdout + res.stderr).not.toMatch(/probe worker|unexpected error|ECONNREFUSED/i);
    // Each probe's error crossed from its thread intact: which node, which version, why.
    const json = await runCli(['verify', '-i', closed, '--probe-threads', '1', '--json']);
    const doc = JSON.parse(json.stdout) as {
      pools: {
        probe: { versions: { version: string; nodes: { node: string; error?: object }[] }[] };
      }[];
    };
    const taken = doc.pools[0]?.probe.versions.find((v) => v.version === 'TLSv1.3');
    expect(taken?.nodes.find((n) => n.node === host)?.error).toEqual({
      code: 'unreachable',
      message: `${host} (${host}:9, TLSv1.3): cannot connect: connection refused`,
      detail: 'cannot connect: connection refused',
    });
  });

  it('refuses a thread count that is not a number', async () => {
    const res = await runCli(['verify', '-i', web.inventory, '--probe-threads', 'many']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--probe-threads: expected "auto" or a whole number/);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet, FleetNode } from './fleet/index.js';
import { assertInvariant } from './invariant.js';
import { startCli } from './invariant-extra.js';
import { runCli } from './cli.js';
import { rotateDocOf } from './rotate-doc.js';
import { startWebPool } from './web-pool.js';

/**
 * A node's TLS server stops in the middle of a rotation (a crash, or an operator's restart gone
 * wrong). Every reload on that node fails from then on, the rollback's too: the run cannot put
 * the node back, and must say that its server is down rather than only how its ring differs.
 */
let fleet: Fleet;
let inventory: string;
let nodes: FleetNode[];

beforeAll(async () => {
  ({ fleet, nodes, inventory } = await startWebPool(1));
});
afterAll(async () => {
  await fleet?.stop();
});

describe('a TLS server that stops during the overlap', () => {
  it('exit 3 naming the node and its stopped server; the next run completes once it is back', async () => {
    const odd = nodes[1]!;
    await assertInvariant(fleet, 'web');
    const run = startCli(['rotate', '-i', inventory, '--yes', '--json', '--overlap', '2s']);
    await run.when(/overlap: .* left before promotion/);
    await odd.stopServer();
    const res = await run.exited;
    expect(res.code, res.stderr).toBe(3);
    const doc = rotateDocOf(res);
    const person = doc.pools[0]?.needsPerson ?? [];
    expect(person.map((p) => p.node)).toEqual([odd.host]);
    expect(person[0]?.reason).toMatch(
      new RegExp(
        `^nothing accepts connections on ${odd.host}:\\d+ \\(connection refused\\): is the TLS server \\(nginx\\) running\\?.*; its ring is \\[`,
      ),
    );
    // Once the server runs again, a rotation brings the node back to the pool's ring.
    await odd.startServer();
    const next = await runCli(['rotate', '-i', inventory, '--yes']);
    expect(next.code, next.stderr + next.stdout).toBe(0);
    const after = await assertInvariant(fleet, 'web');
    expect(new Set([...after.rings.values()].map((r) => r.join()))).toHaveProperty('size', 1);
  });
});

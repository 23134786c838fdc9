import { describe, expect, it } from 'vitest';
import type { TlsVersion } from '../inventory/types.js';
import { fakeTarget } from './probe-target.fixture.js';
import { confirmKeyEverywhere } from './rotation-checks.js';
import type { TicketSample } from './tls-probe.js';
import type { Prober } from './verify-pool.js';

const target = fakeTarget;

/** Answers after `ms` with a ticket under `keyOf(node)`, without any network. */
function slowProber(ms: number, keyOf: (node: string) => string): Prober {
  return {
    takeTicket: (t, version: TlsVersion) =>
      new Promise<TicketSample>((resolve) =>
        setTimeout(
          () =>
            resolve({
              node: t.node,
              version,
              keyId: keyOf(t.node),
              certFingerprint: '',
              session: Buffer.alloc(1),
              takenAt: Date.now(),
            }),
          ms,
        ),
      ),
    offerTicket: () => Promise.reject(new Error('not used')),
  };
}

describe('confirmKeyEverywhere on a pool larger than its deadline', () => {
  const key = 'ab'.repeat(16);
  const targets = Array.from({ length: 12 }, (_, i) => target(i + 1));

  it('asks every node before the deadline counts', async () => {
    // 12 nodes, one at a time, 20 ms each: two rounds take ~480 ms, the deadline is 100 ms.
    const res = await confirmKeyEverywhere(targets, ['TLSv1.3'], key, 100, {
      concurrency: 1,
      intervalMs: 1,
      prober: slowProber(20, () => key),
    });
    expect(res.ok).toBe(true);
    expect(res.nodes.every((n) => n.attempts === 2)).toBe(true);
  });

  it('still gives up on a node that never switches, once the deadline passes', async () => {
    const t0 = Date.now();
    const res = await confirmKeyEverywhere(targets, ['TLSv1.3'], key, 150, {
      concurrency: 4,
      intervalMs: 10,
      prober: slowProber(5, (node) => (node === 'n7' ? 'cd'.repeat(16) : key)),
    });
    expect(res.ok).toBe(false);
    expect(res.nodes.filter((n) => !n.confirmed).map((n) => n.node)).toEqual(['n7']);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

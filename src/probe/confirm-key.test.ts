import { describe, expect, it } from 'vitest';
import type { TlsVersion } from '../inventory/types.js';
import { confirmKeyEverywhere } from './confirm-key.js';
import { fakeTarget } from './probe-target.fixture.js';
import type { TicketSample } from './tls-probe.js';
import type { Prober } from './verify-pool.js';

const key = 'ab'.repeat(16);
const old = 'cd'.repeat(16);

const target = fakeTarget;

/** Answers at once with the key `keyOf(node, attempt)` names, and records when it was asked. */
function recordingProber(keyOf: (node: string, attempt: number) => string): {
  prober: Prober;
  calls: { node: string; at: number }[];
} {
  const calls: { node: string; at: number }[] = [];
  const prober: Prober = {
    takeTicket: (t, version: TlsVersion) => {
      const attempt = calls.filter((c) => c.node === t.node).length + 1;
      calls.push({ node: t.node, at: Date.now() });
      const sample: TicketSample = {
        node: t.node,
        version,
        keyId: keyOf(t.node, attempt),
        certFingerprint: '',
        session: Buffer.alloc(1),
        takenAt: Date.now(),
      };
      return Promise.resolve(sample);
    },
    offerTicket: () => Promise.reject(new Error('not used')),
  };
  return { prober, calls };
}

describe('confirmKeyEverywhere: confirmations per node', () => {
  const targets = [target(1), target(2), target(3)];

  it('asks once a node that needs one confirmation, twice one that needs two', async () => {
    const { prober, calls } = recordingProber(() => key);
    const res = await confirmKeyEverywhere(targets, ['TLSv1.3'], key, 1000, {
      confirmations: new Map([
        ['n1', 1],
        ['n2', 1],
      ]),
      intervalMs: 20,
      prober,
    });
    expect(res.ok).toBe(true);
    expect(res.nodes.map((n) => [n.node, n.attempts])).toEqual([
      ['n1', 1],
      ['n2', 1],
      ['n3', 2],
    ]);
    expect(calls).toHaveLength(4);
  });

  it('returns the confirming ticket of every node and version', async () => {
    const { prober } = recordingProber(() => key);
    const res = await confirmKeyEverywhere(targets, ['TLSv1.2', 'TLSv1.3'], key, 1000, {
      confirmations: 1,
      prober,
    });
    expect(res.tickets).toHaveLength(6);
    expect(res.tickets.every((t) => t.keyId === key)).toBe(true);
    expect(new Set(res.tickets.map((t) => `${t.version} ${t.node}`)).size).toBe(6);
  });

  it('returns no ticket for a node that was not confirmed', async () => {
    const { prober } = recordingProber((node) => (node === 'n2' ? old : key));
    const res = await confirmKeyEverywhere(targets, ['TLSv1.3'], key, 100, {
      confirmations: 1,
      intervalMs: 10,
      prober,
    });
    expect(res.ok).toBe(false);
    expect(res.tickets.map((t) => t.node).sort()).toEqual(['n1', 'n3']);
  });

  it('starts over when the old key answers between two new ones', async () => {
    // n1 answers new, old, new, new: only the last two in a row confirm it.
    const { prober } = recordingProber((node, attempt) =>
      node === 'n1' && attempt === 2 ? old : key,
    );
    const res = await confirmKeyEverywhere([target(1)], ['TLSv1.3'], key, 2000, {
      confirmations: 2,
      intervalMs: 10,
      prober,
    });
    expect(res.ok).toBe(true);
    expect(res.nodes[0]?.attempts).toBe(4);
  });
});

describe('confirmKeyEverywhere: spacing', () => {
  it('keeps a node\u2019s two probes at least intervalMs apart', async () => {
    const { prober, calls } = recordingProber(() => key);
    await confirmKeyEverywhere([target(1), target(2)], ['TLSv1.3'], key, 2000, {
      intervalMs: 80,
      prober,
    });
    for (const node of ['n1', 'n2']) {
      const [a, b] = calls.filter((c) => c.node === node);
      expect((b?.at ?? 0) - (a?.at ?? 0)).toBeGreaterThanOrEqual(75);
    }
  });

  it('probes a node first intervalMs after its reload, and others at once', async () => {
    const { prober, calls } = recordingProber(() => key);
    const t0 = Date.now();
    const res = await confirmKeyEverywhere([target(1), target(2)], ['TLSv1.3'], key, 2000, {
      confirmations: 1,
      reloadedAt: new Map([['n1', t0]]),
      intervalMs: 150,
      prober,
    });
    expect(res.ok).toBe(true);
    const at = (node: string): number => calls.find((c) => c.node === node)?.at ?? 0;
    expect(at('n1') - t0).toBeGreaterThanOrEqual(145);
    expect(at('n2') - t0).toBeLessThan(100);
  });

  it('does not wait for a reload long past', async () => {
    const { prober, calls } = recordingProber(() => key);
    const t0 = Date.now();
    await confirmKeyEverywhere([target(1)], ['TLSv1.3'], key, 2000, {
      confirmations: 1,
      reloadedAt: new Map([['n1', t0 - 10_000]]),
      intervalMs: 250,
      prober,
    });
    expect((calls[0]?.at ?? 0) - t0).toBeLessThan(100);
  });
});

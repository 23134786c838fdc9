import { describe, expect, it } from 'vitest';
import type { NodeSpec } from '../inventory/types.js';
import type { Prober, ProbeTarget, TicketSample } from '../probe/index.js';
import type { ApplyOutcome } from '../servers/apply-script.js';
import { localNodeSpec } from '../servers/node-spec.fixture.js';
import { startConfirmAsDone } from './confirm-as-done.js';
import type { NodeStep } from './types.js';

const nodes = ['a', 'b', 'c'].map((name) => localNodeSpec('/tmp/keys', { name }));
const steps = nodes.map(
  (node) =>
    ({
      node,
      ring: {
        encrypt: { keyId: 'new', path: '/tmp/keys/new.key' },
        decrypt: [],
        staged: undefined,
      },
      writeKey: false,
      adopt: false,
      writeManaged: true,
      reload: true,
      deleteFiles: [],
    }) as unknown as NodeStep,
);
const reloaded: ApplyOutcome = {
  ok: true,
  generationChanged: true,
  oldGenerationStopped: true,
  detail: '',
  reloadAt: undefined,
};

/** A pool whose nodes issue tickets under whatever key `keyOf` says at the moment of asking. */
function fakeProber(keyOf: (node: string) => string, log: string[]): Prober {
  return {
    takeTicket: (target: ProbeTarget, version): Promise<TicketSample> => {
      log.push(target.node);
      return Promise.resolve({
        node: target.node,
        version,
        keyId: keyOf(target.node),
        certFingerprint: 'AA',
        session: Buffer.from('s'),
        takenAt: Date.now(),
      });
    },
    offerTicket: () => Promise.reject(new Error('not used')),
  };
}

function start(prober: Prober, deadlineMs = 300) {
  return startConfirmAsDone({
    steps,
    versions: ['TLSv1.3'],
    expectedKeyId: 'new',
    server: 'nginx',
    deadlineMs,
    concurrency: 2,
    prober,
  });
}

describe('startConfirmAsDone', () => {
  it('asks each node as soon as its transaction returns, before the others finished', async () => {
    const asked: string[] = [];
    const confirming = start(fakeProber(() => 'new', asked));
    confirming.nodeDone(nodes[0] as NodeSpec, reloaded, Date.now());
    await new Promise((r) => setTimeout(r, 20));
    expect(asked).toEqual(['a']);
    confirming.nodeDone(nodes[1] as NodeSpec, reloaded, Date.now());
    confirming.nodeDone(nodes[2] as NodeSpec, reloaded, Date.now());
    const conf = await confirming.finish();
    expect(conf.ok).toBe(true);
    expect(conf.nodes.map((n) => [n.node, n.confirmed])).toEqual([
      ['a', true],
      ['b', true],
      ['c', true],
    ]);
    expect(conf.tickets.map((t) => t.node)).toEqual(['a', 'b', 'c']);
  });

  it('reports a node that still encrypts under the old key when its deadline passes', async () => {
    const confirming = start(fakeProber((n) => (n === 'b' ? 'old' : 'new'), []));
    for (const n of nodes) confirming.nodeDone(n, reloaded, Date.now());
    const conf = await confirming.finish();
    expect(conf.ok).toBe(false);
    expect(conf.nodes.filter((n) => !n.confirmed).map((n) => [n.node, n.keyId])).toEqual([
      ['b', 'old'],
    ]);
  });

  it('refuses to finish when a node never reported: nothing passes unconfirmed', async () => {
    const confirming = start(fakeProber(() => 'new', []));
    confirming.nodeDone(nodes[0] as NodeSpec, reloaded, Date.now());
    await expect(confirming.finish()).rejects.toThrow(/no confirmation started for b, c/);
  });

  it('stops the confirmations under way when the phase failed', async () => {
    const asked: string[] = [];
    const confirming = start(
      fakeProber(() => 'old', asked),
      60_000,
    );
    confirming.nodeDone(nodes[0] as NodeSpec, reloaded, Date.now());
    const t0 = Date.now();
    await confirming.abandon();
    // Not the minute its deadline allows.
    expect(Date.now() - t0).toBeLessThan(10_000);
    confirming.nodeDone(nodes[1] as NodeSpec, reloaded, Date.now());
    expect(asked).not.toContain('b');
  });
});

describe('startConfirmAsDone on a pool of more than ten nodes', () => {
  it('confirms them all at once without a listener-leak warning', async () => {
    const many = Array.from({ length: 14 }, (_, i) =>
      localNodeSpec('/tmp/keys', { name: `n${i}` }),
    );
    const manySteps = many.map((node) => ({ ...steps[0], node }) as NodeStep);
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.name);
    };
    process.on('warning', onWarning);
    try {
      // Every node is being confirmed when the last one is handed in: all listen at once.
      const confirming = startConfirmAsDone({
        steps: manySteps,
        versions: ['TLSv1.3'],
        expectedKeyId: 'new',
        server: 'nginx',
        deadlineMs: 1000,
        concurrency: 1,
        prober: fakeProber(() => 'new', []),
      });
      for (const node of many) confirming.nodeDone(node, reloaded, Date.now());
      const conf = await confirming.finish();
      expect(conf.ok).toBe(true);
      await new Promise((r) => setImmediate(r));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

import { describe, expect, it } from 'vitest';
import type { TlsVersion } from '../inventory/types.js';
import { fakeTarget } from './probe-target.fixture.js';
import { checkTicketsResume, takeTickets } from './rotation-checks.js';
import { countingProber as countWith } from './counting-prober.fixture.js';
import type { TicketSample } from './tls-probe.js';
import { probePool, type Prober } from './verify-pool.js';

const key = 'ab'.repeat(16);

const target = fakeTarget;

const sample = (node: string, version: TlsVersion): TicketSample => ({
  node,
  version,
  keyId: key,
  certFingerprint: 'AA:BB',
  session: Buffer.alloc(1),
  takenAt: Date.now(),
  ticketLifetimeHint: 300,
});

/** Every node issues and resumes tickets under `key`; counts the handshakes. */
const countingProber = (): ReturnType<typeof countWith> => countWith(sample);

describe('probePool with tickets taken just before', () => {
  const targets = [target(1), target(2), target(3)];
  const versions: TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];
  const opts = { versions, matrixMax: 8, concurrency: 8, deadlineMs: 5000, seed: 1 };

  it('offers the given tickets instead of taking new ones, with the same report', async () => {
    const fresh = countingProber();
    const plain = await probePool('p', targets, { ...opts, prober: fresh.prober });
    const given = versions.flatMap((v) => targets.map((t) => sample(t.node, v)));
    const reuse = countingProber();
    const reused = await probePool('p', targets, {
      ...opts,
      prober: reuse.prober,
      tickets: given,
    });
    expect(fresh.takes).toHaveLength(6);
    expect(reuse.takes).toEqual([]);
    expect(reuse.offers.sort()).toEqual(fresh.offers.sort());
    expect(reused.ok).toBe(true);
    const strip = (r: typeof plain): unknown => ({
      ...r,
      startedAt: undefined,
      durationMs: undefined,
    });
    expect(strip(reused)).toEqual(strip(plain));
  });

  it('takes a ticket for a node and version that none was given for', async () => {
    const reuse = countingProber();
    const report = await probePool('p', targets, {
      ...opts,
      prober: reuse.prober,
      tickets: [sample('n1', 'TLSv1.3'), sample('n2', 'TLSv1.3')],
    });
    expect(reuse.takes.sort()).toEqual(['TLSv1.2 n1', 'TLSv1.2 n2', 'TLSv1.2 n3', 'TLSv1.3 n3']);
    expect(report.ok).toBe(true);
    expect(report.versions.map((v) => v.nodes.map((n) => n.node))).toEqual([
      ['n1', 'n2', 'n3'],
      ['n1', 'n2', 'n3'],
    ]);
  });
});

describe('deadlines on a pool larger than the concurrency', () => {
  /** Answers every handshake after `ms`, like a healthy node far away. */
  function slowProber(ms: number): Prober {
    const { prober } = countingProber();
    const later = <T>(value: Promise<T>): Promise<T> =>
      new Promise((resolve) => setTimeout(() => resolve(value), ms));
    return {
      takeTicket: (t, v, o) => later(prober.takeTicket(t, v, o)),
      offerTicket: (t, v, s, o) => later(prober.offerTicket(t, v, s, o)),
    };
  }
  const targets = Array.from({ length: 12 }, (_, i) => target(i + 1));

  it('gives every wave of probes its time: a healthy pool passes', async () => {
    // 12 takes and 24 offers one at a time, 20 ms each: about 0.7 s against a base of 0.2 s.
    const report = await probePool('p', targets, {
      versions: ['TLSv1.3'],
      matrixMax: 8,
      concurrency: 1,
      deadlineMs: 200,
      seed: 1,
      prober: slowProber(20),
    });
    expect(report.summary.probes).toBe(24);
    expect(report.ok).toBe(true);
  });

  it('does the same for the ticket checks of a rotation', async () => {
    // 12 x 350 ms one at a time is 4.2 s, beyond the base of four probe timeouts (4 s).
    const taken = await takeTickets(targets, ['TLSv1.3'], {
      concurrency: 1,
      prober: slowProber(350),
    });
    expect(taken.failures).toEqual([]);
    const check = await checkTicketsResume(taken.samples, targets, {
      concurrency: 1,
      prober: slowProber(10),
    });
    expect(check.ok).toBe(true);
    expect(check.offers).toHaveLength(12);
  });
});

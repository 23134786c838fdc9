import { describe, expect, it } from 'vitest';
import type { TlsVersion } from '../inventory/types.js';
import {
  checkTicketsResume,
  probePool,
  type PoolProbeReport,
  type Prober,
  type TicketSample,
} from '../probe/index.js';
import { countingProber } from '../probe/counting-prober.fixture.js';
import { fakeTarget } from '../probe/probe-target.fixture.js';
import { startEarlyChecks, type EarlyChecks } from './early-checks.js';

const oldKey = 'aa'.repeat(16);
const newKey = 'bb'.repeat(16);
const versions: TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];

const sample = (node: string, version: TlsVersion, keyId: string): TicketSample => ({
  node,
  version,
  keyId,
  certFingerprint: 'AA:BB',
  session: Buffer.alloc(1),
  takenAt: Date.now(),
  ticketLifetimeHint: 300,
});

/** Every node resumes every ticket and re-issues one under the new key. */
const recordingProber = (): ReturnType<typeof countingProber> =>
  countingProber((node, version) => sample(node, version, newKey), newKey);

describe.each([
  ['N x N', 3],
  ['cycle', 12],
])('early checks, %s', (_plan, size) => {
  const targets = Array.from({ length: size }, (_, i) => fakeTarget(i + 1));
  const names = targets.map((t) => t.node);
  const before = versions.flatMap((v) => names.map((n) => sample(n, v, oldKey)));
  const fresh = new Map(names.map((n) => [n, versions.map((v) => sample(n, v, newKey))]));
  const start = (prober: Prober): EarlyChecks =>
    startEarlyChecks({ targets, versions, matrixMax: 8, before, prober, inFlight: 8 });
  const verifyWith = (prober: Prober, seed: number): Promise<PoolProbeReport> =>
    probePool('p', targets, {
      versions,
      matrixMax: 8,
      concurrency: 8,
      deadlineMs: 5000,
      tickets: [...fresh.values()].flat(),
      seed,
      prober,
    });

  it('offers a ticket only once the nodes it involves are confirmed', async () => {
    const real = recordingProber();
    const early = start(real.prober);
    const [first, second] = names as [string, string];
    early.nodeConfirmed(first, fresh.get(first) ?? []);
    // Alone, a node gets its own fresh ticket back and a ticket from before; nothing involving
    // another node runs yet.
    for (const o of real.offers) expect(o.endsWith(`>${first}`)).toBe(true);
    expect(real.offers).toContain(`TLSv1.3 ${first}>${first}`);
    early.nodeConfirmed(second, fresh.get(second) ?? []);
    for (const o of real.offers) {
      const [from, to] = (o.split(' ')[1] as string).split('>') as [string, string];
      expect([first, second]).toContain(to);
      expect(names).toContain(from);
    }
    await early.abandon();
  });

  it('hands the verification and the ticket check exactly the offers they plan', async () => {
    const real = recordingProber();
    const early = start(real.prober);
    for (const n of [...names].reverse()) early.nodeConfirmed(n, fresh.get(n) ?? []);
    // Eight at a time: each settles in a microtask and hands the next to the prober.
    await new Promise((resolve) => setImmediate(resolve));
    const made = real.offers.length;
    const after = recordingProber();
    const prober = early.proberFor(after.prober);
    const report = await verifyWith(prober, early.seeds.verify);
    const check = await checkTicketsResume(before, targets, {
      prober,
      seed: early.seeds.tickets,
    });
    // Nothing was asked again: every offer had been made while the nodes were confirmed.
    expect(after.offers).toEqual([]);
    expect(report.ok).toBe(true);
    expect(check.ok).toBe(true);
    expect(report.offers.length + check.offers.length).toBe(made);
    // Each is handed out once: a second verification makes its own handshakes.
    await verifyWith(prober, early.seeds.verify);
    expect(after.offers.length).toBe(report.offers.length);
    await early.abandon();
  });
});

describe('early checks, stopped', () => {
  it('abandon stops the offers under way and starts no more', async () => {
    const targets = [fakeTarget(1), fakeTarget(2)];
    const aborted: string[] = [];
    let started = 0;
    const prober: Prober = {
      takeTicket: () => Promise.reject(new Error('not used')),
      offerTicket: (t, _v, _s, o) =>
        new Promise((_resolve, reject) => {
          started += 1;
          o.signal?.addEventListener('abort', () => {
            aborted.push(t.node);
            reject(new Error('aborted'));
          });
        }),
    };
    const before = [sample('n2', 'TLSv1.3', oldKey)];
    const early = startEarlyChecks({
      targets,
      versions: ['TLSv1.3'],
      matrixMax: 8,
      before,
      prober,
      inFlight: 8,
    });
    early.nodeConfirmed('n1', [sample('n1', 'TLSv1.3', newKey)]);
    expect(started).toBeGreaterThan(0);
    await early.abandon();
    expect(aborted.length).toBe(started);
    early.nodeConfirmed('n2', [sample('n2', 'TLSv1.3', newKey)]);
    expect(started).toBe(aborted.length);
  });
});

describe('early checks, in flight', () => {
  it('hands the prober at most inFlight offers, and lets a check make one not started yet', async () => {
    const targets = Array.from({ length: 6 }, (_, i) => fakeTarget(i + 1));
    const pending: (() => void)[] = [];
    let open = 0;
    let most = 0;
    const slow = countingProber((node, version) => sample(node, version, newKey), newKey);
    const prober: Prober = {
      takeTicket: slow.prober.takeTicket,
      offerTicket: (t, v, s, o) => {
        open += 1;
        most = Math.max(most, open);
        return new Promise((resolve) => {
          pending.push(() => {
            open -= 1;
            resolve(slow.prober.offerTicket(t, v, s, o));
          });
        });
      },
    };
    const early = startEarlyChecks({
      targets,
      versions: ['TLSv1.3'],
      matrixMax: 8,
      before: [],
      prober,
      inFlight: 2,
    });
    const tickets = new Map(targets.map((t) => [t.node, sample(t.node, 'TLSv1.3', newKey)]));
    for (const t of targets) early.nodeConfirmed(t.node, [tickets.get(t.node) as TicketSample]);
    expect(open).toBe(2);
    // The verification asks for everything now: what was not started goes straight to `base`,
    // and is not started again afterwards.
    const base = countingProber((node, version) => sample(node, version, newKey), newKey);
    const asked = early.proberFor(base.prober);
    const last = targets[5] as (typeof targets)[number];
    await asked.offerTicket(last, 'TLSv1.3', tickets.get(last.node) as TicketSample, {});
    expect(base.offers).toEqual(['TLSv1.3 n6>n6']);
    while (pending.length > 0) {
      pending.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(most).toBe(2);
    expect(slow.offers).not.toContain('TLSv1.3 n6>n6');
    expect(slow.offers.length).toBeGreaterThan(2);
    await early.abandon();
  });
});

describe('early checks, behind the confirmations', () => {
  it('starts no offer while a confirmation waits for a handshake slot', async () => {
    const targets = [fakeTarget(1), fakeTarget(2), fakeTarget(3)];
    const real = recordingProber();
    let busy = true;
    const early = startEarlyChecks({
      targets,
      versions: ['TLSv1.3'],
      matrixMax: 8,
      before: [],
      prober: real.prober,
      inFlight: 8,
      mayStart: () => !busy,
    });
    early.nodeConfirmed('n1', [sample('n1', 'TLSv1.3', newKey)]);
    early.nodeConfirmed('n2', [sample('n2', 'TLSv1.3', newKey)]);
    expect(real.offers).toEqual([]);
    busy = false;
    early.nodeConfirmed('n3', [sample('n3', 'TLSv1.3', newKey)]);
    await new Promise((resolve) => setImmediate(resolve));
    // Every pair among three nodes, now that all are confirmed and the slots are free.
    expect(real.offers).toHaveLength(9);
    await early.abandon();
  });
});

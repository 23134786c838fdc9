import { describe, expect, it } from 'vitest';
import { canReuseTickets, shortestTicketLifetimeMs } from './ticket-reuse.js';
import type { TicketSample } from './tls-probe.js';

const sample = (o: Partial<TicketSample> = {}): TicketSample => ({
  node: 'n1',
  version: 'TLSv1.3',
  keyId: 'ab'.repeat(16),
  certFingerprint: '',
  session: Buffer.alloc(1),
  takenAt: 1_000_000,
  ...o,
});

describe('shortestTicketLifetimeMs', () => {
  it('reads configured durations and bare seconds, and takes the shortest with the hints', () => {
    expect(shortestTicketLifetimeMs(['5m', '300', undefined], [])).toBe(300_000);
    expect(shortestTicketLifetimeMs(['10m'], [sample({ ticketLifetimeHint: 120 })])).toBe(120_000);
    expect(shortestTicketLifetimeMs(['300s', 'junk'], [])).toBe(300_000);
  });

  it('is undefined when nothing is known', () => {
    expect(shortestTicketLifetimeMs([undefined, 'junk'], [sample()])).toBeUndefined();
  });
});

describe('canReuseTickets', () => {
  const now = 1_000_000 + 10_000;

  it('reuses tickets that stay under half their lifetime until checked', () => {
    expect(canReuseTickets([sample()], 300_000, 20_000, now)).toBe(true);
    expect(canReuseTickets([sample()], 300_000, 140_000, now)).toBe(true);
  });

  it('takes fresh tickets when the check would come too late', () => {
    expect(canReuseTickets([sample()], 300_000, 141_000, now)).toBe(false);
    // An overlap of 5 minutes against a lifetime of 5 minutes.
    expect(canReuseTickets([sample({ takenAt: now - 300_000 })], 300_000, 0, now)).toBe(false);
  });

  it('takes fresh tickets without a lifetime, without samples, or with a sample lacking a ticket', () => {
    expect(canReuseTickets([sample()], undefined, 0, now)).toBe(false);
    expect(canReuseTickets([], 300_000, 0, now)).toBe(false);
    expect(canReuseTickets([sample(), sample({ keyId: undefined })], 300_000, 0, now)).toBe(false);
  });
});

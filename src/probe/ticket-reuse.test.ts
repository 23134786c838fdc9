import { describe, expect, it } from 'vitest';
import { canReuseTickets, parseTicketLifetime, shortestTicketLifetimeMs } from './ticket-reuse.js';
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

describe('parseTicketLifetime', () => {
  it("reads each server's syntax: bare seconds, nginx's units up to years, HAProxy's from us", () => {
    expect(parseTicketLifetime('300')).toBe(300_000);
    expect(parseTicketLifetime('5m')).toBe(300_000);
    expect(parseTicketLifetime('1d')).toBe(86_400_000);
    expect(parseTicketLifetime('1h30m')).toBe(5_400_000);
    expect(parseTicketLifetime('1M')).toBe(30 * 86_400_000);
    expect(parseTicketLifetime('1w')).toBe(7 * 86_400_000);
    expect(parseTicketLifetime('1500ms')).toBe(1500);
    expect(parseTicketLifetime('300000us')).toBe(300);
  });

  it('is undefined for nothing or what no server writes', () => {
    for (const text of [undefined, '', '5 minutes', 'm5', '5x', '1.5h']) {
      expect(parseTicketLifetime(text), text).toBeUndefined();
    }
  });
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

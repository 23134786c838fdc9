import type { TicketSample } from './tls-probe.js';

/**
 * The shortest ticket lifetime known for a pool, in ms: from the servers' configuration
 * (`configured`, as the read script reports it: "5m", "300s", or a bare number of seconds) and
 * from the lifetime hints of `samples`. Undefined when neither says anything.
 */
export function shortestTicketLifetimeMs(
  configured: readonly (string | undefined)[],
  samples: readonly TicketSample[],
): number | undefined {
  const known: number[] = [];
  for (const text of configured) {
    const ms = parseTicketLifetime(text);
    if (ms !== undefined) known.push(ms);
  }
  for (const s of samples)
    if (s.ticketLifetimeHint !== undefined) known.push(s.ticketLifetimeHint * 1000);
  return known.length === 0 ? undefined : Math.min(...known);
}

/** Milliseconds per unit of the servers' time syntax (nginx: ms to y; HAProxy: us to d). */
const unitMs: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  M: 30 * 86_400_000,
  y: 365 * 86_400_000,
};

/**
 * A ticket lifetime as the servers write it, in ms: a bare number of seconds (Apache's
 * `SSLSessionCacheTimeout 300`, HAProxy's `tune.ssl.lifetime 300`), or numbers with units, as
 * nginx's `ssl_session_timeout 1d` or `1h30m` (the read script keeps letters and digits only).
 * Undefined for anything else: a lifetime nobody can read is not worth failing a run for.
 */
export function parseTicketLifetime(text: string | undefined): number | undefined {
  const t = text?.trim();
  if (!t) return undefined;
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  const part = /(\d+)(us|ms|[smhdwMy])/y;
  let total = 0;
  while (part.lastIndex < t.length) {
    const m = part.exec(t);
    if (!m) return undefined;
    total += Number(m[1]) * (unitMs[m[2] as string] as number);
  }
  return total;
}

/**
 * Whether tickets taken earlier may stand in for tickets taken now: every sample holds a
 * ticket (a key id), and the oldest one will still be less than half the shortest lifetime old
 * when last checked, `untilCheckedMs` from `now`. The margin matters most for checks that
 * expect a rejection: a server also rejects an expired ticket, and that must not pass for a
 * retired key. Without a known lifetime, nothing is reused.
 */
export function canReuseTickets(
  samples: readonly TicketSample[],
  lifetimeMs: number | undefined,
  untilCheckedMs: number,
  now: number = Date.now(),
): boolean {
  if (samples.length === 0 || lifetimeMs === undefined) return false;
  if (samples.some((s) => s.keyId === undefined)) return false;
  const oldest = Math.min(...samples.map((s) => s.takenAt));
  return now - oldest + untilCheckedMs <= lifetimeMs / 2;
}

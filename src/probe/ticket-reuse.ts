import { parseDuration } from '../inventory/duration.js';
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
    const ms = parseLifetime(text);
    if (ms !== undefined) known.push(ms);
  }
  for (const s of samples)
    if (s.ticketLifetimeHint !== undefined) known.push(s.ticketLifetimeHint * 1000);
  return known.length === 0 ? undefined : Math.min(...known);
}

function parseLifetime(text: string | undefined): number | undefined {
  const t = text?.trim();
  if (!t) return undefined;
  try {
    return /^\d+$/.test(t) ? parseDuration(Number(t)) : parseDuration(t);
  } catch {
    return undefined;
  }
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

import { parseTicketLifetime } from '../probe/ticket-reuse.js';
import type { PreflightResult } from './preflight.js';

/**
 * Rotating again before tickets from the last rotation expired shortens their life: with
 * `retain` 1 a ticket survives two rotations, so this only warns.
 */
export function lifetimeWarning(pre: PreflightResult, now: Date): string | undefined {
  let last: number | undefined;
  let lifetimeMs: number | undefined;
  for (const state of pre.states.values()) {
    const t = state.manifest?.lastRotation ? Date.parse(state.manifest.lastRotation) : undefined;
    if (t !== undefined && !Number.isNaN(t)) last = Math.max(last ?? 0, t);
    const ms = parseTicketLifetime(state.ticketLifetime);
    if (ms !== undefined) lifetimeMs = Math.max(lifetimeMs ?? 0, ms);
  }
  if (last === undefined || lifetimeMs === undefined) return undefined;
  const since = now.getTime() - last;
  if (since >= lifetimeMs) return undefined;
  return `the previous rotation was ${Math.round(since / 1000)}s ago, less than the ticket lifetime (${Math.round(lifetimeMs / 1000)}s): tickets issued before it lose their key sooner than the server promised them`;
}

import type { ServerKind } from '../inventory/types.js';
import { canReuseTickets, shortestTicketLifetimeMs, type TicketSample } from '../probe/index.js';
import type { PreflightResult } from './preflight.js';
import type { ApplyOutcome } from '../servers/apply-script.js';
import type { NodeStep, RotationPlan } from './types.js';

/**
 * Servers whose previous generation keeps taking connections for a while after the new one
 * runs, however the transaction saw the change: Apache's graceful restart lets the old
 * children finish (and accept) connections until each notices it must exit.
 */
const lingeringGenerations: ReadonlySet<ServerKind> = new Set<ServerKind>(['apache']);

/**
 * What a node's reload confirmation asks of it (see confirmKeyEverywhere), from its step and its
 * transaction's outcome: how many tickets in a row under the expected key confirm it, and when
 * its reload took effect (its first probe waits until shortly after).
 *
 * One ticket under the expected key confirms a node whose transaction saw a new generation of
 * server processes (generationChanged), on a server whose old generation stops answering soon
 * after: the ticket then names a key of the configuration the new generation loaded, and its
 * first probe waits out the old generation's last moments (reloadedAt + the confirmation's
 * interval, which covers nginx's 100 ms overlap of old and new workers). A node that did not
 * reload has no old generation to outlast: one ticket suffices too. Two in a row stay where the
 * change was not seen (unknown generation: Node.js pools, a missing pid file) and on Apache.
 * A node that saw its old generation stop accepting (nginx), or took the keys through HAProxy's
 * runtime API, needs one ticket and no wait.
 */
export function stepConfirmationNeed(
  step: NodeStep,
  outcome: ApplyOutcome | undefined,
  finished: number | undefined,
  server: ServerKind,
): { confirmations: number; reloadedAt?: number } {
  if (!step.reload) return { confirmations: 1 };
  // Keys set through HAProxy's runtime API are in the running process when the transaction
  // has read them back: there is no other generation that could still answer.
  const viaSocket = outcome?.ok === true && outcome.runtimeApi?.via === 'runtime-api';
  // The node saw its old generation stop accepting: nothing is left to wait out.
  const stopped = outcome?.ok === true && outcome.oldGenerationStopped === true;
  if (viaSocket || stopped) return { confirmations: 1 };
  const seen = outcome?.ok === true && outcome.generationChanged === true;
  if (seen && finished !== undefined && !lingeringGenerations.has(server)) {
    return { confirmations: 1, reloadedAt: finished };
  }
  return { confirmations: 2 };
}

/**
 * The tickets of the last reload confirmation when they may stand in for new ones: they were
 * issued under the key the confirmation expected, by the generation that serves now (no reload
 * since), and will still be well within their lifetime (half of the shortest one the nodes
 * configure or announce) when last checked, `untilCheckedMs` from now. Otherwise undefined:
 * take fresh tickets.
 */
export function reusableTickets(
  tickets: TicketSample[] | undefined,
  plan: RotationPlan,
  pre: PreflightResult,
  untilCheckedMs: number,
): TicketSample[] | undefined {
  if (!tickets) return undefined;
  const configured = plan.pool.nodes.map((n) => pre.states.get(n)?.ticketLifetime);
  const lifetime = shortestTicketLifetimeMs(configured, tickets);
  return canReuseTickets(tickets, lifetime, untilCheckedMs) ? tickets : undefined;
}

import type { TlsVersion } from '../inventory/types.js';
import {
  checkTicketsRejected,
  checkTicketsResume,
  poolProbeSettings,
  probePool,
  type TicketSample,
  type TicketSet,
  type ProbeTarget,
} from '../probe/index.js';
import { adapterFor } from '../servers/index.js';
import { ringIds } from './placement.js';
import type { PoolRunOptions, PoolRunResult } from './run-types.js';
import type { EarlyChecks } from './early-checks.js';
import type { PlanPhase, RotationPlan } from './types.js';

/**
 * After a promotion (or switch): the pool's full verification, then the tickets taken before
 * the phase offered again. `fresh` are the confirmation's tickets under the new key, which stand
 * in for the verification's own (see probePool's `tickets`).
 */
export async function verifyAfter(
  phase: PlanPhase,
  plan: RotationPlan,
  taken: { tickets: TicketSet | undefined; fresh: TicketSample[] | undefined },
  targets: ProbeTarget[],
  versions: TlsVersion[],
  result: PoolRunResult,
  opts: PoolRunOptions,
  early?: EarlyChecks,
): Promise<boolean> {
  const ringKeyIds = [...new Set(phase.steps.flatMap((s) => ringIds(s.ring)))];
  const prober = early ? early.proberFor(opts.prober) : opts.prober;
  opts.emit({ type: 'phase-start', pool: plan.pool.name, phase: 'verify', nodes: targets.length });
  const t0 = Date.now();
  const tickets = taken.tickets;
  const settings = poolProbeSettings(plan.pool);
  result.verification = await probePool(plan.pool.name, targets, {
    ...(taken.fresh ? { tickets: taken.fresh } : {}),
    ...settings,
    versions,
    concurrency: opts.concurrency,
    prober,
    ...(early ? { seed: early.seeds.verify } : {}),
    expectedKeyId: plan.keyId,
    ringKeyIds,
  });
  let ok = result.verification.ok && result.verification.encryptingKeyIds.length === 1;
  const samples = tickets?.samples ?? [];
  const { toCheck, drifted } = ticketsToCheck(phase, plan, samples);
  if (drifted > 0) {
    result.notes.push(
      `${drifted} ticket(s) taken before the promotion were under keys not shared by every node (drift); they fall back to a full handshake`,
    );
  }
  const decryptOnly = adapterFor(plan.pool.server).decryptOnly;
  if (toCheck.length > 0) {
    const check = await checkTicketsResume(toCheck, targets, {
      concurrency: opts.concurrency,
      prober,
      ...(early ? { seed: early.seeds.tickets } : {}),
    });
    if (decryptOnly) {
      result.ticketChecks.push({
        name: 'tickets-before-promotion-resume',
        ok: check.ok,
        problems: check.problems,
      });
      ok &&= check.ok;
    } else {
      // Without a decrypt-only slot these tickets cannot survive the switch: measure, do not fail.
      const lost = check.offers.filter((o) => !o.reused).length;
      result.switchLoss = { offered: check.offers.length, lost };
    }
  }
  opts.emit({ type: 'phase-end', pool: plan.pool.name, phase: 'verify', ok, ms: Date.now() - t0 });
  return ok;
}

/**
 * Which tickets from before a promotion its check offers again. Tickets under a key the pool
 * keeps must still resume. A drifted node's own key is not on its peers, so it cannot be kept:
 * its tickets fall back to a full handshake, as they already did on every other node. A server
 * without a decrypt-only slot keeps nothing: all its tickets are offered, to measure the loss.
 */
export function ticketsToCheck(
  phase: PlanPhase,
  plan: RotationPlan,
  samples: readonly TicketSample[],
): { toCheck: TicketSample[]; drifted: number } {
  if (!adapterFor(plan.pool.server).decryptOnly) return { toCheck: [...samples], drifted: 0 };
  const everywhere = phase.steps
    .map((s) => new Set(ringIds(s.ring)))
    .reduce((a, b) => new Set([...a].filter((id) => b.has(id))));
  const kept = samples.filter((s) => s.keyId !== undefined && everywhere.has(s.keyId));
  return { toCheck: kept, drifted: samples.length - kept.length };
}

/** Whether checkRetired will offer `tickets`: the retire drops every key they were issued under. */
export function retiredCheckApplies(plan: RotationPlan, tickets: TicketSet): boolean {
  const retire = plan.phases.find((p) => p.name === 'retire');
  if (!retire || tickets.samples.length === 0) return false;
  const old = new Set(tickets.samples.map((s) => s.keyId));
  return !retire.steps.some((s) => ringIds(s.ring).some((id) => old.has(id)));
}

/** After a retire that dropped the key tickets were taken under: those tickets must not resume. */
export async function checkRetired(
  plan: RotationPlan,
  tickets: TicketSet | undefined,
  targets: ProbeTarget[],
  result: PoolRunResult,
  opts: PoolRunOptions,
): Promise<void> {
  if (!tickets || !retiredCheckApplies(plan, tickets)) return;
  const check = await checkTicketsRejected(tickets.samples, targets, {
    concurrency: opts.concurrency,
    prober: opts.prober,
  });
  result.ticketChecks.push({
    name: 'retired-key-rejected',
    ok: check.ok,
    problems: check.problems,
  });
  if (!check.ok)
    result.warnings.push(`a retired key still resumes tickets: ${check.problems.join('; ')}`);
}

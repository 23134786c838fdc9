import type { NodeSpec, TlsVersion } from '../inventory/types.js';
import { renderKey } from '../keys/index.js';
import {
  checkTicketsRejected,
  checkTicketsResume,
  confirmKeyEverywhere,
  probePool,
  takeTickets,
  toProbeTarget,
  type TicketSet,
} from '../probe/index.js';
import { adapterFor } from '../servers/index.js';
import type { PendingRotation } from '../servers/types.js';
import { applyPhase } from './apply-phase.js';
import { buildManifest } from './manifest.js';
import { encryptingKey, ringIds } from './placement.js';
import type { PreflightResult } from './preflight.js';
import { rollbackPool } from './rollback-pool.js';
import type { PoolRunOptions, PoolRunResult } from './run-types.js';
import type { PlanPhase, RotationPlan } from './types.js';
import { hangUp, reconnectForPhase, shouldHangUp } from './reconnect.js';
import { waitOverlap } from './wait.js';

/** How long every node may take to issue tickets under the expected key after a reload. */
const confirmDeadlineMs = 30_000;

/**
 * Carries out one pool's plan, phase by phase: every node finishes a phase, and the servers prove
 * it with real handshakes, before the next phase starts. Any failure rolls back what the journal
 * says was done.
 */
export async function runPoolPlan(
  plan: RotationPlan,
  pre: PreflightResult,
  opts: PoolRunOptions,
): Promise<PoolRunResult> {
  const { pool } = plan;
  const adapter = adapterFor(pool.server);
  const targets = pool.nodes.map(toProbeTarget);
  const versions: TlsVersion[] = pool.nodes[0]?.probe.versions ?? ['TLSv1.2', 'TLSv1.3'];
  const result = baseResult(plan);
  if (plan.phases.length === 0) {
    result.outcome = 'nothing-to-do';
    return result;
  }
  const keyBytes = opts.key ? renderKey(adapter.keyLayout, opts.key) : undefined;
  const refBefore = [...plan.before.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  const pendingBase = pre.states.get(pool.nodes[0] as NodeSpec)?.manifest?.pending;
  const started = new Date().toISOString();
  let tickets: TicketSet | undefined;
  const touched = new Set<NodeSpec>();

  const fail = async (error: string): Promise<PoolRunResult> => {
    keyBytes?.fill(0);
    result.error = error;
    return rollbackPool(plan, pre, result, touched, opts);
  };

  try {
    for (const phase of plan.phases) {
      if (phase.waitBeforeMs > 0) {
        if (shouldHangUp(pool.nodes, phase.waitBeforeMs)) await hangUp(pool.nodes, opts.sessions);
        const waited = await waitOverlap(pool.name, phase.waitBeforeMs, opts.signal, opts.emit);
        if (!waited) return await fail('interrupted during the overlap');
      }
      const unreachable = await reconnectForPhase(phase, result, opts);
      if (unreachable) return await fail(unreachable);
      if (opts.signal.aborted) return await fail(`interrupted before ${phase.name}`);
      if (phase.ticketsBefore)
        tickets = await takeTickets(targets, versions, {
          concurrency: opts.concurrency,
          prober: opts.prober,
        });

      const pending = pendingFor(phase, plan, pendingBase, refBefore, started, opts);
      const requests = phase.steps.map((s) => {
        const state = pre.states.get(s.node);
        return {
          node: s.node,
          req: {
            ring: s.ring,
            newKey:
              s.writeKey && keyBytes ? { file: `${plan.keyId}.key`, bytes: keyBytes } : undefined,
            adopt: s.adopt,
            writeManaged: s.writeManaged,
            reload: s.reload,
            deleteFiles: s.deleteFiles,
            manifest: buildManifest(
              state?.manifest,
              pool.name,
              s.ring,
              opts.now(),
              phase.name === 'retire'
                ? { pending: undefined, finished: { ringBefore: pending?.ringBefore ?? refBefore } }
                : { pending },
            ),
          },
        };
      });
      for (const s of phase.steps) touched.add(s.node);
      const applied = await applyPhase(
        pool.name,
        phase.name,
        adapter,
        requests,
        opts.sessions,
        opts.concurrency,
        opts.emit,
      );
      result.phases.push(applied.record);
      if (!applied.record.ok) {
        const bad = applied.record.nodes.filter((n) => !n.ok).map((n) => `${n.node}: ${n.message}`);
        return await fail(`${phase.name} failed on ${bad.join('; ')}`);
      }
      if (phase.name === 'stage' && phase.steps.every((s) => !s.reload)) continue;

      const expect = phase.expectKeyId ?? stageExpectation(plan, pre);
      if (expect && phase.steps.some((s) => s.reload)) {
        const conf = await confirmKeyEverywhere(targets, versions, expect, confirmDeadlineMs, {
          concurrency: opts.concurrency,
          prober: opts.prober,
        });
        if (!conf.ok) {
          const bad = conf.nodes
            .filter((n) => !n.confirmed)
            .map(
              (n) =>
                `${n.node} (${n.version}) ${n.error ? n.error.message : `still issues tickets under ${n.keyId?.slice(0, 12) ?? 'no key'}`}`,
            );
          return await fail(
            `after ${phase.name}, not every node encrypts under ${expect.slice(0, 12)} within ${confirmDeadlineMs / 1000}s: ${[...new Set(bad)].join('; ')}`,
          );
        }
      }
      if (phase.verifyAfter) {
        const ok = await verifyAfter(phase, plan, tickets, targets, versions, result, opts);
        if (!ok) return await fail('verification after promotion failed');
      }
    }
    await checkRetired(plan, tickets, targets, result, opts);
    if (opts.signal.aborted) {
      // A signal is acted on before each phase (rolling back). One that arrives during the last
      // phase finds nothing left to stop: after a verified promotion that is the retire, mere
      // clean-up, which is quicker and safer to finish than to undo.
      const last = plan.phases[plan.phases.length - 1]?.name ?? 'run';
      result.notes.push(
        `interrupted during the last phase (${last}): it was finished rather than rolled back`,
      );
    }
    result.outcome = plan.phases.some((p) => p.name === 'promote' || p.name === 'switch')
      ? 'rotated'
      : 'staged';
    result.after = plan.after;
    return result;
  } finally {
    keyBytes?.fill(0);
  }
}

async function verifyAfter(
  phase: PlanPhase,
  plan: RotationPlan,
  tickets: TicketSet | undefined,
  targets: ReturnType<typeof toProbeTarget>[],
  versions: TlsVersion[],
  result: PoolRunResult,
  opts: PoolRunOptions,
): Promise<boolean> {
  const first = plan.pool.nodes[0];
  const ringKeyIds = [...new Set(phase.steps.flatMap((s) => ringIds(s.ring)))];
  opts.emit({ type: 'phase-start', pool: plan.pool.name, phase: 'verify', nodes: targets.length });
  const t0 = Date.now();
  result.verification = await probePool(plan.pool.name, targets, {
    versions,
    matrixMax: first?.probe.matrixMax ?? 8,
    concurrency: opts.concurrency,
    prober: opts.prober,
    deadlineMs: Math.max(10_000, 4 * (first?.probe.timeoutMs ?? 5000) * versions.length),
    expectedKeyId: plan.keyId,
    ringKeyIds,
  });
  let ok = result.verification.ok && result.verification.encryptingKeyIds.length === 1;
  // Tickets under a key the pool keeps must still resume. A drifted node's own key is not on
  // its peers, so it cannot be kept: its tickets fall back to a full handshake, as they already
  // did on every other node.
  const decryptOnly = adapterFor(plan.pool.server).decryptOnly;
  const samples = tickets?.samples ?? [];
  const everywhere = phase.steps
    .map((s) => new Set(ringIds(s.ring)))
    .reduce((a, b) => new Set([...a].filter((id) => b.has(id))));
  const kept = samples.filter((s) => s.keyId !== undefined && everywhere.has(s.keyId));
  if (decryptOnly && samples.length > kept.length) {
    result.notes.push(
      `${samples.length - kept.length} ticket(s) taken before the promotion were under keys not shared by every node (drift); they fall back to a full handshake`,
    );
  }
  const toCheck = decryptOnly ? kept : samples;
  if (toCheck.length > 0) {
    const check = await checkTicketsResume(toCheck, targets, {
      concurrency: opts.concurrency,
      prober: opts.prober,
      matrixMax: first?.probe.matrixMax ?? 8,
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

/** After a retire that dropped the key tickets were taken under: those tickets must not resume. */
async function checkRetired(
  plan: RotationPlan,
  tickets: TicketSet | undefined,
  targets: ReturnType<typeof toProbeTarget>[],
  result: PoolRunResult,
  opts: PoolRunOptions,
): Promise<void> {
  const retire = plan.phases.find((p) => p.name === 'retire');
  if (!retire || !tickets || tickets.samples.length === 0) return;
  const old = new Set(tickets.samples.map((s) => s.keyId));
  const stillHeld = retire.steps.some((s) => ringIds(s.ring).some((id) => old.has(id)));
  if (stillHeld) return;
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

/** The key every node must still encrypt with after staging, when the pool agrees on one. */
function stageExpectation(plan: RotationPlan, pre: PreflightResult): string | undefined {
  const keys = new Set(
    plan.pool.nodes.map((n) => (pre.states.get(n) ? encryptingKey(pre.states.get(n)!) : undefined)),
  );
  const [only] = [...keys];
  return keys.size === 1 && only ? only : undefined;
}

function pendingFor(
  phase: PlanPhase,
  plan: RotationPlan,
  base: PendingRotation | undefined,
  refBefore: string[],
  started: string,
  opts: PoolRunOptions,
): PendingRotation | undefined {
  if (phase.name === 'retire') return base && base.keyId === plan.keyId ? base : undefined;
  const resumed = base && base.keyId === plan.keyId ? base : undefined;
  return {
    phase: phase.name === 'stage' ? 'staged' : 'promoted',
    keyId: plan.keyId,
    started: resumed?.started ?? started,
    ringBefore: resumed?.ringBefore ?? refBefore,
    promoteAfter:
      resumed?.promoteAfter ?? new Date(opts.now().getTime() + opts.overlapMs).toISOString(),
  };
}

function baseResult(plan: RotationPlan): PoolRunResult {
  return {
    pool: plan.pool.name,
    server: plan.pool.server,
    kind: plan.kind,
    keyId: plan.keyId,
    before: Object.fromEntries([...plan.before.entries()].map(([n, ids]) => [n.name, ids])),
    after: plan.after,
    outcome: 'nothing-to-do',
    exitCode: 0,
    phases: [],
    verification: undefined,
    ticketChecks: [],
    error: undefined,
    needsPerson: [],
    notes: [...plan.notes],
    warnings: [...plan.warnings],
  };
}

import type { NodeSpec } from '../inventory/types.js';
import { renderKey } from '../keys/index.js';
import {
  poolProbeSettings,
  takeTickets,
  toProbeTarget,
  type TicketSample,
  type TicketSet,
} from '../probe/index.js';
import { adapterFor } from '../servers/index.js';
import type { PendingRotation } from '../servers/types.js';
import { applyPhase } from './apply-phase.js';
import { startConfirmAsDone } from './confirm-as-done.js';
import { reusableTickets } from './confirm-plan.js';
import { retireLockRelease } from './lock-handoff.js';
import { buildManifest, keptOnDisk } from './manifest.js';
import { earlyChecksMaxNodes, startEarlyChecks, type EarlyChecks } from './early-checks.js';
import { checkRetired, retiredCheckApplies, ticketsToCheck, verifyAfter } from './verify-phase.js';
import { encryptingKey } from './placement.js';
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
  const { versions } = poolProbeSettings(pool);
  const result = baseResult(plan);
  if (plan.phases.length === 0) {
    result.outcome = 'nothing-to-do';
    return result;
  }
  const keyBytes = opts.key ? renderKey(adapter.keyLayout, opts.key) : undefined;
  const refBefore = [...plan.before.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  // A rollback stopped in its retire left a record on some nodes only.
  const pendingBase = pool.nodes
    .map((n) => pre.states.get(n)?.manifest?.pending)
    .find((p) => p !== undefined);
  const started = new Date().toISOString();
  let tickets: TicketSet | undefined;
  // The tickets of the last reload confirmation, while no reload has happened since, and how
  // long that phase took (transactions and confirmation).
  let confirmed: { tickets: TicketSample[]; spentMs: number } | undefined;
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
      const earlier = confirmed;
      confirmed = undefined;
      // The previous phase's confirmation took a ticket from every node and version under the key
      // they all encrypt with, from the generation that still serves: the same tickets as new
      // ones would be. They are checked after this phase and, once their key is retired, after
      // the retire (about three phases like the last one from now), so they are reused only
      // when that leaves them well within their lifetime; after a long overlap they are not.
      const before = reusableTickets(earlier?.tickets, plan, pre, 3 * (earlier?.spentMs ?? 0));
      if (phase.ticketsBefore)
        tickets = before
          ? { samples: before, failures: [] }
          : await takeTickets(targets, versions, {
              concurrency: opts.concurrency,
              prober: opts.prober,
            });

      const pending = pendingFor(phase, plan, pendingBase, refBefore, started, opts);
      const requests = phase.steps.map((s) => {
        const state = pre.states.get(s.node);
        return {
          node: s.node,
          req: () => ({
            ring: s.ring,
            newKey:
              s.writeKey && keyBytes ? { file: `${plan.keyId}.key`, bytes: keyBytes } : undefined,
            adopt: s.adopt,
            writeManaged: s.writeManaged,
            reload: s.reload,
            deleteFiles: s.deleteFiles,
            releaseLock: retireLockRelease(pre, plan, phase, s.node, opts.runId),
            pidFile: state?.pidFile,
            manifest: buildManifest(
              state?.manifest,
              pool.name,
              s.ring,
              opts.now(),
              phase.name === 'retire'
                ? {
                    pending: undefined,
                    finished: {
                      ringBefore: pending?.ringBefore ?? refBefore,
                      by: plan.kind === 'rollback' ? 'rollback' : 'rotation',
                    },
                  }
                : { pending },
              keptOnDisk(s.node, state, s.deleteFiles),
            ),
          }),
        };
      });
      for (const s of phase.steps) touched.add(s.node);
      const t0 = Date.now();
      const expect = phase.expectKeyId ?? stageExpectation(plan, pre);
      let early: EarlyChecks | undefined;
      const confirming =
        expect !== undefined && phase.steps.some((s) => s.reload)
          ? startConfirmAsDone({
              steps: phase.steps,
              versions,
              expectedKeyId: expect,
              server: pool.server,
              deadlineMs: confirmDeadlineMs,
              concurrency: opts.concurrency,
              prober: opts.prober,
              onConfirmed: (node, fresh) => early?.nodeConfirmed(node, fresh),
            })
          : undefined;
      if (confirming && phase.verifyAfter && pool.nodes.length <= earlyChecksMaxNodes) {
        early = startEarlyChecks({
          targets,
          versions,
          matrixMax: poolProbeSettings(pool).matrixMax,
          before: ticketsToCheck(phase, plan, tickets?.samples ?? []).toCheck,
          prober: confirming.prober,
          inFlight: opts.concurrency,
          mayStart: confirming.idle,
        });
      }
      const applied = await applyPhase(
        pool.name,
        phase.name,
        adapter,
        requests,
        opts.sessions,
        opts.concurrency,
        opts.emit,
        confirming?.nodeDone,
      );
      result.phases.push(applied.record);
      if (!applied.record.ok) {
        await Promise.all([confirming?.abandon(), early?.abandon()]);
        const bad = applied.record.nodes.filter((n) => !n.ok).map((n) => `${n.node}: ${n.message}`);
        return await fail(`${phase.name} failed on ${bad.join('; ')}`);
      }
      if (phase.name === 'stage' && phase.steps.every((s) => !s.reload)) continue;
      if (confirming && expect !== undefined) {
        const conf = await confirming.finish();
        if (!conf.ok) {
          await early?.abandon();
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
        confirmed = { tickets: conf.tickets, spentMs: Date.now() - t0 };
      }
      if (phase.verifyAfter) {
        // The confirmation just took a ticket from every node and version under the new key, from
        // the generation that serves it: the very tickets the verification would take first.
        const fresh = reusableTickets(confirmed?.tickets, plan, pre, confirmed?.spentMs ?? 0);
        const ok = await verifyAfter(
          phase,
          plan,
          { tickets, fresh },
          targets,
          versions,
          result,
          opts,
          early,
        );
        await early?.abandon();
        if (!ok) return await fail('verification after promotion failed');
        // Tickets hold sessions, about 1.5 KB each, 20 MB on 10,000 nodes: keep them only
        // while a later step offers them.
        const rest = plan.phases.slice(plan.phases.indexOf(phase) + 1);
        if (!rest.some((p) => p.ticketsBefore)) confirmed = undefined;
        if (tickets && !retiredCheckApplies(plan, tickets)) tickets = undefined;
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
    ...(plan.kind === 'rollback' ? { by: 'rollback' as const } : {}),
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

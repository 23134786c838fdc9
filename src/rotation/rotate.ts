import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import type { PoolSpec } from '../inventory/types.js';
import { generateKey, keyIdOf, zeroKey, type TicketKey } from '../keys/index.js';
import { OperationError, StekError } from '../errors.js';
import { directProber } from '../probe/index.js';
import { openPoolProber, type PoolProber } from '../probe/ssh-probe-pool.js';
import { closeSessions } from '../remote/session-pool.js';
import type { SessionMap } from '../fleet/inspect-pools.js';
import { adapterFor } from '../servers/index.js';
import { lifetimeWarning } from './lifetime.js';
import { checkThroughProber, startDirectChecks } from './listening.js';
import { dryRunLockWarning, lockSlackMs, newLockHolder } from './lock.js';
import { planRollback } from './plan-rollback.js';
import { planRotation, type RotationMode } from './plan-rotation.js';
import { preflightPool, type PreflightResult } from './preflight.js';
import { extendLocks, releaseLocks } from './run-locks.js';
import { runPoolPlan } from './run-pool.js';
import type { PoolRunResult } from './run-types.js';
import type { EmitEvent, RotationPlan } from './types.js';

export interface RotateRequest {
  /** `rollback` returns each pool to the ring before its last rotation instead. */
  planner: 'rotate' | 'rollback';
  pools: PoolSpec[];
  mode: RotationMode;
  dryRun: boolean;
  /** Overrides every pool's overlap. */
  overlapMs: number | undefined;
  concurrency: number;
  acceptNewHostKey: boolean;
  breakLock: boolean;
  emit: EmitEvent;
  signal: AbortSignal;
  /** Asked once every plan is known and before anything is written; false stops the run. */
  confirm: ((plans: RotationPlan[]) => Promise<boolean>) | undefined;
}

export interface PreflightFailure {
  pool: string;
  failures: { node: string; reason: string }[];
  locked: { node: string; holder: string }[];
}

export interface RotateReport {
  runId: string;
  startedAt: string;
  finishedAt: string;
  mode: RotationMode;
  dryRun: boolean;
  exitCode: 0 | 1 | 3 | 4;
  /** Why the run stopped before changing anything, if it did. */
  stopped: 'preflight' | 'locked' | 'declined' | 'refused' | undefined;
  preflight: PreflightFailure[];
  /** Pools whose plan could not be made, and why (nothing to promote, nothing to roll back to). */
  refused: { pool: string; reason: string; hint: string | undefined }[];
  plans: RotationPlan[];
  results: PoolRunResult[];
  /** Per pool, the last finished rotation the nodes recorded before this run (ISO 8601). */
  lastRotation: Record<string, string | undefined>;
  warnings: string[];
}

/**
 * The whole run: preflight and lock every pool, plan, ask, then carry out each pool's plan.
 * Locks are released whatever happens; connections are opened once and reused by every phase.
 */
export async function rotate(req: RotateRequest): Promise<RotateReport> {
  const runId = randomUUID();
  const startedAt = new Date();
  const sessions: SessionMap = new Map();
  const report: RotateReport = {
    runId,
    startedAt: startedAt.toISOString(),
    finishedAt: startedAt.toISOString(),
    mode: req.mode,
    dryRun: req.dryRun,
    exitCode: 0,
    stopped: undefined,
    preflight: [],
    refused: [],
    plans: [],
    results: [],
    lastRotation: {},
    warnings: [],
  };
  const maxOverlap = Math.max(0, ...req.pools.map((p) => req.overlapMs ?? p.overlapMs));
  const holder = newLockHolder(runId, maxOverlap + lockSlackMs, startedAt);
  const keys: TicketKey[] = [];
  /**
   * Ends the run before any plan ran. Stale locks it broke are told even then: a run that
   * changed nothing may still have removed another run's lock.
   */
  const stop = (stopped: NonNullable<RotateReport['stopped']>, exitCode: 1 | 4): RotateReport => {
    report.stopped = stopped;
    report.exitCode = exitCode;
    report.warnings.push(...pre.flatMap((p) => p.brokeLocks));
    return report;
  };
  const probers = new Map<PoolSpec, PoolProber>();
  let pre: PreflightResult[] = [];
  const lifetimeWarnings = new Set<string>();
  // Whether each node's TLS port answers at all, beside the preflight's SSH commands.
  const listening = startDirectChecks(req.pools, req.concurrency, req.signal);
  try {
    for (const pool of req.pools)
      req.emit({
        type: 'phase-start',
        pool: pool.name,
        phase: 'preflight',
        nodes: pool.nodes.length,
      });
    pre = await Promise.all(
      req.pools.map((pool) =>
        preflightPool(pool, sessions, {
          concurrency: req.concurrency,
          acceptNewHostKey: req.acceptNewHostKey,
          lock: req.dryRun ? undefined : { holder, breakLock: req.breakLock },
          now: startedAt,
        }),
      ),
    );
    listening.finishSoon();
    for (const p of pre) {
      const recorded = [...p.states.values()]
        .map((st) => st.manifest?.lastRotation)
        .filter((x) => x);
      report.lastRotation[p.pool.name] = recorded.sort().pop();
      const failed = new Set(p.failures.map((f) => f.node));
      for (const silent of await listening.silent(p.pool))
        if (!failed.has(silent.node)) p.failures.push(silent);
      const ok = p.failures.length === 0 && p.locked.length === 0;
      req.emit({
        type: 'phase-end',
        pool: p.pool.name,
        phase: 'preflight',
        ok,
        ms: Date.now() - startedAt.getTime(),
      });
      if (!ok) report.preflight.push({ pool: p.pool.name, failures: p.failures, locked: p.locked });
    }
    if (report.preflight.some((p) => p.locked.length > 0)) {
      return stop('locked', 4);
    }
    if (report.preflight.length > 0) {
      return stop('preflight', 1);
    }
    for (const p of pre) {
      const key = generateKey(p.pool.keySize);
      keys.push(key);
      const adapter = adapterFor(p.pool.server);
      let plan: RotationPlan;
      try {
        assertKeySizes(p);
        plan =
          req.planner === 'rollback'
            ? planRollback(p.pool, adapter, p.states)
            : planRotation({
                pool: p.pool,
                adapter,
                states: p.states,
                newKeyId: keyIdOf(key),
                mode: req.mode,
                overlapMs: req.overlapMs ?? p.pool.overlapMs,
                now: startedAt,
              });
      } catch (err) {
        if (!(err instanceof StekError)) throw err;
        report.refused.push({ pool: p.pool.name, reason: err.message, hint: err.hint });
        continue;
      }
      const warning = req.planner === 'rotate' ? lifetimeWarning(p, startedAt) : undefined;
      if (warning) {
        plan.warnings.push(warning);
        lifetimeWarnings.add(warning);
      }
      plan.warnings.push(...p.warnings);
      const locked = req.dryRun ? dryRunLockWarning(p.states.values(), startedAt) : undefined;
      if (locked) plan.warnings.push(locked);
      report.plans.push(plan);
      req.emit({ type: 'plan', pool: p.pool.name, plan });
    }
    if (report.refused.length > 0) {
      return stop('refused', 1);
    }
    if (req.dryRun) return report;
    // Before asking: a pool whose probes cannot run (probe.via: ssh), or whose TLS servers do not
    // answer its probing node, stops before any write.
    await Promise.all(
      report.plans
        .filter((plan) => plan.phases.length > 0)
        .map(async (plan) => {
          const opened = await openPoolProber(plan.pool, {
            acceptNewHostKey: req.acceptNewHostKey,
          });
          probers.set(plan.pool, opened);
          if (opened.failures.length > 0 && opened.probedFrom === undefined)
            report.preflight.push({ pool: plan.pool.name, failures: opened.failures, locked: [] });
          const silent = await checkThroughProber(plan.pool, opened, req.concurrency);
          if (silent.length > 0)
            report.preflight.push({ pool: plan.pool.name, failures: silent, locked: [] });
        }),
    );
    if (report.preflight.length > 0) {
      return stop('preflight', 1);
    }
    if (req.confirm && !(await req.confirm(report.plans))) {
      return stop('declined', 1);
    }
    // The lock must last through the plan's waits: a stage finished at the time it recorded, or
    // a question answered late, can need it longer than it was taken for.
    const unlocked = await extendLocks(report.plans, pre, holder, sessions, req.concurrency);
    if (unlocked.length > 0) {
      report.preflight.push(...unlocked.map((x) => ({ ...x, locked: [] })));
      return stop('preflight', 1);
    }
    const limit = pLimit(Math.max(1, Math.min(req.pools.length, 8)));
    report.results = await Promise.all(
      report.plans.map((plan) =>
        limit(() =>
          runPoolPlan(plan, pre.find((p) => p.pool === plan.pool) as PreflightResult, {
            sessions,
            emit: req.emit,
            signal: req.signal,
            concurrency: req.concurrency,
            runId,
            overlapMs: req.overlapMs ?? plan.pool.overlapMs,
            now: () => new Date(),
            key: plan.generateKey ? keys[pre.findIndex((p) => p.pool === plan.pool)] : undefined,
            prober: probers.get(plan.pool)?.prober ?? directProber,
          }).then((result) => withProbeSource(result, probers.get(plan.pool))),
        ),
      ),
    );
    // Rotating early shortens tickets' lives only where a rotation went through.
    for (const r of report.results)
      if (r.outcome !== 'rotated' && r.outcome !== 'staged')
        r.warnings = r.warnings.filter((w) => !lifetimeWarnings.has(w));
    report.exitCode = worst(report.results.map((r) => r.exitCode));
    return report;
  } finally {
    await listening.stop();
    for (const k of keys) zeroKey(k);
    await Promise.all([...probers.values()].map((p) => p.close()));
    await releaseLocks(pre, sessions, runId, req.concurrency);
    await closeSessions(sessions);
    report.finishedAt = new Date().toISOString();
  }
}

/**
 * HAProxy reads all keys of one file at one size: a pool whose keys are 80 bytes cannot take a
 * 48-byte key into the same ring (and the other way round) without breaking the file.
 */
function assertKeySizes(p: PreflightResult): void {
  if (p.pool.server !== 'haproxy') return;
  for (const [node, state] of p.states) {
    const other = state.ring.find((e) => e.size !== undefined && e.size !== p.pool.keySize);
    if (other) {
      throw new OperationError(
        `pool ${p.pool.name}: ${node.name} holds ${other.size}-byte keys but the pool's keySize is ${p.pool.keySize}; HAProxy cannot mix sizes in one file`,
        `set keySize: ${other.size} for the pool`,
      );
    }
  }
}

/** Says in the result where its probes ran. */
function withProbeSource(result: PoolRunResult, probe: PoolProber | undefined): PoolRunResult {
  if (!probe) return result;
  result.via = probe.via;
  if (probe.probedFrom !== undefined) result.probedFrom = probe.probedFrom;
  return result;
}

function worst(codes: (0 | 1 | 3)[]): 0 | 1 | 3 {
  return codes.includes(3) ? 3 : codes.includes(1) ? 1 : 0;
}

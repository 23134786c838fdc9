import pLimit from 'p-limit';
import type { NodeSpec } from '../inventory/types.js';
import { quoteShell } from '../remote/shell.js';
import type { SessionMap } from '../fleet/inspect-pools.js';
import { acquireLockScript, describeHolder, heldLockScript, parseLockOutput } from './lock.js';
import type { PreflightResult } from './preflight.js';
import type { PlanPhase, RotationPlan } from './types.js';

/** What a node's transaction needs to release the pool lock itself. */
export interface LockRelease {
  /** Sets `stek_rl` where this run holds the lock (heldLockScript). */
  script: string;
  /** Called once the node said it released the lock. */
  onReleased: () => void;
}

/**
 * The pool lock is released by the retire transaction, the node's last command of a run, instead
 * of one more command; only on a node where this run holds it, and only in the plan's last phase.
 * A failed transaction keeps the lock (the separate release at the end of the run takes it), so
 * while a retire fails somewhere, that node's lock stops any other run at its preflight.
 */
export function retireLockRelease(
  pre: PreflightResult,
  plan: RotationPlan,
  phase: PlanPhase,
  node: NodeSpec,
  runId: string,
): LockRelease | undefined {
  const last = plan.phases[plan.phases.length - 1];
  if (phase.name !== 'retire' || phase !== last || !pre.lockedByUs.includes(node)) return undefined;
  return {
    script: heldLockScript(runId),
    onReleased: () => {
      const i = pre.lockedByUs.indexOf(node);
      if (i >= 0) pre.lockedByUs.splice(i, 1);
      pre.released.push(node);
    },
  };
}

/**
 * Before a rollback after the retire (its confirmation failed), takes the lock again on the
 * nodes whose retire released it: the rollback writes there, and no other run may start
 * meanwhile. A node that another run locked in between is left out of the rollback and named.
 */
export async function retakeReleasedLocks(
  pre: PreflightResult,
  touched: Set<NodeSpec>,
  sessions: SessionMap,
  concurrency: number,
): Promise<string[]> {
  const holder = pre.lockHolder;
  const nodes = pre.released.filter((n) => touched.has(n));
  if (!holder || nodes.length === 0) return [];
  const limit = pLimit(Math.max(1, concurrency));
  const notes: string[] = [];
  await Promise.all(
    nodes.map((node) =>
      limit(async () => {
        const session = sessions.get(node);
        let lock;
        try {
          const res = await session?.exec(
            `sh -c ${quoteShell(acquireLockScript(node, holder, undefined))}`,
            { timeoutMs: 15_000 },
          );
          lock = res ? parseLockOutput(res.stdout) : undefined;
        } catch {
          lock = undefined;
        }
        if (lock?.status === 'held') {
          touched.delete(node);
          notes.push(
            `${node.name}: not rolled back, another run took its lock after the retire: ${describeHolder(lock.holder)}`,
          );
          return;
        }
        pre.released.splice(pre.released.indexOf(node), 1);
        if (lock?.status === 'ok') pre.lockedByUs.push(node);
      }),
    ),
  );
  return notes;
}

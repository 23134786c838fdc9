import pLimit from 'p-limit';
import type { SessionMap } from '../fleet/inspect-pools.js';
import type { NodeSpec } from '../inventory/types.js';
import { quoteShell } from '../remote/shell.js';
import { takeDirLock } from '../servers/dir-flock.js';
import { heldLockScript, lockSlackMs, releaseLockScript, type LockHolder } from './lock.js';
import { reconnect } from './reconnect.js';
import type { PreflightResult } from './preflight.js';
import type { RotationPlan } from './types.js';

/**
 * What must be left of the lock's life once the plan's waits are over, for the phases after them:
 * less than the margin a lock is taken with (lockSlackMs), so that an ordinary run, whose waits
 * the lock was sized for, never needs one more command per node to extend it.
 */
const leftAfterWaitsMs = 10 * 60_000;

/**
 * The lock a run takes lasts its longest overlap plus a margin. A run that finishes a key staged
 * earlier waits instead for the promotion time its stage recorded, which may be later than that,
 * and a run whose question was answered late starts later than its lock assumed: its lock must
 * then be made to last, or another run could judge it expired, break it and work on the same
 * nodes meanwhile. Returns the expiry the plan needs, or undefined when the lock the run holds
 * already lasts long enough.
 */
export function lockExpiryNeeded(
  plan: RotationPlan,
  holder: LockHolder,
  now: Date,
): string | undefined {
  const waitMs = plan.phases.reduce((sum, ph) => sum + ph.waitBeforeMs, 0);
  if (now.getTime() + waitMs + leftAfterWaitsMs <= Date.parse(holder.expires)) return undefined;
  return new Date(now.getTime() + waitMs + lockSlackMs).toISOString();
}

/**
 * Shell that rewrites this run's lock file with a later expiry, only where this run still holds
 * it, under the key directory's flock (which a run breaking a stale lock holds too). The new file
 * replaces the old one with a rename, so a reader sees one or the other whole. Prints
 * RENEW|ok or RENEW|lost.
 */
export function renewLockScript(node: NodeSpec, holder: LockHolder): string {
  const text = `${JSON.stringify(holder)}\n`;
  return [
    `cd ${quoteShell(node.keyDir)} 2>/dev/null || { echo "RENEW|lost"; exit 0; }`,
    'exec 8<.',
    `${takeDirLock(8, 30)} || { echo "RENEW|lost"; exit 0; }`,
    heldLockScript(holder.runId),
    '[ -n "$stek_rl" ] || { echo "RENEW|lost"; exit 0; }',
    't=.stekctl-lock.$$',
    'umask 077',
    `if printf %s ${quoteShell(text)} > "$t" && mv -f "$t" stekctl.lock; then echo "RENEW|ok"; else rm -f "$t"; echo "RENEW|lost"; fi`,
  ].join('\n');
}

/**
 * Makes this run's lock last as long as each plan waits, on the nodes of the pools whose plan
 * waits past its expiry. Returns, per pool, the nodes where it could not: the run must then stop
 * before it changes anything.
 */
export async function extendLocks(
  plans: RotationPlan[],
  pre: PreflightResult[],
  holder: LockHolder,
  sessions: SessionMap,
  concurrency: number,
): Promise<{ pool: string; failures: { node: string; reason: string }[] }[]> {
  const out: { pool: string; failures: { node: string; reason: string }[] }[] = [];
  for (const plan of plans) {
    const expires = lockExpiryNeeded(plan, holder, new Date());
    const p = pre.find((x) => x.pool === plan.pool);
    if (!expires || !p) continue;
    const failures = await extendPoolLock(p, { ...holder, expires }, sessions, concurrency);
    if (failures.length > 0) out.push({ pool: plan.pool.name, failures });
  }
  return out;
}

async function extendPoolLock(
  pre: PreflightResult,
  holder: LockHolder,
  sessions: SessionMap,
  concurrency: number,
): Promise<{ node: string; reason: string }[]> {
  const limit = pLimit(Math.max(1, concurrency));
  const failures: { node: string; reason: string }[] = [];
  await Promise.all(
    pre.lockedByUs.map((node) =>
      limit(async () => {
        const why = `could not make this run's lock last until ${holder.expires}, the end of its wait`;
        try {
          const session = sessions.get(node);
          const res = await session?.exec(`sh -c ${quoteShell(renewLockScript(node, holder))}`, {
            timeoutMs: 45_000,
          });
          if (res?.stdout.includes('RENEW|ok')) return;
          failures.push({ node: node.name, reason: `${why}: this run no longer holds it` });
        } catch (err) {
          failures.push({
            node: node.name,
            reason: `${why}: ${err instanceof Error ? err.message : String(err)}`,
          });
        }
      }),
    ),
  );
  return failures;
}

/**
 * Releases this run's lock on every node that still holds it, whatever happened. A node whose
 * connection the run hung up during a long wait (ssh.reconnectAfter) is logged in to again: a
 * lock left behind would hold off every other run until it expires.
 */
export async function releaseLocks(
  pre: PreflightResult[],
  sessions: SessionMap,
  runId: string,
  concurrency: number,
): Promise<void> {
  // Bounded by --concurrency like every other round of commands: the operator's limit holds for
  // the whole run, clean-up included.
  const limit = pLimit(Math.max(1, concurrency));
  const held = pre.flatMap((p) => p.lockedByUs);
  await reconnect(held, sessions, concurrency);
  await Promise.allSettled(
    held.map((node) =>
      limit(async () => {
        const session = sessions.get(node);
        await session?.exec(`sh -c ${quoteShell(releaseLockScript(node, runId))}`, {
          timeoutMs: 15_000,
        });
      }),
    ),
  );
}

import pLimit from 'p-limit';
import type { NodeSpec } from '../inventory/types.js';
import {
  confirmKeyEverywhere,
  poolProbeSettings,
  probePool,
  toProbeTarget,
} from '../probe/index.js';
import { openSession } from '../remote/ssh-session.js';
import { adapterFor } from '../servers/index.js';
import { readNodeState } from '../servers/node-state.js';
import type { NodeState, PlacedRing, ServerAdapter } from '../servers/types.js';
import { applyPhase } from './apply-phase.js';
import { findStoppedServers } from './listening.js';
import { retakeReleasedLocks } from './lock-handoff.js';
import { buildManifest, keptOnDisk } from './manifest.js';
import { encryptingKey, placedBefore, ringIds, stateRingIds } from './placement.js';
import type { PreflightResult } from './preflight.js';
import type { PoolRunOptions, PoolRunResult } from './run-types.js';
import type { RotationPlan } from './types.js';

/**
 * Puts every node the run touched back to its ring from before the run, reading each node again
 * rather than trusting what the run believes it did. While any node's state is unknown, the new
 * key stays on every other node for decryption, so that whatever that node does, its tickets
 * still resume: the pool is then left safe but not restored, and the node is named.
 */
export async function rollbackPool(
  plan: RotationPlan,
  pre: PreflightResult,
  result: PoolRunResult,
  touched: Set<NodeSpec>,
  opts: PoolRunOptions,
): Promise<PoolRunResult> {
  const { pool } = plan;
  const adapter = adapterFor(pool.server);
  const K = plan.keyId;
  opts.emit({
    type: 'note',
    pool: pool.name,
    level: 'warn',
    message:
      touched.size > 0
        ? `rolling back: ${firstLine(result.error ?? '')}`
        : `stopped before any change: ${firstLine(result.error ?? '')}`,
  });
  // A retire that released its locks before its confirmation failed: lock again first.
  const relocked = await retakeReleasedLocks(pre, touched, opts.sessions, opts.concurrency);
  result.notes.push(...relocked);
  const now = await readAll([...touched], adapter, opts);
  const unknown = [...touched].filter((n) => !now.has(n));
  const before = (n: NodeSpec) =>
    placedBefore(n, pre.states.get(n) as NodeState, adapter.kind === 'haproxy');

  // Step 1 (servers with a decrypt-only slot): nodes that encrypt with the new key go back to
  // their old encrypting key, keeping the new one for decryption while their peers catch up.
  if (adapter.decryptOnly) {
    const demote = [...now.entries()].filter(
      ([n, s]) => encryptingKey(s) === K && before(n)?.encrypt.keyId !== K,
    );
    const steps = demote.flatMap(([n]) => {
      const b = before(n);
      return b
        ? [
            {
              node: n,
              // A resumed stage already holds the key in its ring: name it once.
              ring: (ringIds(b).includes(K)
                ? b
                : { ...b, staged: { keyId: K, path: `${n.keyDir}/${K}.key` } }) as PlacedRing,
            },
          ]
        : [];
    });
    if (steps.length > 0 && !(await restoreRings(plan, pre, adapter, steps, [], opts, result)))
      unknown.push(...steps.map((s) => s.node));
  }
  // Step 2: once nobody can be encrypting with the new key, take it out everywhere. A node that
  // cannot be read, but that no step making K its encrypting key ever reached (a stage only),
  // cannot be encrypting with K either: it holds no one back.
  const mayEncrypt = (n: NodeSpec): boolean =>
    plan.phases.some(
      (phase) =>
        phase.steps.some((st) => st.node === n && st.ring.encrypt.keyId === K) &&
        result.phases.some((r) => r.name === phase.name && r.nodes.some((o) => o.node === n.name)),
    );
  if (!unknown.some(mayEncrypt) || !adapter.decryptOnly) {
    const reread = await readAll([...touched], adapter, opts);
    for (const n of touched) if (!reread.has(n) && !unknown.includes(n)) unknown.push(n);
    const steps = [...reread.keys()]
      .filter((n) => differs(reread.get(n), plan.before.get(n)) || holdsFile(reread.get(n), K))
      .map((n) => ({ node: n, ring: before(n) }));
    const del = plan.generateKey ? [`${K}.key`] : [];
    if (steps.length > 0 && !(await restoreRings(plan, pre, adapter, steps, del, opts, result))) {
      for (const s of steps) if (!unknown.includes(s.node)) unknown.push(s.node);
    }
  }
  const final = await readAll([...touched], adapter, opts);
  const notBack = [...touched].filter((n) => differs(final.get(n), plan.before.get(n)));
  // A TLS server that stopped mid-run fails every reload, the rollback's too: say so first.
  const stopped = new Map(
    (await findStoppedServers(plan.pool, notBack, opts.concurrency)).map((s) => [s.node, s]),
  );
  result.needsPerson = notBack.map((n) => {
    const ring = final.has(n)
      ? `ring is [${stateRingIds(final.get(n) as NodeState)
          .map((k) => k.slice(0, 12))
          .join(' ')}], was [${(plan.before.get(n) ?? []).map((k) => k.slice(0, 12)).join(' ')}]`
      : 'could not be reached to confirm its state';
    const down = stopped.get(n.name);
    return {
      node: n.name,
      reason: down ? `${down.reason}; ${final.has(n) ? 'its ' : 'it '}${ring}` : ring,
    };
  });
  result.outcome = notBack.length === 0 ? 'rolled-back' : 'not-restored';
  result.exitCode = notBack.length === 0 ? 1 : 3;
  // Not the ring the plan aimed at: the one the nodes hold now, when they hold one.
  result.after = result.outcome === 'rolled-back' ? (sharedRing(plan.before) ?? []) : [];
  // A run stopped before its first transaction changed nothing, so there is nothing to prove:
  // probing would only wait on whatever made it stop (an interrupt while a node's TLS port
  // let connections time out waited out the probe timeout).
  if (result.outcome === 'rolled-back' && touched.size > 0)
    await verifyRestored(plan, result, opts);
  return result;
}

/**
 * After a complete rollback, the same proof as after a rotation: every node resumes every other
 * node's fresh tickets, in each TLS version, under the ring the pool had before the run. Only
 * where the pool shared one ring before the run; a pool that was drifted already would fail it
 * for reasons the rollback did not cause.
 */
async function verifyRestored(
  plan: RotationPlan,
  result: PoolRunResult,
  opts: PoolRunOptions,
): Promise<void> {
  const ring = sharedRing(plan.before);
  if (!ring || ring.length === 0) return;
  result.rollbackVerification = await probePool(
    plan.pool.name,
    plan.pool.nodes.map(toProbeTarget),
    {
      ...poolProbeSettings(plan.pool),
      concurrency: opts.concurrency,
      prober: opts.prober,
      expectedKeyId: ring[0],
      ringKeyIds: ring,
    },
  );
  if (!result.rollbackVerification.ok)
    result.warnings.push(
      `after the rollback, resumption across the pool failed: ${result.rollbackVerification.summary.resumed}/${result.rollbackVerification.summary.probes} probes resumed`,
    );
}

function differs(state: NodeState | undefined, before: string[] | undefined): boolean {
  return !state || stateRingIds(state).join() !== (before ?? []).join();
}

function holdsFile(state: NodeState | undefined, keyId: string): boolean {
  return state?.files.some((f) => f.file === `${keyId}.key`) ?? false;
}

async function restoreRings(
  plan: RotationPlan,
  pre: PreflightResult,
  adapter: ServerAdapter,
  steps: { node: NodeSpec; ring: PlacedRing | undefined }[],
  deleteFiles: string[],
  opts: PoolRunOptions,
  result: PoolRunResult,
): Promise<boolean> {
  const requests = steps.map(({ node, ring }) => {
    const state = pre.states.get(node);
    const deleting =
      ring && ringIds(ring).some((id) => deleteFiles.includes(`${id}.key`)) ? [] : deleteFiles;
    return {
      node,
      req: () => ({
        ring,
        newKey: undefined,
        adopt: false,
        writeManaged: true,
        reload: true,
        deleteFiles: deleting,
        // Back to the record from before the run: a stage that a two-step run made stays
        // pending, so that `--promote` can be tried again.
        manifest: buildManifest(
          state?.manifest,
          plan.pool.name,
          ring,
          opts.now(),
          { pending: state?.manifest?.pending },
          keptOnDisk(node, state, deleting),
        ),
        pidFile: state?.pidFile,
      }),
    };
  });
  const applied = await applyPhase(
    plan.pool.name,
    'rollback',
    adapter,
    requests,
    opts.sessions,
    opts.concurrency,
    opts.emit,
  );
  result.phases.push(applied.record);
  if (!applied.record.ok) return false;
  // Confirm with handshakes that the nodes encrypt with their old key again, where one is shared.
  const encs = new Set(steps.map((s) => s.ring?.encrypt.keyId));
  const [only] = [...encs];
  if (encs.size === 1 && only) {
    const { versions } = poolProbeSettings(plan.pool);
    const targets = steps.map((s) => toProbeTarget(s.node));
    const conf = await confirmKeyEverywhere(targets, versions, only, 30_000, {
      concurrency: opts.concurrency,
      prober: opts.prober,
    });
    return conf.ok;
  }
  return true;
}

/** Reads every node again, reconnecting where the old connection is gone; unreadable nodes are left out. */
async function readAll(
  nodes: NodeSpec[],
  adapter: ServerAdapter,
  opts: PoolRunOptions,
): Promise<Map<NodeSpec, NodeState>> {
  const limit = pLimit(opts.concurrency);
  const out = new Map<NodeSpec, NodeState>();
  await Promise.all(
    nodes.map((node) =>
      limit(async () => {
        for (let attempt = 0; attempt < 2; attempt++) {
          try {
            let session = opts.sessions.get(node);
            if (!session || attempt > 0) {
              await session?.close().catch(() => undefined);
              session = await openSession(node, { acceptNewHostKey: false });
              opts.sessions.set(node, session);
            }
            out.set(node, await readNodeState(session, adapter, node, { runCheck: false }));
            return;
          } catch {
            // Try once more on a fresh connection, then give up on this node.
          }
        }
      }),
    ),
  );
  return out;
}

/** The ring every node held before the run, when they all held the same one. */
function sharedRing(before: Map<NodeSpec, string[]>): string[] | undefined {
  const [first, ...rest] = [...before.values()];
  return first && rest.every((r) => r.join() === first.join()) ? first : undefined;
}

/**
 * A server's output can run to many lines: the progress line gets the first, the node's own
 * failure line and the summary's cause carry all of it.
 */
function firstLine(text: string): string {
  const end = text.indexOf('\n');
  return end < 0 ? text : `${text.slice(0, end)} (...)`;
}

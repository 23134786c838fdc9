import pLimit from 'p-limit';
import type { NodeSpec } from '../inventory/types.js';
import type { ApplyOutcome } from '../servers/apply-script.js';
import type { ServerAdapter } from '../servers/types.js';
import type { SessionMap } from '../fleet/inspect-pools.js';
import { applyStep, type StepRequest } from './node-ops.js';
import type { PhaseRecord } from './run-types.js';
import type { EmitEvent, RotationEvent } from './types.js';

type PhaseLabel = Extract<RotationEvent, { type: 'phase-start' }>['phase'];

export interface PhaseApplyResult {
  record: PhaseRecord;
  outcomes: Map<NodeSpec, ApplyOutcome>;
  /** When each node's transaction returned, ms since the epoch (this machine's clock). */
  finishedAt: Map<NodeSpec, number>;
}

/** Runs one step on every node at once (bounded), and records who did what and when. */
export async function applyPhase(
  pool: string,
  label: PhaseLabel,
  adapter: ServerAdapter,
  /**
   * Each node's step, built when its transaction starts: a request holds the node's new
   * manifest, and on a large pool building them all up front held one per node for the phase.
   */
  requests: { node: NodeSpec; req: () => StepRequest }[],
  sessions: SessionMap,
  concurrency: number,
  emit: EmitEvent,
  /** Told of each node's outcome as its transaction returns (to confirm it at once). */
  onNodeDone?: (node: NodeSpec, outcome: ApplyOutcome, finishedAt: number) => void,
): Promise<PhaseApplyResult> {
  const limit = pLimit(concurrency);
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  emit({ type: 'phase-start', pool, phase: label, nodes: requests.length });
  const outcomes = new Map<NodeSpec, ApplyOutcome>();
  const finishedAt = new Map<NodeSpec, number>();
  const nodes = await Promise.all(
    requests.map(({ node, req }) =>
      limit(async () => {
        const t0 = Date.now();
        const session = sessions.get(node);
        const outcome: ApplyOutcome = session
          ? await applyStep(session, adapter, node, req())
          : { ok: false, step: 'setup', message: 'no connection to the node', restored: true };
        const finished = Date.now();
        outcomes.set(node, outcome);
        finishedAt.set(node, finished);
        onNodeDone?.(node, outcome, finished);
        const ms = Date.now() - t0;
        const message = outcome.ok ? undefined : `${outcome.step}: ${outcome.message}`;
        emit({
          type: 'node-done',
          pool,
          phase: label,
          node: node.name,
          ok: outcome.ok,
          ms,
          ...(message ? { message } : {}),
        });
        const runtimeApi = outcome.ok ? outcome.runtimeApi : undefined;
        return {
          node: node.name,
          ok: outcome.ok,
          ms,
          ...(message ? { message } : {}),
          ...(runtimeApi ? { runtimeApi } : {}),
        };
      }),
    ),
  );
  const ms = Date.now() - started;
  const ok = nodes.every((n) => n.ok);
  emit({ type: 'phase-end', pool, phase: label, ok, ms });
  const record: PhaseRecord = { name: label, ok, startedAt, ms, nodes };
  // The switch window: from the first node's reload to the last one's, as stekctl saw them start.
  const reloads = [...outcomes.values()].flatMap((o) => (o.ok && o.reloadAt ? [o.reloadAt] : []));
  if (reloads.length > 1) record.windowMs = Math.max(...reloads) - Math.min(...reloads);
  return { record, outcomes, finishedAt };
}

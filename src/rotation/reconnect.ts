import pLimit from 'p-limit';
import type { SessionMap } from '../fleet/inspect-pools.js';
import type { NodeSpec } from '../inventory/types.js';
import { openSession } from '../remote/ssh-session.js';
import type { PoolRunOptions, PoolRunResult } from './run-types.js';
import type { PlanPhase } from './types.js';

export interface ReconnectOutcome {
  /** Nodes whose connection was gone and is open again. */
  reopened: string[];
  /** Nodes that could not be reached again; they have no session, so their step fails. */
  failed: { node: string; reason: string }[];
}

/**
 * Whether an overlap is long enough to hang up during it: an idle connection held for many
 * minutes may be cut by a firewall or NAT table on the way, and on a large fleet thousands of
 * idle connections hold the orchestrator's memory for nothing. One more login per node is cheap
 * next to a wait that long.
 */
export function shouldHangUp(nodes: readonly NodeSpec[], waitMs: number): boolean {
  return nodes.length > 0 && nodes.some((n) => waitMs >= n.ssh.reconnectAfterMs);
}

/** Closes the nodes' connections (politely, in parallel) and forgets them. */
export async function hangUp(nodes: readonly NodeSpec[], sessions: SessionMap): Promise<void> {
  await Promise.allSettled(
    nodes.map(async (node) => {
      const session = sessions.get(node);
      sessions.delete(node);
      await session?.close();
    }),
  );
}

/**
 * Opens a new connection to every node whose connection is missing or gone, at most
 * `concurrency` at once. The host key must match known_hosts exactly as before: a key that
 * changed in the middle of a run is refused, never accepted as new.
 */
export async function reconnect(
  nodes: readonly NodeSpec[],
  sessions: SessionMap,
  concurrency: number,
): Promise<ReconnectOutcome> {
  const out: ReconnectOutcome = { reopened: [], failed: [] };
  const gone = nodes.filter((node) => !sessions.get(node)?.open);
  const limit = pLimit(Math.max(1, concurrency));
  await Promise.all(
    gone.map((node) =>
      limit(async () => {
        const old = sessions.get(node);
        sessions.delete(node);
        await old?.close().catch(() => undefined);
        try {
          sessions.set(node, await openSession(node, { acceptNewHostKey: false }));
          out.reopened.push(node.name);
        } catch (err) {
          out.failed.push({
            node: node.name,
            reason: err instanceof Error ? err.message : String(err),
          });
        }
      }),
    ),
  );
  return out;
}

/**
 * Before a phase: every node it touches needs a live connection. Returns why the phase cannot
 * start when a node cannot be reached again (the caller rolls back), else undefined.
 */
export async function reconnectForPhase(
  phase: PlanPhase,
  result: PoolRunResult,
  opts: PoolRunOptions,
): Promise<string | undefined> {
  const out = await reconnect(
    phase.steps.map((s) => s.node),
    opts.sessions,
    opts.concurrency,
  );
  if (out.reopened.length > 0)
    result.notes.push(`logged in again to ${out.reopened.length} node(s) before ${phase.name}`);
  if (out.failed.length === 0) return undefined;
  const why = out.failed.map((f) => `${f.node}: ${f.reason}`).join('; ');
  return `before ${phase.name}, cannot log in again to ${why}`;
}

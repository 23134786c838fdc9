import { addTo } from '../collections.js';
import pLimit from 'p-limit';
import type { NodeSpec, PoolSpec, ServerKind } from '../inventory/types.js';
import type { RemoteSession } from '../remote/ssh-session.js';
import { openSession } from '../remote/ssh-session.js';
import { adapterFor } from '../servers/index.js';
import { readNodeState } from '../servers/node-state.js';
import type { NodeState, RingEntry } from '../servers/types.js';

export interface NodeReport {
  node: string;
  host: string;
  reachable: boolean;
  /** Why the node could not be read (connection, host key, command failure). */
  error: string | undefined;
  state: NodeState | undefined;
}

export type PoolVerdict = 'consistent' | 'inconsistent' | 'unmanaged' | 'incomplete';

export interface PoolReport {
  pool: string;
  server: ServerKind;
  nodes: NodeReport[];
  verdict: PoolVerdict;
  /** The ring most nodes hold (key ids, encrypting first). */
  ring: string[];
  /** Every node at fault, with the reason. */
  faults: { node: string; reason: string }[];
}

export interface InspectOptions {
  concurrency: number;
  runCheck: boolean;
  acceptNewHostKey?: boolean;
}

/** Sessions opened for one run; one connection per node, reused by every phase. */
export type SessionMap = Map<NodeSpec, RemoteSession>;

/** Reads every node of every pool, in parallel, read-only. Never throws for a node's failure. */
export async function inspectPools(
  pools: PoolSpec[],
  opts: InspectOptions,
  sessions: SessionMap = new Map(),
): Promise<PoolReport[]> {
  const limit = pLimit(opts.concurrency);
  return Promise.all(
    pools.map(async (pool) => {
      const adapter = adapterFor(pool.server);
      const nodes = await Promise.all(
        pool.nodes.map((node) =>
          limit(async (): Promise<NodeReport> => {
            try {
              let session = sessions.get(node);
              if (!session) {
                session = await openSession(node, {
                  acceptNewHostKey: opts.acceptNewHostKey ?? false,
                });
                sessions.set(node, session);
              }
              const state = await readNodeState(session, adapter, node, {
                runCheck: opts.runCheck,
              });
              return { node: node.name, host: node.host, reachable: true, error: undefined, state };
            } catch (err) {
              const message = err instanceof Error ? err.message : String(err);
              return {
                node: node.name,
                host: node.host,
                reachable: false,
                error: message,
                state: undefined,
              };
            }
          }),
        ),
      );
      return summarizePool(pool.name, pool.server, nodes);
    }),
  );
}

export function ringSignature(ring: RingEntry[]): string {
  return ring.map((e) => `${e.role}:${e.keyId ?? '?'}`).join(',');
}

/** Decides whether a pool shares one ring, and names the nodes that do not. Pure. */
export function summarizePool(pool: string, server: ServerKind, nodes: NodeReport[]): PoolReport {
  const faults: { node: string; reason: string }[] = [];
  const groups = new Map<string, NodeReport[]>();
  for (const n of nodes) {
    if (!n.state) {
      faults.push({ node: n.node, reason: n.error ?? 'unreachable' });
      continue;
    }
    for (const p of n.state.problems) faults.push({ node: n.node, reason: p });
    const sig = ringSignature(n.state.ring);
    addTo(groups, sig, n);
  }
  const ranked = [...groups.entries()].sort((a, b) => b[1].length - a[1].length);
  const [majoritySig, majority] = ranked[0] ?? ['', []];
  const ringOfMajority = majority[0]?.state?.ring ?? [];
  for (const [sig, members] of ranked.slice(1)) {
    for (const n of members) {
      faults.push({
        node: n.node,
        reason: `ring differs from the pool's: [${describeSig(sig)}] instead of [${describeSig(majoritySig)}]`,
      });
    }
  }
  const reachable = nodes.filter((n) => n.state);
  let verdict: PoolVerdict;
  if (reachable.length < nodes.length) verdict = 'incomplete';
  else if (groups.size === 1 && ringOfMajority.length === 0) verdict = 'unmanaged';
  else verdict = faults.length === 0 ? 'consistent' : 'inconsistent';
  return {
    pool,
    server,
    nodes,
    verdict,
    ring: ringOfMajority.map((e) => e.keyId ?? '?'),
    faults,
  };
}

function describeSig(sig: string): string {
  return sig === ''
    ? 'no keys'
    : sig
        .split(',')
        .map((s) => s.replace(/^[a-z]+:/, '').slice(0, 8))
        .join(' ');
}

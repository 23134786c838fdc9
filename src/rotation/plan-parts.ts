import { addTo } from '../collections.js';
import type { NodeSpec, PoolSpec } from '../inventory/types.js';
import type { NodeState, PlacedRing, ServerAdapter } from '../servers/types.js';
import { decryptKeys, encryptingKey, place, stateRingIds } from './placement.js';
import type { NodeStep, PlanPhase } from './types.js';

/* The pieces planRotation is built from: per-node steps, phases, and what it reads from states. */
/**
 * Key files in keyDir that stekctl may delete once unused: `*.key` files with a key's size, and
 * (HAProxy) the `<id>.key` copies the transaction makes of tickets.keys lines.
 */
export function keyFilesOf(
  state: NodeState,
  adapter: ServerAdapter,
): { file: string; keyId: string }[] {
  const files = state.files
    .filter((f) => f.keyId !== undefined && f.file.endsWith('.key'))
    .map((f) => ({ file: f.file, keyId: f.keyId as string }));
  if (adapter.kind === 'haproxy') {
    for (const e of state.ring) {
      if (e.keyId && !files.some((f) => f.keyId === e.keyId))
        files.push({ file: `${e.keyId}.key`, keyId: e.keyId });
    }
  }
  return files;
}

export function stageStep(
  node: NodeSpec,
  state: NodeState,
  paths: Map<string, string>,
  keyId: string,
  adapter: ServerAdapter,
): NodeStep {
  const own = encryptingKey(state);
  const opts = {
    writeKey: true,
    adopt: adapter.kind === 'haproxy',
    writeManaged: adapter.decryptOnly,
    reload: adapter.decryptOnly,
  };
  if (!own || !paths.has(own)) {
    // A node without a ring (rebuilt, or never set up) only gets the key file: encrypting with
    // the new key before every other node can decrypt it would break the invariant. It takes
    // the key at promotion, with the others.
    return step(
      node,
      { encrypt: place(paths, keyId), decrypt: [], staged: undefined },
      { ...opts, adopt: false, writeManaged: false, reload: false },
    );
  }
  const decrypt = decryptKeys(state).filter((id) => paths.has(id) && id !== keyId);
  return step(
    node,
    {
      encrypt: place(paths, own),
      decrypt: decrypt.map((id) => place(paths, id)),
      staged: adapter.decryptOnly ? place(paths, keyId) : undefined,
    },
    opts,
  );
}

/**
 * Why a key staged on some nodes cannot be promoted (findResumableStage found none): nodes
 * without its record (a node added since, or a record removed) or without its file. Undefined
 * when no node records a stage.
 */
export function describePartialStage(
  pool: PoolSpec,
  states: Map<NodeSpec, NodeState>,
  common: Set<string>,
): string | undefined {
  const keyId = pool.nodes.map((n) => stateOf(states, n).manifest?.pending?.keyId).find(Boolean);
  if (!keyId) return undefined;
  const without = pool.nodes.filter((n) => stateOf(states, n).manifest?.pending?.keyId !== keyId);
  if (without.length > 0)
    return `key ${short(keyId)} is staged on ${pool.nodes.length - without.length} of ${pool.nodes.length} nodes (not on ${without.map((n) => n.name).join(', ')})`;
  if (!common.has(keyId))
    return `key ${short(keyId)} is staged, but not every node still holds it (\`stekctl status\` names the node)`;
  return undefined;
}

/** A stage that a previous run completed on every node (two-step mode, or a run that died). */
export function findResumableStage(
  pool: PoolSpec,
  states: Map<NodeSpec, NodeState>,
  common: Set<string>,
):
  | {
      keyId: string;
      promoteAfter: string | undefined;
      ringBefore: string[];
      /** Whether some node already encrypts with it: the run stopped after promoting. */
      promoted: boolean;
    }
  | undefined {
  const pendings = pool.nodes.map((n) => stateOf(states, n).manifest?.pending);
  const first = pendings[0];
  if (!first || !common.has(first.keyId)) return undefined;
  if (!pendings.every((p) => p?.keyId === first.keyId)) return undefined;
  return {
    keyId: first.keyId,
    promoteAfter: first.promoteAfter,
    ringBefore: first.ringBefore,
    promoted: pendings.some((p) => p?.phase === 'promoted'),
  };
}

/** A node whose record shows a rollback that has not finished: only a rollback may go on. */
export function findStoppedRollback(
  pool: PoolSpec,
  states: Map<NodeSpec, NodeState>,
): { node: NodeSpec; keyId: string } | undefined {
  for (const node of pool.nodes) {
    const pending = stateOf(states, node).manifest?.pending;
    if (pending?.by === 'rollback') return { node, keyId: pending.keyId };
  }
  return undefined;
}

export function describeDrift(
  pool: PoolSpec,
  states: Map<NodeSpec, NodeState>,
  notes: string[],
): void {
  const sigs = new Map<string, string[]>();
  for (const n of pool.nodes) {
    const sig = stateRingIds(stateOf(states, n)).map(short).join(' ');
    addTo(sigs, sig, n.name);
  }
  if (sigs.size > 1) {
    const parts = [...sigs.entries()].map(
      ([sig, nodes]) => `${nodes.join(', ')}: [${sig || 'no keys'}]`,
    );
    notes.push(
      `nodes disagree (drift); this rotation brings them back to one ring. Found ${parts.join('; ')}`,
    );
  }
}

/** The node whose encrypting key most nodes share: its ring is the pool's reference. */
export function referenceNode(pool: PoolSpec, states: Map<NodeSpec, NodeState>): NodeSpec {
  const counts = new Map<string, number>();
  for (const n of pool.nodes) {
    const k = encryptingKey(stateOf(states, n));
    if (k) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const best = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  return (
    pool.nodes.find((n) => encryptingKey(stateOf(states, n)) === best) ??
    (pool.nodes[0] as NodeSpec)
  );
}

export function step(
  node: NodeSpec,
  ring: PlacedRing,
  o: { writeKey: boolean; adopt: boolean; writeManaged: boolean; reload: boolean },
  deleteFiles: string[] = [],
): NodeStep {
  return { node, ring, ...o, deleteFiles };
}

export function phase(
  name: PlanPhase['name'],
  waitBeforeMs: number,
  steps: NodeStep[],
  expectKeyId: string | undefined,
  ticketsBefore: boolean,
  verifyAfter: boolean,
  description: string,
): PlanPhase {
  return { name, waitBeforeMs, steps, expectKeyId, ticketsBefore, verifyAfter, description };
}

export function stateOf(states: Map<NodeSpec, NodeState>, node: NodeSpec): NodeState {
  const s = states.get(node);
  if (!s) throw new Error(`no state read for ${node.name}`);
  return s;
}

export function pathsOf(
  paths: Map<NodeSpec, Map<string, string>>,
  node: NodeSpec,
): Map<string, string> {
  return paths.get(node) as Map<string, string>;
}

export function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

export function short(keyId: string): string {
  return keyId.slice(0, 12);
}

import type { NodeSpec, PoolSpec } from '../inventory/types.js';
import { OperationError } from '../errors.js';
import type { NodeState, PlacedRing, ServerAdapter } from '../servers/types.js';
import {
  commonKeys,
  encryptingKey,
  keyPathsOf,
  place,
  ringIds,
  stateRingIds,
} from './placement.js';
import type { NodeStep, PlanPhase, RotationPlan } from './types.js';

/**
 * Returns a pool to the ring it held before its last rotation, recorded on every node in
 * stekctl.json. The same ordering as a rotation keeps the invariant: first every node encrypts
 * with the previous key while still decrypting the current one, then the current one goes.
 * Refuses, and says why, when the previous key is no longer on every node.
 */
export function planRollback(
  pool: PoolSpec,
  adapter: ServerAdapter,
  states: Map<NodeSpec, NodeState>,
): RotationPlan {
  const stateOf = (n: NodeSpec) => states.get(n) as NodeState;
  const pending = pool.nodes.find((n) => stateOf(n).manifest?.pending);
  if (pending) {
    throw new OperationError(
      `pool ${pool.name}: a rotation is in progress (${pending.name} has key ${stateOf(pending).manifest?.pending?.keyId.slice(0, 12)} ${stateOf(pending).manifest?.pending?.phase})`,
      `run \`stekctl rotate -p ${pool.name}\` to complete or undo it first`,
    );
  }
  if (pool.nodes.every((n) => stateOf(n).manifest?.lastChange === 'rollback')) {
    throw new OperationError(
      `pool ${pool.name}: the last change was a rollback (${stateOf(pool.nodes[0] as NodeSpec).manifest?.lastRotation ?? 'time unknown'}); there is nothing to undo`,
      `rotate forward with \`stekctl rotate -p ${pool.name}\``,
    );
  }
  const recorded = pool.nodes.map((n) => stateOf(n).manifest?.previousRing);
  const target = recorded[0];
  if (!target || target.length === 0 || recorded.some((r) => r?.join() !== target.join())) {
    const missing = pool.nodes.filter(
      (n, i) => recorded[i]?.join() !== target?.join() || !target?.length,
    );
    throw new OperationError(
      `pool ${pool.name}: no previous ring recorded alike on every node (${missing.map((n) => n.name).join(', ') || 'all'}); nothing to roll back to`,
    );
  }
  // HAProxy's record lists its three slots, so a key may appear twice; the ring is the keys.
  const keys = [...new Set(target)];
  const haproxy = adapter.kind === 'haproxy';
  const paths = new Map(pool.nodes.map((n) => [n, keyPathsOf(n, stateOf(n), haproxy)]));
  const common = commonKeys(pool, paths);
  const [previous] = keys;
  if (!previous || !common.has(previous)) {
    const lacking = pool.nodes.filter((n) => !paths.get(n)?.has(previous ?? ''));
    throw new OperationError(
      `pool ${pool.name}: the previous key ${previous?.slice(0, 12)} is no longer retained on ${lacking.map((n) => n.name).join(', ')}; a rollback is not possible`,
      `rotate instead (\`stekctl rotate -p ${pool.name}\`), or raise \`retain\` to keep previous keys longer`,
    );
  }
  const restored = keys.filter((id) => common.has(id));
  const lost = keys.filter((id) => !common.has(id));
  const placeOn = (n: NodeSpec, id: string) => place(paths.get(n) as Map<string, string>, id);
  const current = (n: NodeSpec) => encryptingKey(stateOf(n));
  const nodeStep = (
    node: NodeSpec,
    ring: PlacedRing,
    reload: boolean,
    deleteFiles: string[] = [],
  ): NodeStep => ({
    node,
    ring,
    writeKey: false,
    adopt: false,
    writeManaged: reload,
    reload,
    deleteFiles,
  });
  const tail = (n: NodeSpec) => restored.slice(1).map((id) => placeOn(n, id));
  const phases: PlanPhase[] = [];
  const demote = pool.nodes.map((n) => {
    const cur = current(n);
    const keepCurrent = adapter.decryptOnly && cur && cur !== previous && paths.get(n)?.has(cur);
    return nodeStep(
      n,
      {
        encrypt: placeOn(n, previous),
        decrypt: keepCurrent ? [placeOn(n, cur), ...tail(n)] : adapter.decryptOnly ? tail(n) : [],
        staged: undefined,
      },
      true,
    );
  });
  phases.push({
    name: adapter.decryptOnly ? 'promote' : 'switch',
    waitBeforeMs: 0,
    steps: demote,
    expectKeyId: previous,
    ticketsBefore: true,
    verifyAfter: true,
    description: `make the previous key ${previous.slice(0, 12)} primary again on every node`,
  });
  const finalSteps = pool.nodes.map((n) => {
    const cur = current(n);
    const ring: PlacedRing = {
      encrypt: placeOn(n, previous),
      decrypt: adapter.decryptOnly ? tail(n) : [],
      staged: undefined,
    };
    const changed =
      ringIds(ring).join() !== ringIds(demote.find((s) => s.node === n)?.ring as PlacedRing).join();
    const drop = cur && cur !== previous && !restored.includes(cur) ? [`${cur}.key`] : [];
    return nodeStep(
      n,
      ring,
      changed,
      stateOf(n).files.some((f) => drop.includes(f.file)) ? drop : [],
    );
  });
  phases.push({
    name: 'retire',
    waitBeforeMs: 0,
    steps: finalSteps,
    expectKeyId: previous,
    ticketsBefore: false,
    verifyAfter: false,
    description: 'drop the rolled-back key from every ring and delete its file',
  });
  return {
    pool,
    kind: 'rollback',
    keyId: previous,
    generateKey: false,
    before: new Map(pool.nodes.map((n) => [n, stateRingIds(stateOf(n))])),
    after: restored,
    phases,
    notes: [
      `returns to the ring recorded before the last rotation: [${keys.map((k) => k.slice(0, 12)).join(' ')}]`,
      ...(lost.length > 0
        ? [
            `not restored, as no longer kept on every node: ${lost.map((k) => k.slice(0, 12)).join(', ')}`,
          ]
        : []),
    ],
    warnings: adapter.decryptOnly
      ? []
      : [
          `${adapter.kind} holds one key: tickets issued under the current key fall back to a full handshake after the switch`,
        ],
  };
}

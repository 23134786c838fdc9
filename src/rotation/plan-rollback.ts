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
import { findStoppedRollback } from './plan-parts.js';
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
  // A rollback that stopped part-way is finished by running it again, from the same record.
  const stopped = findStoppedRollback(pool, states);
  const pending = pool.nodes.find((n) => {
    const p = stateOf(n).manifest?.pending;
    return p !== undefined && p.by !== 'rollback';
  });
  if (pending) {
    throw new OperationError(
      `pool ${pool.name}: a rotation is in progress (${pending.name} has key ${stateOf(pending).manifest?.pending?.keyId.slice(0, 12)} ${stateOf(pending).manifest?.pending?.phase})`,
      `run \`stekctl rotate -p ${pool.name}\` to finish it first, then roll back`,
    );
  }
  if (!stopped && pool.nodes.every((n) => stateOf(n).manifest?.lastChange === 'rollback')) {
    throw new OperationError(
      `pool ${pool.name}: the last change was a rollback (${stateOf(pool.nodes[0] as NodeSpec).manifest?.lastRotation ?? 'time unknown'}); there is nothing to undo`,
      `rotate forward with \`stekctl rotate -p ${pool.name}\``,
    );
  }
  // Nodes that a stopped rollback already finished record the ring it rolled back from; the
  // others still record the ring it returns to. A finished node may carry a rollback record
  // again: a run finishing the rollback steps every node, and it too may have been stopped.
  const finished = (n: NodeSpec): boolean =>
    stopped !== undefined && stateOf(n).manifest?.lastChange === 'rollback';
  const deciding = pool.nodes.filter((n) => !finished(n));
  // Every node finished but a record was left: they hold the ring the rollback returned to.
  const recorded =
    deciding.length > 0
      ? deciding.map((n) => stateOf(n).manifest?.previousRing)
      : [stateRingIds(stateOf(pool.nodes[0] as NodeSpec))];
  const target = recorded[0];
  if (!target || target.length === 0 || recorded.some((r) => r?.join() !== target.join())) {
    const missing = deciding.filter(
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
  // The keys rolled back from: what any node encrypts with now (a stopped rollback left some
  // nodes on the previous key already) and what the stopped one recorded.
  const leaving = [
    ...new Set([
      ...pool.nodes.map(current),
      ...pool.nodes.map((n) => stateOf(n).manifest?.pending?.ringBefore[0]),
    ]),
  ].filter((id): id is string => id !== undefined && id !== previous && !restored.includes(id));
  const phases: PlanPhase[] = [];
  // Until the last node is demoted, any node may still encrypt with a key being left: every node
  // that holds its file keeps decrypting it through this phase.
  const stillEncrypting = leaving.filter((id) => pool.nodes.some((n) => current(n) === id));
  const demote = pool.nodes.map((n) =>
    nodeStep(
      n,
      {
        encrypt: placeOn(n, previous),
        decrypt: adapter.decryptOnly
          ? [
              ...stillEncrypting.filter((id) => paths.get(n)?.has(id)).map((id) => placeOn(n, id)),
              ...tail(n),
            ]
          : [],
        staged: undefined,
      },
      true,
    ),
  );
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
    const ring: PlacedRing = {
      encrypt: placeOn(n, previous),
      decrypt: adapter.decryptOnly ? tail(n) : [],
      staged: undefined,
    };
    const changed =
      ringIds(ring).join() !== ringIds(demote.find((s) => s.node === n)?.ring as PlacedRing).join();
    const drop = leaving.map((id) => `${id}.key`);
    return nodeStep(
      n,
      ring,
      changed,
      drop.filter((file) => stateOf(n).files.some((f) => f.file === file)),
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
      ...(stopped ? ['finishes the rollback that stopped part-way'] : []),
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

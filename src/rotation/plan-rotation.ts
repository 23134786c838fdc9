import type { NodeSpec, PoolSpec } from '../inventory/types.js';
import { OperationError } from '../errors.js';
import type { NodeState, PlacedRing, ServerAdapter } from '../servers/types.js';
import {
  commonKeys,
  decryptKeys,
  encryptingKey,
  keyFilePath,
  keyPathsOf,
  place,
  ringIds,
  stateRingIds,
} from './placement.js';
import type { RotationPlan } from './types.js';
import {
  describeDrift,
  describePartialStage,
  findResumableStage,
  findStoppedRollback,
  keyFilesOf,
  pathsOf,
  phase,
  referenceNode,
  short,
  stageStep,
  stateOf,
  step,
  unique,
} from './plan-parts.js';

export type RotationMode = 'full' | 'stage' | 'promote';

export interface PlanInput {
  pool: PoolSpec;
  adapter: ServerAdapter;
  /** Every node's state, read in preflight. */
  states: Map<NodeSpec, NodeState>;
  /** Id of the key generated for this run, used unless a staged key is resumed. */
  newKeyId: string;
  mode: RotationMode;
  overlapMs: number;
  now: Date;
}

/**
 * Builds the rotation of one pool as pure data: which ring every node holds after each phase, and
 * in what order. Ordering is what keeps the invariant: a key is on every node before any node
 * encrypts with it, and a key leaves a ring only once no node encrypts with it.
 */
export function planRotation(input: PlanInput): RotationPlan {
  const { pool, adapter, states } = input;
  const haproxy = adapter.kind === 'haproxy';
  const paths = new Map(pool.nodes.map((n) => [n, keyPathsOf(n, stateOf(states, n), haproxy)]));
  const common = commonKeys(pool, paths);
  const before = new Map(pool.nodes.map((n) => [n, stateRingIds(stateOf(states, n))]));
  const notes: string[] = [];
  const warnings: string[] = [];

  const stopped = findStoppedRollback(pool, states);
  if (stopped) {
    // Resumed as a rotation, it would report the previous key as new and record the rolled-back
    // ring as the one to return to.
    throw new OperationError(
      `pool ${pool.name}: a rollback to key ${short(stopped.keyId)} stopped before it finished (${stopped.node.name} records it)`,
      `run \`stekctl rollback -p ${pool.name}\` to finish it`,
    );
  }
  const staged = findResumableStage(pool, states, common);
  const encrypting = pool.nodes.map((n) => encryptingKey(stateOf(states, n)));
  const bootstrap = encrypting.every((k) => k === undefined) && !staged;

  if (input.mode === 'promote' && !staged) {
    const partial = describePartialStage(pool, states, common);
    throw new OperationError(
      partial
        ? `pool ${pool.name}: ${partial}, so it cannot be promoted`
        : `pool ${pool.name}: no staged key to promote`,
      partial
        ? `run \`stekctl rotate -p ${pool.name}\`: it rotates to a new key, bringing every node to one ring`
        : `run \`stekctl rotate -p ${pool.name} --stage\` first, or \`stekctl rotate -p ${pool.name}\` for a whole rotation`,
    );
  }
  if (input.mode === 'promote' && staged?.promoteAfter) {
    const due = Date.parse(staged.promoteAfter);
    const leftMs = due - input.now.getTime();
    if (leftMs > 0) {
      // Promoting before the overlap passed would cut it short: do nothing and say when.
      throw new OperationError(
        `pool ${pool.name}: key ${short(staged.keyId)} is staged and may be promoted from ${staged.promoteAfter} (in ${Math.ceil(leftMs / 1000)}s)`,
        `run \`stekctl rotate -p ${pool.name} --promote\` again after that time`,
      );
    }
  }
  const keyId = staged?.keyId ?? input.newKeyId;
  const plan: RotationPlan = {
    pool,
    kind: bootstrap ? 'bootstrap' : staged ? 'resume' : 'rotate',
    keyId,
    generateKey: !staged,
    before,
    after: [],
    phases: [],
    notes,
    warnings,
  };
  // Paths of the new key: written by this run, or already on every node when resuming.
  for (const n of pool.nodes) {
    const p = paths.get(n) as Map<string, string>;
    if (!p.has(keyId)) p.set(keyId, keyFilePath(n, keyId));
  }

  if (bootstrap) {
    notes.push(
      'no managed ring yet: every node gets the first key as its encrypting key at once (each node used its own random key until now, so no shared ticket can be lost)',
    );
    const steps = pool.nodes.map((node) =>
      step(
        node,
        { encrypt: place(pathsOf(paths, node), keyId), decrypt: [], staged: undefined },
        {
          writeKey: true,
          adopt: false,
          writeManaged: true,
          reload: true,
        },
      ),
    );
    plan.phases.push(
      phase('switch', 0, steps, keyId, false, true, 'make the first key primary on every node'),
    );
    plan.after = [keyId];
    return withRetire(plan, input, [keyId]);
  }

  describeDrift(pool, states, notes);
  const reference = referenceNode(pool, states);
  const refState = stateOf(states, reference);
  const refEncrypt = encryptingKey(refState);
  // Keys that stay decryptable after the switch: the old encrypting key first, then older ones.
  // Each node keeps those it holds a file for: a node without one (rebuilt, drifted) never
  // resumed tickets under that key, and the nodes that have it must not lose it.
  // A resumed run keeps what the run it finishes would have kept: after an Apache switch the
  // rings hold the new key alone, and the previous one is known from the record only.
  const candidates = unique([
    ...(staged?.ringBefore ?? []),
    refEncrypt,
    ...decryptKeys(refState),
  ]).filter((id): id is string => id !== undefined && id !== keyId);
  // Until the last node is promoted, any node may still encrypt with the key it used before.
  const stillEncrypting = encrypting.filter((id): id is string => id !== undefined && id !== keyId);
  const keepAtPromote = adapter.decryptOnly
    ? unique([...candidates.slice(0, Math.max(1, pool.retain)), ...stillEncrypting])
    : [];
  // The ring every node ends with: one ring, so only keys every node holds.
  const keepAtEnd = candidates.filter((id) => common.has(id)).slice(0, pool.retain);
  if (staged && input.mode === 'stage') {
    notes.push(
      staged.promoted
        ? `key ${keyId} is already promoted by a run that stopped before it retired the old key; \`stekctl rotate -p ${pool.name}\` finishes it`
        : `key ${keyId} is already staged on every node; nothing to do until it is promoted`,
    );
    plan.after = before.get(reference) ?? [];
    return plan;
  }

  if (!staged) {
    const steps = pool.nodes.map((node) =>
      stageStep(node, stateOf(states, node), pathsOf(paths, node), keyId, adapter),
    );
    for (const s of steps) {
      if (s.ring.encrypt.keyId === keyId) {
        notes.push(
          `${s.node.name} holds no usable ring: it gets the new key file now and uses the key once it is promoted`,
        );
      }
    }
    const what = adapter.decryptOnly
      ? `add key ${short(keyId)} for decryption only on every node`
      : `write key ${short(keyId)} on every node without using it yet`;
    plan.phases.push(phase('stage', 0, steps, undefined, false, false, what));
  }
  if (input.mode === 'stage') {
    plan.after = plan.phases[0] ? ringIds(plan.phases[0].steps[0]!.ring) : [];
    return plan;
  }

  const wait = overlapWait(input, staged?.promoteAfter, adapter.decryptOnly);
  const promoteSteps = pool.nodes.map((node) =>
    step(
      node,
      {
        encrypt: place(pathsOf(paths, node), keyId),
        decrypt: keepAtPromote
          .filter((id) => pathsOf(paths, node).has(id))
          .map((id) => place(pathsOf(paths, node), id)),
        staged: undefined,
      },
      { writeKey: false, adopt: false, writeManaged: true, reload: true },
    ),
  );
  if (adapter.decryptOnly) {
    plan.phases.push(
      phase(
        'promote',
        wait,
        promoteSteps,
        keyId,
        true,
        true,
        `make key ${short(keyId)} primary on every node`,
      ),
    );
  } else {
    warnings.push(
      `${adapter.kind} holds one key and no decrypt-only slot: tickets issued before the switch fall back to a full handshake after it`,
    );
    plan.phases.push(
      phase(
        'switch',
        wait,
        promoteSteps,
        keyId,
        true,
        true,
        `switch every node to key ${short(keyId)} at once`,
      ),
    );
  }
  plan.after = [keyId, ...(adapter.decryptOnly ? keepAtEnd : [])];
  return withRetire(plan, input, [keyId, ...keepAtEnd]);
}

/** Drops keys beyond `retain` from rings and deletes key files nothing refers to any more. */
function withRetire(plan: RotationPlan, input: PlanInput, keep: string[]): RotationPlan {
  const { pool, adapter, states } = input;
  const last = plan.phases[plan.phases.length - 1];
  if (!last) return plan;
  let anyWork = false;
  const steps = pool.nodes.map((node) => {
    const prev = last.steps.find((s) => s.node === node)?.ring as PlacedRing;
    const ring: PlacedRing = adapter.decryptOnly
      ? {
          encrypt: prev.encrypt,
          decrypt: prev.decrypt.filter((k) => keep.includes(k.keyId)),
          staged: undefined,
        }
      : prev;
    const changed = ringIds(ring).join() !== ringIds(prev).join();
    // Files for the keys kept in the ring, plus (Apache) the previous keys kept for a rollback.
    const keepFiles = new Set([...ringIds(ring), ...keep]);
    const del = keyFilesOf(stateOf(states, node), adapter)
      .filter((f) => !keepFiles.has(f.keyId))
      .map((f) => f.file);
    if (changed || del.length > 0) anyWork = true;
    return step(
      node,
      ring,
      { writeKey: false, adopt: false, writeManaged: changed, reload: changed },
      del,
    );
  });
  // Always run: it also records the finished rotation on every node (stekctl.json).
  const dropped = unique(steps.flatMap((s) => s.deleteFiles)).length;
  plan.phases.push(
    phase(
      'retire',
      0,
      steps,
      plan.keyId,
      false,
      false,
      anyWork
        ? `keep ${pool.retain} previous key(s) ${adapter.decryptOnly ? 'for decryption' : 'on disk for a rollback'}; delete ${dropped} unused key file(s)`
        : 'record the finished rotation; no key to retire',
    ),
  );
  return plan;
}

function overlapWait(
  input: PlanInput,
  promoteAfter: string | undefined,
  decryptOnly: boolean,
): number {
  if (!decryptOnly) return 0;
  if (promoteAfter) return Math.max(0, Date.parse(promoteAfter) - input.now.getTime());
  return input.overlapMs;
}

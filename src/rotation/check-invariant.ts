import type { NodeSpec } from '../inventory/types.js';
import type { NodeState, PlacedRing } from '../servers/types.js';
import { keyPathsOf, ringIds } from './placement.js';
import type { NodeStep, RotationPlan } from './types.js';

/** One way a plan would let a ticket fail, or a server read a file that is not there. */
export interface InvariantViolation {
  /** `before -> stage`, `stage -> promote`, ...: the transition during which it can happen. */
  transition: string;
  node: string;
  message: string;
}

/** What a node holds at one point of the plan: its ring as the server reads it, and its key files. */
interface NodePoint {
  /** Key ids the server decrypts with; the first one encrypts. Undefined: no managed ring. */
  ring: string[] | undefined;
  files: Set<string>;
}

/**
 * Checks a plan against the rotation invariant, without any I/O. Between two consecutive phases
 * each node may be at either one (nodes reload one by one), so for every such pair and every mix
 * of the two: the key a node encrypts with is in every node's ring, unless the other node never
 * held that key (drift found at preflight, which no plan can repair before it writes the key).
 * A key the plan introduces must be on every node before any node encrypts with it. With
 * `states`, it also checks that no managed file ever names a key file that is not on the node.
 *
 * Apache and Node.js switches and a bootstrap change every node at once by design and are not
 * checked.
 */
export function checkPlanInvariant(
  plan: RotationPlan,
  states?: Map<NodeSpec, NodeState>,
): InvariantViolation[] {
  const out: InvariantViolation[] = [];
  if (plan.kind === 'bootstrap') return out;
  const haproxy = plan.pool.server === 'haproxy';
  const nodes = plan.pool.nodes;
  let points = new Map<NodeSpec, NodePoint>(
    nodes.map((n) => {
      const ring = plan.before.get(n) ?? [];
      const state = states?.get(n);
      const files = state ? filesOf(n, state, haproxy) : new Set<string>();
      return [n, { ring: ring.length > 0 && ring[0] !== '?' ? ring : undefined, files }];
    }),
  );
  const held = new Map(nodes.map((n) => [n, new Set(plan.before.get(n) ?? [])]));
  let label = 'before';
  for (const phase of plan.phases) {
    const transition = `${label} -> ${phase.name}`;
    const next = new Map<NodeSpec, NodePoint>();
    for (const n of nodes) {
      const prev = points.get(n) as NodePoint;
      const step = phase.steps.find((s) => s.node === n);
      if (!step) {
        next.set(n, prev);
        continue;
      }
      const written = filesWritten(prev, step, plan.keyId);
      next.set(n, advance(prev, step, written, haproxy));
      if (states) checkFiles(step, written, transition, out);
    }
    const oneKey = plan.pool.server === 'apache' || plan.pool.server === 'node';
    const skip = oneKey && phase.name === 'switch';
    if (!skip) checkTransition(nodes, points, next, held, plan.keyId, transition, out);
    points = next;
    label = phase.name;
  }
  return out;
}

function advance(
  prev: NodePoint,
  step: NodeStep,
  written: Set<string>,
  haproxy: boolean,
): NodePoint {
  const files = new Set(written);
  for (const f of step.deleteFiles) files.delete(`${step.node.keyDir}/${f}`);
  // A step that does not rewrite the managed file leaves the server on its previous ring.
  const ring = step.writeManaged ? serverRing(step.ring, haproxy) : prev.ring;
  return { ring, files };
}

/** Key files on the node once a step has written its own, before it deletes any. */
function filesWritten(prev: NodePoint, step: NodeStep, keyId: string): Set<string> {
  const files = new Set(prev.files);
  const dir = step.node.keyDir;
  if (step.writeKey) files.add(`${dir}/${keyId}.key`);
  // HAProxy: the transaction copies each key line of tickets.keys into `<id>.key`.
  if (step.adopt) for (const id of prev.ring ?? []) files.add(`${dir}/${id}.key`);
  return files;
}

/** Key files a node holds at preflight. HAProxy ring keys are lines, not files, until adopted. */
function filesOf(node: NodeSpec, state: NodeState, haproxy: boolean): Set<string> {
  if (!haproxy) return new Set(keyPathsOf(node, state, false).values());
  return new Set(
    state.files
      .filter((f) => f.keyId !== undefined && f.file.endsWith('.key'))
      .map((f) => `${node.keyDir}/${f.file}`),
  );
}

/** The ring as the server reads it: HAProxy keeps only three lines (previous, current, next). */
export function serverRing(ring: PlacedRing, haproxy: boolean): string[] {
  if (!haproxy) return ringIds(ring);
  const previous = ring.decrypt[0] ?? ring.encrypt;
  const next = ring.staged ?? ring.decrypt[1] ?? previous;
  return [...new Set([ring.encrypt, previous, next].map((k) => k.keyId))];
}

function checkFiles(
  step: NodeStep,
  files: Set<string>,
  transition: string,
  out: InvariantViolation[],
): void {
  if (!step.writeManaged) return;
  const { encrypt, decrypt, staged } = step.ring;
  const dir = step.node.keyDir;
  for (const k of [encrypt, ...decrypt, ...(staged ? [staged] : [])]) {
    if (!files.has(k.path))
      out.push({
        transition,
        node: step.node.name,
        message: `the ring names ${k.path}, which is not on the node`,
      });
    if (step.deleteFiles.some((f) => `${dir}/${f}` === k.path))
      out.push({
        transition,
        node: step.node.name,
        message: `${k.path} is deleted while the ring still names it`,
      });
  }
}

function checkTransition(
  nodes: NodeSpec[],
  from: Map<NodeSpec, NodePoint>,
  to: Map<NodeSpec, NodePoint>,
  held: Map<NodeSpec, Set<string>>,
  newKeyId: string,
  transition: string,
  out: InvariantViolation[],
): void {
  const seen = new Set<string>();
  for (const a of nodes) {
    const encs = [from.get(a)?.ring?.[0], to.get(a)?.ring?.[0]].filter(
      (k): k is string => k !== undefined,
    );
    for (const enc of new Set(encs)) {
      for (const b of nodes) {
        for (const point of [from.get(b), to.get(b)]) {
          // A node without a managed ring (never set up, rebuilt) resumed no pool ticket yet.
          const ring = point?.ring;
          if (!ring || ring.includes(enc)) continue;
          // Drift: b never held this key, so its tickets never resumed there; nothing is lost.
          if (enc !== newKeyId && !held.get(b)?.has(enc)) continue;
          const message = `${a.name} may encrypt with ${enc} while ${b.name}'s ring [${ring.join(' ')}] lacks it`;
          if (seen.has(message)) continue;
          seen.add(message);
          out.push({ transition, node: b.name, message });
        }
      }
    }
  }
}

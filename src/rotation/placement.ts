import type { NodeSpec, PoolSpec } from '../inventory/types.js';
import type { NodeState, PlacedKey, PlacedRing } from '../servers/types.js';

/** Where each key id lives on one node: the ring's own paths, then key files in keyDir. */
export function keyPathsOf(
  node: NodeSpec,
  state: NodeState,
  haproxy: boolean,
): Map<string, string> {
  const paths = new Map<string, string>();
  for (const e of state.ring) {
    if (!e.keyId || !isUsableEntry(e)) continue;
    // HAProxy ring keys are lines of tickets.keys; the transaction copies each into <id>.key.
    paths.set(e.keyId, haproxy ? keyFilePath(node, e.keyId) : e.source);
  }
  for (const f of state.files) {
    if (f.keyId && !paths.has(f.keyId) && isKeyFile(f)) {
      paths.set(f.keyId, `${node.keyDir}/${f.file}`);
    }
  }
  return paths;
}

/** Whether the node holds the key as keyPathsOf counts it: a ring entry that works, or a key file. */
export function holdsKey(state: NodeState, keyId: string): boolean {
  return (
    state.ring.some((e) => e.keyId === keyId && isUsableEntry(e)) ||
    state.files.some((f) => f.keyId === keyId && isKeyFile(f))
  );
}

const isUsableEntry = (e: NodeState['ring'][number]): boolean => !e.problem;
const isKeyFile = (f: NodeState['files'][number]): boolean => f.file.endsWith('.key');

export function keyFilePath(node: NodeSpec, keyId: string): string {
  return `${node.keyDir}/${keyId}.key`;
}

export function place(paths: Map<string, string>, keyId: string): PlacedKey {
  const path = paths.get(keyId);
  if (!path) throw new Error(`key ${keyId} has no file on this node`);
  return { keyId, path };
}

/** Key ids of a placed ring, encrypting first, then decrypt-only, then the staged key. */
export function ringIds(ring: PlacedRing): string[] {
  return [ring.encrypt, ...ring.decrypt, ...(ring.staged ? [ring.staged] : [])].map((k) => k.keyId);
}

/** The ring a node's state describes, as key ids with the encrypting key first. */
export function stateRingIds(state: NodeState): string[] {
  const enc = state.ring.filter((e) => e.role === 'encrypt');
  const rest = state.ring.filter((e) => e.role !== 'encrypt');
  return [...enc, ...rest].map((e) => e.keyId ?? '?');
}

/** The key a node encrypts with, if its ring is readable. */
export function encryptingKey(state: NodeState): string | undefined {
  return state.ring.find((e) => e.role === 'encrypt')?.keyId;
}

/** Decrypt-only keys of a node, most recent first; HAProxy's "next" slot is not one of them. */
export function decryptKeys(state: NodeState): string[] {
  return state.ring.filter((e) => e.role === 'decrypt' && e.keyId).map((e) => e.keyId as string);
}

/** Keys every node of the pool holds a file for, so that any of them may stay in every ring. */
export function commonKeys(pool: PoolSpec, paths: Map<NodeSpec, Map<string, string>>): Set<string> {
  let common: Set<string> | undefined;
  for (const node of pool.nodes) {
    const ids = new Set(paths.get(node)?.keys() ?? []);
    common = common ? new Set([...common].filter((id) => ids.has(id))) : ids;
  }
  return common ?? new Set();
}

/** The ring a node held at preflight, placed on its files; entries without a file are dropped. */
export function placedBefore(
  node: NodeSpec,
  state: NodeState,
  haproxy: boolean,
): PlacedRing | undefined {
  const paths = keyPathsOf(node, state, haproxy);
  const at = (role: string) =>
    state.ring
      .filter((e) => e.role === role && e.keyId && paths.has(e.keyId))
      .map((e) => place(paths, e.keyId as string));
  const [encrypt] = at('encrypt');
  if (!encrypt) return undefined;
  return { encrypt, decrypt: at('decrypt'), staged: at('next')[0] };
}

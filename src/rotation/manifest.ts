import type { NodeSpec } from '../inventory/types.js';
import type { Manifest, NodeState, PendingRotation, PlacedRing } from '../servers/types.js';
import { ringIds } from './placement.js';

/**
 * The node-side record after a step: when each key of the ring was created, and the rotation in
 * progress. Key ids and paths only; the next run reads it to finish or undo a half-done rotation.
 * `onDisk` says whether a key file recorded earlier is still on the node once the step is done.
 */
export function buildManifest(
  previous: Manifest | undefined,
  pool: string,
  ring: PlacedRing | undefined,
  now: Date,
  change: {
    pending: PendingRotation | undefined;
    finished?: { ringBefore: string[]; by: 'rotation' | 'rollback' };
  },
  onDisk: (file: string) => boolean,
): string {
  const keys: Manifest['keys'] = {};
  const placed = ring ? [ring.encrypt, ...ring.decrypt, ...(ring.staged ? [ring.staged] : [])] : [];
  for (const k of placed) {
    keys[k.keyId] = {
      created: previous?.keys[k.keyId]?.created ?? now.toISOString(),
      file: k.path,
    };
  }
  // Keys kept on disk outside the ring (Apache's previous key, for a rollback) keep their record;
  // the records of deleted keys go with their files, or the record would grow every rotation.
  for (const [id, rec] of Object.entries(previous?.keys ?? {}))
    if (!keys[id] && onDisk(rec.file)) keys[id] = rec;
  const manifest: Manifest = {
    version: 1,
    pool,
    keys,
    previousRing: change.finished ? change.finished.ringBefore : previous?.previousRing,
    lastRotation: change.finished ? now.toISOString() : previous?.lastRotation,
    pending: change.pending,
  };
  const lastChange = change.finished ? change.finished.by : previous?.lastChange;
  if (lastChange) manifest.lastChange = lastChange;
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

export function ringIdsOrEmpty(ring: PlacedRing | undefined): string[] {
  return ring ? ringIds(ring) : [];
}

/**
 * Whether a key file is on a node once a step is done: it was there when the node was read, and
 * the step does not delete it. Files the step writes are in its ring and recorded from there.
 */
export function keptOnDisk(
  node: NodeSpec,
  state: NodeState | undefined,
  deleteFiles: readonly string[],
): (file: string) => boolean {
  const kept = new Set(
    (state?.files ?? [])
      .filter((f) => !deleteFiles.includes(f.file))
      .map((f) => `${node.keyDir}/${f.file}`),
  );
  return (file) => kept.has(file);
}

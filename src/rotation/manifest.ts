import type { Manifest, PendingRotation, PlacedRing } from '../servers/types.js';
import { ringIds } from './placement.js';

/**
 * The node-side record after a step: when each key of the ring was created, and the rotation in
 * progress. Key ids and paths only; the next run reads it to finish or undo a half-done rotation.
 */
export function buildManifest(
  previous: Manifest | undefined,
  pool: string,
  ring: PlacedRing | undefined,
  now: Date,
  change: { pending: PendingRotation | undefined; finished?: { ringBefore: string[] } },
): string {
  const keys: Manifest['keys'] = {};
  const placed = ring ? [ring.encrypt, ...ring.decrypt, ...(ring.staged ? [ring.staged] : [])] : [];
  for (const k of placed) {
    keys[k.keyId] = {
      created: previous?.keys[k.keyId]?.created ?? now.toISOString(),
      file: k.path,
    };
  }
  // Keys kept on disk outside the ring (Apache's previous key, for a rollback) keep their record.
  for (const [id, rec] of Object.entries(previous?.keys ?? {})) keys[id] ??= rec;
  const manifest: Manifest = {
    version: 1,
    pool,
    keys,
    previousRing: change.finished ? change.finished.ringBefore : previous?.previousRing,
    lastRotation: change.finished ? now.toISOString() : previous?.lastRotation,
    pending: change.pending,
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

export function ringIdsOrEmpty(ring: PlacedRing | undefined): string[] {
  return ring ? ringIds(ring) : [];
}

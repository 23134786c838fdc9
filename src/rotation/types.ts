import type { NodeSpec, PoolSpec } from '../inventory/types.js';
import type { PlacedRing } from '../servers/types.js';

/**
 * One step of a rotation on one node: the ring the node holds after it, and what the node-side
 * transaction does to get there. Pure data: building it needs no I/O.
 */
export interface NodeStep {
  node: NodeSpec;
  ring: PlacedRing;
  /** The new key file is written in this step (its bytes go through stdin). */
  writeKey: boolean;
  /** HAProxy: split the existing key list into key files first. */
  adopt: boolean;
  /** Rewrite the managed file (false: Apache staging writes only the key file). */
  writeManaged: boolean;
  reload: boolean;
  /** Basenames of key files in keyDir removed after the step succeeded. */
  deleteFiles: string[];
}

export type PhaseName = 'stage' | 'promote' | 'switch' | 'retire' | 'demote' | 'unstage';

export interface PlanPhase {
  name: PhaseName;
  /** Wait this long before the phase (the overlap). */
  waitBeforeMs: number;
  steps: NodeStep[];
  /** After the phase every node must issue tickets under this key (checked with probes). */
  expectKeyId: string | undefined;
  /** Take tickets before the phase, to prove afterwards that they still resume. */
  ticketsBefore: boolean;
  /** Run the full resumption verification after the phase. */
  verifyAfter: boolean;
  description: string;
}

export type PlanKind = 'bootstrap' | 'rotate' | 'resume' | 'rollback';

export interface RotationPlan {
  pool: PoolSpec;
  kind: PlanKind;
  /** The key this plan introduces (or returns to, for a rollback). */
  keyId: string;
  /** Whether a fresh key is generated; false when a staged key is resumed or a rollback. */
  generateKey: boolean;
  /** Per node, the ring as it is now (key ids, encrypting first). */
  before: Map<NodeSpec, string[]>;
  /** The ring every node holds at the end (key ids, encrypting first). */
  after: string[];
  phases: PlanPhase[];
  notes: string[];
  warnings: string[];
}

export type RotationEvent =
  | { type: 'plan'; pool: string; plan: RotationPlan }
  | {
      type: 'phase-start';
      pool: string;
      phase: PhaseName | 'verify' | 'preflight' | 'rollback';
      nodes: number;
    }
  | {
      type: 'node-done';
      pool: string;
      phase: PhaseName | 'verify' | 'preflight' | 'rollback';
      node: string;
      ok: boolean;
      ms: number;
      message?: string;
    }
  | {
      type: 'phase-end';
      pool: string;
      phase: PhaseName | 'verify' | 'preflight' | 'rollback';
      ok: boolean;
      ms: number;
    }
  | { type: 'wait'; pool: string; remainingMs: number; totalMs: number }
  | { type: 'note'; pool: string; level: 'info' | 'warn'; message: string };

export type EmitEvent = (event: RotationEvent) => void;

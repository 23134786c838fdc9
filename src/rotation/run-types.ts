import type { NodeSpec } from '../inventory/types.js';
import type { TicketKey } from '../keys/index.js';
import type { PoolProbeReport } from '../probe/index.js';
import type { SessionMap } from '../fleet/inspect-pools.js';
import type { EmitEvent, PlanKind } from './types.js';

export interface PoolRunOptions {
  sessions: SessionMap;
  emit: EmitEvent;
  /** Aborted by SIGINT/SIGTERM: the run stops at the next safe point and rolls back. */
  signal: AbortSignal;
  concurrency: number;
  runId: string;
  overlapMs: number;
  now: () => Date;
  /** The key introduced by this run; undefined when a staged key is resumed. */
  key: TicketKey | undefined;
}

export interface NodeOutcome {
  node: string;
  ok: boolean;
  ms: number;
  message?: string;
}

export interface PhaseRecord {
  name: string;
  ok: boolean;
  startedAt: string;
  ms: number;
  nodes: NodeOutcome[];
  /** First to last node finishing the phase's reload: the switch window on Apache. */
  windowMs?: number;
}

export type PoolOutcome = 'rotated' | 'staged' | 'nothing-to-do' | 'rolled-back' | 'not-restored';

export interface TicketCheckRecord {
  name: 'tickets-before-promotion-resume' | 'retired-key-rejected';
  ok: boolean;
  problems: string[];
}

export interface PoolRunResult {
  pool: string;
  server: string;
  kind: PlanKind;
  keyId: string;
  before: Record<string, string[]>;
  after: string[];
  outcome: PoolOutcome;
  exitCode: 0 | 1 | 3;
  phases: PhaseRecord[];
  verification: PoolProbeReport | undefined;
  ticketChecks: TicketCheckRecord[];
  /** Apache: of the tickets taken before the switch, how many no longer resumed after it. */
  switchLoss?: { offered: number; lost: number };
  error: string | undefined;
  /** Nodes a person must look at, with the reason. */
  needsPerson: { node: string; reason: string }[];
  notes: string[];
  warnings: string[];
}

export function nodeNames(nodes: NodeSpec[]): string {
  return nodes.map((n) => n.name).join(', ');
}

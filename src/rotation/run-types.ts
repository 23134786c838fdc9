import type { NodeSpec, ServerKind } from '../inventory/types.js';
import type { TicketKey } from '../keys/index.js';
import type { PoolProbeReport, Prober } from '../probe/index.js';
import type { SessionMap } from '../fleet/inspect-pools.js';
import type { RuntimeApiResult } from '../servers/haproxy-runtime.js';
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
  /**
   * Runs every handshake of the pool's run (reload confirmations, tickets, verification, and
   * those of a rollback): from here, or on a pool node over SSH (`probe.via`). One per pool, so
   * that tickets taken before a phase can be offered after it.
   */
  prober: Prober;
}

export interface NodeOutcome {
  node: string;
  ok: boolean;
  ms: number;
  message?: string;
  /** HAProxy with runtimeApi: the keys went in through the stats socket, or why a reload did it. */
  runtimeApi?: RuntimeApiResult;
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
  server: ServerKind;
  kind: PlanKind;
  keyId: string;
  before: Record<string, string[]>;
  /**
   * The ring every node holds at the end (key ids, encrypting first). After a rollback, the
   * ring from before the run; empty when the nodes hold no one ring (a drifted pool rolled
   * back, or a rollback that did not complete).
   */
  after: string[];
  outcome: PoolOutcome;
  exitCode: 0 | 1 | 3;
  phases: PhaseRecord[];
  verification: PoolProbeReport | undefined;
  /** After a complete rollback: the pool's resumption matrix under the restored ring. */
  rollbackVerification?: PoolProbeReport;
  /** Where the probes ran: from here, or on a pool node over SSH (`probe.via`). */
  via?: 'direct' | 'ssh';
  /** With `via: ssh`, the node that ran the handshakes. */
  probedFrom?: string;
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

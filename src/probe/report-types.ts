import type { TlsVersion } from '../inventory/types.js';

/**
 * Machine codes of what a probe found wrong. Every code comes with a sentence for people.
 * - different-certificates: nodes serve different certificates; servers never resume a session
 *   made under another certificate, whatever the keys.
 * - unknown-key: a ticket's key id is not in the pool's ring.
 * - old-key: a node encrypts with a key of the ring that is not the expected one (the reload
 *   that brings the new key has not taken effect).
 * - unexpected-key: a node encrypts with a key other than the expected one, ring unknown.
 * - no-tickets: a node completes handshakes but issues (and accepts) no tickets.
 * - mixed-keys: nodes encrypt with different keys.
 * - not-resumed: a ticket was refused for no reason the probe can see.
 * - unreachable / timeout / tls-error / untrusted-certificate: the connection itself failed.
 */
export type DiagnosticCode =
  | 'different-certificates'
  | 'unknown-key'
  | 'old-key'
  | 'unexpected-key'
  | 'no-tickets'
  | 'mixed-keys'
  | 'not-resumed'
  | 'unreachable'
  | 'timeout'
  | 'tls-error'
  | 'untrusted-certificate';

export interface ProbeFailure {
  code: DiagnosticCode;
  message: string;
  /** The message without the node, address and version it starts with, when it has them. */
  detail?: string;
  /** What the operator could do about it, when known. */
  hint?: string;
}

/**
 * One finding, about the nodes it names. Whether a node fails is in its NodeStatus: `warning`
 * findings never make a node fail.
 */
export interface Diagnostic {
  code: DiagnosticCode;
  severity: 'error' | 'warning';
  message: string;
  nodes: string[];
  version?: TlsVersion;
}

/** What a node's full handshake yielded for one TLS version. */
export interface NodeTicketReport {
  node: string;
  issued: boolean;
  keyId?: string;
  /** sha256 of the leaf certificate, 'AA:BB:...'. */
  certFingerprint?: string;
  ticketLifetimeHint?: number;
  /** A session-cache reference was issued instead of a ticket. */
  stateful?: boolean;
  error?: ProbeFailure;
}

export interface VersionReport {
  version: TlsVersion;
  nodes: NodeTicketReport[];
}

/** One ticket offered to one node. */
export interface OfferReport {
  from: string;
  to: string;
  version: TlsVersion;
  reused: boolean;
  offeredKeyId?: string;
  /** Key id of a ticket issued on the offer's connection. */
  issuedKeyId?: string;
  /** Not attempted, because an earlier handshake with one of the two nodes failed. */
  skipped?: boolean;
  error?: ProbeFailure;
  /** Why the ticket was not resumed, most telling first. */
  diagnoses?: DiagnosticCode[];
}

export interface NodeStatus {
  node: string;
  ok: boolean;
  reasons: string[];
  codes: DiagnosticCode[];
}

export interface ProbeSummary {
  probes: number;
  resumed: number;
  failed: number;
  /** resumed / probes, 0 when nothing was probed. */
  successRatio: number;
}

/** JSON-serialisable; holds key ids and fingerprints, never session or key bytes. */
export interface PoolProbeReport {
  pool: string;
  ok: boolean;
  /** ISO 8601. */
  startedAt: string;
  durationMs: number;
  /** 'matrix' for N x N, 'cycle' for the 2N plan of larger pools. */
  plan: 'matrix' | 'cycle';
  versions: VersionReport[];
  offers: OfferReport[];
  nodes: NodeStatus[];
  encryptingKeyIds: string[];
  diagnostics: Diagnostic[];
  summary: ProbeSummary;
}

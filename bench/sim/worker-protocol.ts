import type { SshSimRecord } from './ssh-sim.js';

/** Everything a simulator process needs to play its slice of the fleet. */
export interface WorkerConfig {
  /** Index (0-based, fleet-wide) of the first node of the slice. */
  firstIndex: number;
  hosts: string[];
  keyDir: string;
  sshPort: number;
  tlsPort: number;
  hostKeyPem: string;
  clientPublicKey: string;
  certPem: string;
  keyPem: string;
  latencyMs: number;
  execMs: number;
  checkMs: number;
  reloadMs: number;
  failureRate: number;
  seed: number;
  /** The key every node starts with (nginx layout, base64); a benchmark key, not a secret. */
  initialKey: string;
}

export interface WorkerReport {
  type: 'report';
  firstIndex: number;
  ssh: SshSimRecord;
  tls: { handshakes: number; maxInFlight: number };
  cpuMs: number;
  maxRssKb: number;
  /** Nodes by the key their server encrypts with at the end: [keyId, count]. */
  encrypting: [string, number][];
}

export type WorkerMessage =
  | { type: 'start'; config: WorkerConfig }
  | { type: 'ready' }
  | { type: 'error'; message: string }
  | { type: 'report-request' }
  | { type: 'reset' }
  | { type: 'stop' }
  | WorkerReport;

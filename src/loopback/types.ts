import type { ServerKind } from '../inventory/types.js';

export type { ServerKind };

export interface FleetPoolSpec {
  /** Lower-case letters, digits and dashes; also names the pool in the inventory. */
  name: string;
  server: ServerKind;
  /** 1..20 */
  nodes: number;
  /** 0-based index of the node that gets a certificate of its own (the other nodes share one). */
  distinctCertNode?: number;
  /** haproxy only: 0-based index of the node whose tickets.keys differs from the rest of the pool. */
  distinctTicketsNode?: number;
}

export interface FleetSpec {
  pools: FleetPoolSpec[];
  /** How long a daemon may take to accept connections. Default 10 s. */
  readyTimeoutMs?: number;
}

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ShOptions {
  /** Default 60 s; the command's process group is killed after it. */
  timeoutMs?: number;
  /** Working directory; default the node's directory. */
  cwd?: string;
  /** Added to the environment. */
  env?: Record<string, string>;
}

export interface FleetNode {
  /** `<pool>-<index+1>`, also the name of the node's directory. */
  name: string;
  pool: string;
  server: ServerKind;
  /** 0-based position in the pool. */
  index: number;
  host: string;
  sshPort: number;
  tlsPort: number;
  /** The name the inventory loader gives the node (`host:port`, the ssh port is not 22). */
  displayName: string;
  dir: string;
  /** Where stekctl manages its key files; mode 0700. */
  keyDir: string;
  /** The server's main config file. */
  config: string;
  check: string;
  reload: string;
  servername: string;
  /** The certificate this node serves (PEM), usable as a probe CA. */
  certPem: string;
  pidFile: string;
  errorLog: string;
  sshdPidFile: string;
  /** `ssh-ed25519 AAAA...` */
  hostKey: string;
  /** haproxy only: the stats socket with admin level. */
  adminSocket: string | undefined;
  /** Runs a shell command on this machine as root, in the node's directory. */
  sh(cmd: string, opts?: ShOptions): Promise<ShResult>;
  /** Kills the node's sshd and, by default, its open sessions. */
  stopSshd(opts?: { sessions?: boolean }): Promise<void>;
  startSshd(): Promise<void>;
  /** Kills every process of the node's TLS server (also old generations after reloads). */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  /** Runs the reload command, waits for a new generation of processes, then for a handshake. */
  reloadServer(): Promise<void>;
  /** Live pids of the node's TLS server (master and workers), ascending. */
  serverPids(): Promise<number[]>;
  /** Live pids of the node's sshd (listener and sessions), ascending. */
  sshdPids(): Promise<number[]>;
}

export interface FleetPool {
  name: string;
  server: ServerKind;
  servername: string;
  /** The certificate shared by the pool (PEM). */
  certPem: string;
  keyPem: string;
  nodes: FleetNode[];
}

/** The plain document behind an inventory file; `extra` may change it before it is written. */
export interface InventoryDoc {
  defaults: Record<string, unknown>;
  pools: Record<string, Record<string, unknown> & { nodes: Record<string, unknown>[] }>;
}

export interface WriteInventoryOptions {
  /** Default `<fleet>/inventory.yaml`. */
  path?: string;
  /** Only these pools, in this order. Default all. */
  pools?: string[];
  /** Deep-merged into `defaults`; a value of undefined removes the key. */
  defaults?: Record<string, unknown>;
  /** Deep-merged into the named pool's entry (not its nodes). */
  poolOverrides?: Record<string, Record<string, unknown>>;
  /** Deep-merged into each node's entry. */
  nodeOverrides?: (node: FleetNode) => Record<string, unknown> | undefined;
  /** Last word on the document before it is written. */
  extra?: (doc: InventoryDoc) => void;
}

export interface Fleet {
  dir: string;
  /** `127.A.B`: node N listens on `127.A.B.N`. */
  subnet: string;
  identityFile: string;
  knownHosts: string;
  pools: FleetPool[];
  nodes: FleetNode[];
  pool(name: string): FleetPool;
  /** Writes an inventory YAML for the fleet and returns its path. */
  writeInventory(opts?: WriteInventoryOptions): Promise<string>;
  /** Kills every process of the fleet and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

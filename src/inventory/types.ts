/** The validated, defaulted inventory model. Built by loadInventory(); never holds key bytes. */

export type ServerKind = 'nginx' | 'apache' | 'haproxy' | 'node';
export const serverKinds: readonly ServerKind[] = ['nginx', 'apache', 'haproxy', 'node'];

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** SSH settings an OpenSSH client config may supply when the inventory leaves them unset. */
export type SshConfigurableField = 'user' | 'port' | 'identityFile' | 'connectTimeout';

export interface SshSettings {
  user: string;
  port: number;
  /** Absolute path (~ expanded); undefined means ssh-agent, then the usual key files. */
  identityFile: string | undefined;
  /** Absolute path (~ expanded). Host keys are always checked against it. */
  knownHosts: string;
  /** Run node-side commands through `sudo -n`. */
  sudo: boolean;
  /** Connect timeout in milliseconds. */
  connectTimeoutMs: number;
  /** Overlaps at least this long close the connection while waiting and log in again after. */
  reconnectAfterMs: number;
  /**
   * The fields the inventory set (on the node, its pool or under defaults); the others hold
   * defaults, which the ssh client config overrides. Undefined: every field counts as set.
   */
  explicit?: readonly SshConfigurableField[];
  /**
   * The OpenSSH client config to honour: a path, or 'none'. Undefined: ~/.ssh/config, then
   * /etc/ssh/ssh_config. Set from `--ssh-config` (see useSshConfig in src/remote).
   */
  configFile?: string;
}

export interface ProbeSettings {
  /** Defaults to the node's host. */
  host: string;
  port: number;
  /** SNI and HTTP Host; undefined means no SNI. */
  servername: string | undefined;
  versions: TlsVersion[];
  /** Pools up to this many nodes are probed N x N. */
  matrixMax: number;
  /** PEM file; when set, certificates are verified against it. */
  ca: string | undefined;
  /** Per-probe timeout in milliseconds. */
  timeoutMs: number;
  via: 'direct' | 'ssh';
}

/** One node with every setting resolved (node over pool over defaults). */
export interface NodeSpec {
  /** Display name: the host (hosts are unique within a pool). */
  name: string;
  host: string;
  ssh: SshSettings;
  keyDir: string;
  reload: string;
  check: string;
  /** The server's main config file, used to confirm that it includes the managed file. */
  config: string;
  probe: ProbeSettings;
  /**
   * HAProxy only: the stats socket (level admin) through which new keys are set in the running
   * process instead of a reload. The file is written either way. Undefined: reload.
   */
  runtimeApi?: string;
  /** Where the node was declared, for messages. */
  line: number | undefined;
}

export interface PoolSpec {
  name: string;
  server: ServerKind;
  /** 48 or 80; apache and node only 48; default 80 for haproxy, 48 otherwise. */
  keySize: 48 | 80;
  /** Milliseconds between staging and promoting. */
  overlapMs: number;
  /** Previous keys kept for decryption after a rotation. */
  retain: number;
  nodes: NodeSpec[];
  line: number | undefined;
}

export interface Inventory {
  /** Absolute path of the inventory file. */
  path: string;
  /** sha256 of the file's bytes, hex. */
  sha256: string;
  pools: PoolSpec[];
}

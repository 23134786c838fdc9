import type { NodeSpec, PoolSpec, TlsVersion } from '../inventory/types.js';

/** Where and how to open probe connections to one node. */
export interface ProbeTarget {
  /** The node's display name, used in reports and messages. */
  node: string;
  host: string;
  port: number;
  /** SNI and HTTP Host; undefined sends no SNI (and `host` as the Host header). */
  servername: string | undefined;
  /** PEM file path; when set the chain and the name (servername ?? host) are verified. */
  ca: string | undefined;
  /** Bound on each connection, from connect to the last ticket. */
  timeoutMs: number;
}

/** The probe target of an inventory node. */
export function toProbeTarget(node: NodeSpec): ProbeTarget {
  return {
    node: node.name,
    host: node.probe.host,
    port: node.probe.port,
    servername: node.probe.servername,
    ca: node.probe.ca,
    timeoutMs: node.probe.timeoutMs,
  };
}

/** `host:port`, with brackets around IPv6 literals. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** What a pool's probes share: the TLS versions and matrix size it asks for, and one bound. */
export interface PoolProbeSettings {
  versions: TlsVersion[];
  matrixMax: number;
  /** For one verification of the pool: four probe timeouts per TLS version, at least 10 s. */
  deadlineMs: number;
}

/**
 * The probe settings of a pool. Versions and matrix size are pool-wide in practice (the first
 * node's); the bound follows the slowest node's timeout.
 */
export function poolProbeSettings(pool: PoolSpec): PoolProbeSettings {
  const first = pool.nodes[0];
  const versions: TlsVersion[] = first?.probe.versions ?? ['TLSv1.2', 'TLSv1.3'];
  const timeout = first ? Math.max(...pool.nodes.map((n) => n.probe.timeoutMs)) : 5000;
  return {
    versions,
    matrixMax: first?.probe.matrixMax ?? 8,
    deadlineMs: Math.max(10_000, 4 * timeout * versions.length),
  };
}

import type { NodeSpec } from '../inventory/types.js';

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

import { OperationError } from '../errors.js';

/** `host:port`, with brackets around IPv6 literals so the port stays readable. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The server's host key is not the one known_hosts records (or is not recorded at all, or is
 * revoked). Raised during the key exchange, before authentication: nothing ran on the node.
 */
export class HostKeyError extends OperationError {
  readonly host: string;
  readonly port: number;
  readonly status: 'unknown' | 'changed' | 'revoked';
  /** SHA256 fingerprint of the key the server presented (public, safe to print). */
  readonly fingerprint: string;
  constructor(
    details: {
      host: string;
      port: number;
      status: 'unknown' | 'changed' | 'revoked';
      fingerprint: string;
    },
    message: string,
    hint?: string,
  ) {
    super(message, hint);
    this.host = details.host;
    this.port = details.port;
    this.status = details.status;
    this.fingerprint = details.fingerprint;
  }
}

/** The SSH connection could not be made, or was lost. `node` is the NodeSpec name. */
export class ConnectError extends OperationError {
  readonly node: string;
  constructor(node: string, message: string, hint?: string) {
    super(message, hint);
    this.node = node;
  }
}

/** A remote command ran past its time limit; its channel was closed. */
export class CommandTimeoutError extends OperationError {
  readonly node: string;
  readonly timeoutMs: number;
  constructor(node: string, timeoutMs: number, message: string) {
    super(message);
    this.node = node;
    this.timeoutMs = timeoutMs;
  }
}

import { OperationError } from '../errors.js';

/**
 * Why a probe connection failed. `no-ticket` is raised before connecting, when a ticket was
 * to be offered but none had been issued.
 */
export type ProbeErrorCode =
  'timeout' | 'unreachable' | 'tls-error' | 'untrusted-certificate' | 'no-ticket';

/** A probe that could not complete; `code` is stable and machine readable. */
export class ProbeError extends OperationError {
  readonly code: ProbeErrorCode;
  readonly node: string;
  /**
   * What went wrong without saying where (node, address, version): for reports that name the
   * node and version beside it. The message says both.
   */
  readonly detail: string;
  constructor(code: ProbeErrorCode, node: string, message: string, hint?: string, detail?: string) {
    super(message, hint);
    this.code = code;
    this.node = node;
    this.detail = detail ?? message;
  }
}

/** A ProbeError whose message is `${where}: ${detail}`. */
export function failProbeAt(
  code: ProbeErrorCode,
  node: string,
  where: string,
  detail: string,
  hint?: string,
): ProbeError {
  return new ProbeError(code, node, `${where}: ${detail}`, hint, detail);
}

/** A failed connect() in plain words; the error's own message repeats the address. */
export function describeConnectError(err: NodeJS.ErrnoException): string {
  if (err.code === 'ECONNREFUSED') return 'connection refused';
  if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return 'no route to the host';
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return 'the name does not resolve';
  if (err.code === 'EADDRNOTAVAIL') return 'the address is not available here';
  return err.message;
}

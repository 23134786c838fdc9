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
  constructor(code: ProbeErrorCode, node: string, message: string, hint?: string) {
    super(message, hint);
    this.code = code;
    this.node = node;
  }
}

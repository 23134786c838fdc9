import { ConnectError, formatHostPort } from './errors.js';

export interface ConnectAttempt {
  node: string;
  host: string;
  port: number;
  user: string;
  timeoutMs: number;
  /** What authentication tried, in plain words. */
  tried: string[];
  identityFile: string | undefined;
  /** How messages name the server, when not `host:port` (an alias, a jump host). */
  label?: string;
}

interface SshLibraryError {
  message?: unknown;
  code?: unknown;
  level?: unknown;
}

/**
 * Turns whatever the SSH library or the socket reported into a ConnectError whose message says
 * what happened in plain words: refused, timed out, authentication failed, and so on.
 */
export function describeConnectFailure(err: unknown, attempt: ConnectAttempt): ConnectError {
  const where = attempt.label ?? formatHostPort(attempt.host, attempt.port);
  const fail = (cause: string, hint?: string): ConnectError =>
    new ConnectError(attempt.node, `cannot connect to ${where}: ${cause}`, hint);
  const e = (typeof err === 'object' && err !== null ? err : {}) as SshLibraryError;
  const message = typeof e.message === 'string' ? (e.message.split('\n')[0] ?? '') : String(err);
  const code = typeof e.code === 'string' ? e.code : undefined;

  if (/^Cannot parse privateKey|does not contain a \(valid\) private key/.test(message)) {
    const reason = message.replace(/^Cannot parse privateKey: /, '');
    return fail(
      `identity file ${attempt.identityFile ?? '(unknown)'} is not a usable private key (${reason})`,
    );
  }
  if (e.level === 'client-timeout' || message.includes('Timed out while waiting for handshake')) {
    return fail(`timed out after ${attempt.timeoutMs} ms without completing the SSH login`);
  }
  if (e.level === 'client-authentication') {
    return fail(
      `authentication failed for ${attempt.user}@${attempt.host} (tried ${attempt.tried.join(', ')})`,
      `Check that the public key is in ~${attempt.user}/.ssh/authorized_keys on the node and that ${attempt.user} may log in over SSH.`,
    );
  }
  switch (code) {
    case 'ECONNREFUSED':
      return fail('connection refused (is sshd listening on that port?)');
    case 'ETIMEDOUT':
      return fail('timed out');
    case 'ECONNRESET':
      return fail('connection reset by the node');
    case 'EHOSTUNREACH':
      return fail('host unreachable');
    case 'ENETUNREACH':
      return fail('network unreachable');
    case 'EADDRNOTAVAIL':
      return fail('address not available');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return fail(`host name ${attempt.host} not found`);
  }
  if (message === 'No response from server') {
    return fail('the node closed the connection before the SSH login finished');
  }
  if (e.level === 'handshake' || e.level === 'protocol') {
    return fail(`SSH handshake failed: ${message}`);
  }
  return fail(message || 'unknown error');
}

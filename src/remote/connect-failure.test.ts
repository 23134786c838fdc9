import { describe, expect, it } from 'vitest';
import { describeConnectFailure, type ConnectAttempt } from './connect-failure.js';
import { ConnectError } from './errors.js';

const attempt: ConnectAttempt = {
  node: 'web1:2222',
  host: 'web1',
  port: 2222,
  user: 'root',
  timeoutMs: 5000,
  tried: ['/keys/id'],
  identityFile: '/keys/id',
};

function errorOf(message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), extra);
}

describe('describeConnectFailure', () => {
  it.each([
    [errorOf('connect ECONNREFUSED', { code: 'ECONNREFUSED' }), 'connection refused'],
    [
      errorOf('Timed out while waiting for handshake', { level: 'client-timeout' }),
      'timed out after 5000 ms without completing the SSH login',
    ],
    [
      errorOf('All configured authentication methods failed', { level: 'client-authentication' }),
      'authentication failed for root@web1 (tried /keys/id)',
    ],
    [errorOf('read ECONNRESET', { code: 'ECONNRESET' }), 'connection reset by the node'],
    [errorOf('getaddrinfo ENOTFOUND web1', { code: 'ENOTFOUND' }), 'host name web1 not found'],
    [errorOf('No response from server', { code: 'ETIMEDOUT' }), 'timed out'],
    [
      errorOf('No response from server'),
      'the node closed the connection before the SSH login finished',
    ],
    [
      errorOf('Cannot parse privateKey: Unsupported key format'),
      'identity file /keys/id is not a usable private key (Unsupported key format)',
    ],
    [
      errorOf('Handshake failed: no matching key exchange algorithm', { level: 'handshake' }),
      'SSH handshake failed: Handshake failed: no matching key exchange algorithm',
    ],
    ['weird', 'weird'],
  ])('%s', (err, cause) => {
    const result = describeConnectFailure(err, attempt);
    expect(result).toBeInstanceOf(ConnectError);
    expect(result.node).toBe('web1:2222');
    expect(result.message.startsWith(`cannot connect to web1:2222: ${cause}`)).toBe(true);
    expect(result.message).not.toContain('\n');
  });

  it('brackets IPv6 literals', () => {
    const err = errorOf('refused', { code: 'ECONNREFUSED' });
    expect(describeConnectFailure(err, { ...attempt, host: '::1' }).message).toMatch(
      /^cannot connect to \[::1\]:2222: /,
    );
  });
});

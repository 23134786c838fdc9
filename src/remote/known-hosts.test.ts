import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkHostKey,
  fingerprintOf,
  formatKnownHostsLine,
  keyTypeOf,
  knownKeyTypes,
  parseKnownHosts,
} from './known-hosts.js';

interface Fixture {
  type: string;
  base64: string;
  blob: Buffer;
  /** `ssh-keygen -l` output's fingerprint. */
  fingerprint: string;
}

let dir: string;
let ed1: Fixture;
let ed2: Fixture;
let rsa: Fixture;

function makeKey(name: string, type: 'ed25519' | 'rsa'): Fixture {
  const path = join(dir, name);
  const bits = type === 'rsa' ? ['-b', '2048'] : [];
  execFileSync('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-C', name, '-f', path]);
  const [keyType = '', base64 = ''] = readFileSync(`${path}.pub`, 'utf8').trim().split(' ');
  const listed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`], {
    encoding: 'utf8',
  });
  return {
    type: keyType,
    base64,
    blob: Buffer.from(base64, 'base64'),
    fingerprint: listed.split(' ')[1] ?? '',
  };
}

const entry = (hosts: string, k: Fixture, rest = ''): string =>
  `${hosts} ${k.type} ${k.base64}${rest}`;

/** Writes `lines` to a file and hashes it in place with `ssh-keygen -H`. */
function hashWithSshKeygen(lines: string[]): string {
  const file = join(dir, `kh-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
  return readFileSync(file, 'utf8');
}

/** Does OpenSSH itself find `name` in this known_hosts text? */
function sshKeygenFinds(text: string, name: string): boolean {
  const file = join(dir, `kf-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, text);
  try {
    execFileSync('ssh-keygen', ['-F', name, '-f', file], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stekctl-kh-'));
  ed1 = makeKey('ed1', 'ed25519');
  ed2 = makeKey('ed2', 'ed25519');
  rsa = makeKey('rsa', 'rsa');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('checkHostKey', () => {
  it('matches a plain entry in a host list, ignoring case, after comments and blank lines', () => {
    const text = ['# fleet', '', entry('web1,Web2.Example,10.0.0.2', ed1, ' a comment')].join('\n');
    expect(checkHostKey(text, 'web2.example', 22, ed1.type, ed1.blob)).toEqual({
      status: 'match',
      lines: [3],
    });
    expect(checkHostKey(text, 'WEB1', 22, ed1.type, ed1.blob).status).toBe('match');
    expect(checkHostKey(text, 'web3', 22, ed1.type, ed1.blob).status).toBe('unknown');
  });

  it('treats a missing file (empty text) as unknown', () => {
    expect(checkHostKey('', 'web1', 22, ed1.type, ed1.blob)).toEqual({ status: 'unknown' });
  });

  it('keeps ports apart: [host]:port for other ports, bare names for 22', () => {
    const text = [entry('[127.0.0.77]:22099', ed1), entry('127.0.0.78', ed2)].join('\n');
    expect(checkHostKey(text, '127.0.0.77', 22099, ed1.type, ed1.blob).status).toBe('match');
    expect(checkHostKey(text, '127.0.0.77', 22, ed1.type, ed1.blob).status).toBe('unknown');
    expect(checkHostKey(text, '127.0.0.77', 2222, ed1.type, ed1.blob).status).toBe('unknown');
    expect(checkHostKey(text, '127.0.0.78', 22, ed2.type, ed2.blob).status).toBe('match');
    expect(checkHostKey(text, '127.0.0.78', 2200, ed2.type, ed2.blob).status).toBe('unknown');
  });

  it('reports a different key of the same type as changed, with the recorded keys', () => {
    const text = ['# x', entry('[127.0.0.77]:22099', ed2)].join('\n');
    expect(checkHostKey(text, '127.0.0.77', 22099, ed1.type, ed1.blob)).toEqual({
      status: 'changed',
      expected: [`ssh-ed25519 ${ed2.fingerprint}`],
      lines: [2],
    });
  });

  it('reports a key of another type as changed, as OpenSSH does', () => {
    const text = entry('web1', rsa);
    const result = checkHostKey(text, 'web1', 22, ed1.type, ed1.blob);
    expect(result.status).toBe('changed');
    expect(result.expected).toEqual([`ssh-rsa ${rsa.fingerprint}`]);
  });

  it('matches when any recorded key is the presented one', () => {
    const text = [entry('web1', rsa), entry('web1', ed2), entry('web1', ed1)].join('\n');
    expect(checkHostKey(text, 'web1', 22, ed1.type, ed1.blob)).toEqual({
      status: 'match',
      lines: [3],
    });
  });

  it('refuses a revoked key even when a plain entry matches it', () => {
    const text = [entry('web1', ed1), `@revoked * ${ed1.type} ${ed1.base64}`].join('\n');
    expect(checkHostKey(text, 'web1', 22, ed1.type, ed1.blob)).toEqual({
      status: 'revoked',
      lines: [2],
    });
    // Another key's revocation changes nothing for this one.
    const other = [entry('web1', ed1), `@revoked * ${ed2.type} ${ed2.base64}`].join('\n');
    expect(checkHostKey(other, 'web1', 22, ed1.type, ed1.blob).status).toBe('match');
    // A revocation whose pattern does not name the host does not apply (as in ssh).
    const elsewhere = [entry('web1', ed1), `@revoked web2 ${ed1.type} ${ed1.base64}`].join('\n');
    expect(checkHostKey(elsewhere, 'web1', 22, ed1.type, ed1.blob).status).toBe('match');
  });

  it('ignores @cert-authority lines', () => {
    const text = `@cert-authority * ${ed2.type} ${ed2.base64}`;
    expect(checkHostKey(text, 'web1', 22, ed1.type, ed1.blob).status).toBe('unknown');
  });

  it('applies wildcards and negations', () => {
    const text = entry('*.example,!bad.example,host?', ed1);
    expect(checkHostKey(text, 'a.b.example', 22, ed1.type, ed1.blob).status).toBe('match');
    expect(checkHostKey(text, 'bad.example', 22, ed1.type, ed1.blob).status).toBe('unknown');
    expect(checkHostKey(text, 'host7', 22, ed1.type, ed1.blob).status).toBe('match');
    expect(checkHostKey(text, 'host77', 22, ed1.type, ed1.blob).status).toBe('unknown');
    // `*` also matches bracketed names, as in ssh.
    expect(checkHostKey(entry('*', ed1), 'h', 2222, ed1.type, ed1.blob).status).toBe('match');
    expect(checkHostKey(entry('[h]:*', ed1), 'h', 2222, ed1.type, ed1.blob).status).toBe('match');
  });

  it('handles IPv6 literals with and without a port', () => {
    const text = [entry('[::1]:2222', ed1), entry('fe80::1', ed2)].join('\n');
    expect(checkHostKey(text, '::1', 2222, ed1.type, ed1.blob).status).toBe('match');
    expect(checkHostKey(text, '[::1]', 2222, ed1.type, ed1.blob).status).toBe('match');
    expect(checkHostKey(text, '::1', 22, ed1.type, ed1.blob).status).toBe('unknown');
    expect(checkHostKey(text, 'FE80::1', 22, ed2.type, ed2.blob).status).toBe('match');
  });

  it('matches entries hashed by ssh-keygen -H', () => {
    const text = hashWithSshKeygen([
      entry('web1.example', ed1),
      entry('[127.0.0.77]:22099', ed1),
      entry('[::1]:2222', ed2),
    ]);
    expect(text).not.toContain('web1');
    expect(text.split('\n').filter((l) => l.startsWith('|1|'))).toHaveLength(3);
    expect(checkHostKey(text, 'web1.example', 22, ed1.type, ed1.blob).status).toBe('match');
    expect(checkHostKey(text, 'Web1.Example', 22, ed1.type, ed1.blob).status).toBe('match');
    expect(checkHostKey(text, '127.0.0.77', 22099, ed1.type, ed1.blob).status).toBe('match');
    expect(checkHostKey(text, '127.0.0.77', 22, ed1.type, ed1.blob).status).toBe('unknown');
    expect(checkHostKey(text, '::1', 2222, ed2.type, ed2.blob).status).toBe('match');
    expect(checkHostKey(text, '::1', 2222, ed1.type, ed1.blob).status).toBe('changed');
    expect(checkHostKey(text, 'web2.example', 22, ed1.type, ed1.blob).status).toBe('unknown');
  });

  it('skips malformed lines the way ssh does', () => {
    const text = [
      '@bogus web1 ' + `${ed2.type} ${ed2.base64}`,
      `web1 ${ed2.type}`,
      `web1 ssh-rsa ${ed2.base64}`,
      `web1 ${ed2.type} not*base64`,
      `|1|c2hvcnQ=|AAAA ${ed2.type} ${ed2.base64}`,
      '@revoked',
      entry('web1', ed1),
    ].join('\n');
    expect(parseKnownHosts(text).map((e) => e.line)).toEqual([7]);
    expect(checkHostKey(text, 'web1', 22, ed1.type, ed1.blob)).toEqual({
      status: 'match',
      lines: [7],
    });
  });

  it('accepts CRLF line ends', () => {
    const text = `# c\r\n${entry('web1', ed1)}\r\n`;
    expect(checkHostKey(text, 'web1', 22, ed1.type, ed1.blob).status).toBe('match');
  });
});

describe('formatKnownHostsLine', () => {
  it('writes plain lines that ssh-keygen -F finds and checkHostKey matches', () => {
    for (const [host, port, name] of [
      ['Web1.Example', 22, 'web1.example'],
      ['127.0.0.77', 22099, '[127.0.0.77]:22099'],
      ['::1', 2222, '[::1]:2222'],
    ] as const) {
      const line = formatKnownHostsLine(host, port, ed1.type, ed1.blob);
      expect(line).toBe(`${name} ${ed1.type} ${ed1.base64}`);
      expect(sshKeygenFinds(`${line}\n`, name)).toBe(true);
      expect(checkHostKey(line, host, port, ed1.type, ed1.blob).status).toBe('match');
    }
  });

  it('writes hashed lines that ssh-keygen -F finds', () => {
    const line = formatKnownHostsLine('127.0.0.77', 22099, rsa.type, rsa.blob, { hashed: true });
    expect(line).toMatch(/^\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}= ssh-rsa /);
    expect(sshKeygenFinds(`${line}\n`, '[127.0.0.77]:22099')).toBe(true);
    expect(sshKeygenFinds(`${line}\n`, '127.0.0.77')).toBe(false);
    expect(checkHostKey(line, '127.0.0.77', 22099, rsa.type, rsa.blob).status).toBe('match');
  });
});

describe('key helpers', () => {
  it('fingerprints like ssh-keygen -l', () => {
    expect(fingerprintOf(ed1.blob)).toBe(ed1.fingerprint);
    expect(fingerprintOf(rsa.blob)).toBe(rsa.fingerprint);
    expect(ed1.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('reads the key type from a blob', () => {
    expect(keyTypeOf(ed1.blob)).toBe('ssh-ed25519');
    expect(keyTypeOf(rsa.blob)).toBe('ssh-rsa');
    expect(keyTypeOf(Buffer.from([0, 0, 0, 9, 1]))).toBeUndefined();
    expect(keyTypeOf(Buffer.alloc(2))).toBeUndefined();
  });

  it('lists the key types known for a host', () => {
    const text = [
      entry('web1', rsa),
      entry('web2', ed1),
      entry('web1', ed2),
      entry('web1', ed1),
      `@revoked web1 ${ed2.type} ${ed2.base64}`,
    ].join('\n');
    expect(knownKeyTypes(text, 'web1', 22)).toEqual(['ssh-rsa', 'ssh-ed25519']);
    expect(knownKeyTypes(text, 'web3', 22)).toEqual([]);
  });
});

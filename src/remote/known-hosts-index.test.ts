import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashHostName } from './host-patterns.js';
import { checkHostKey, knownKeyTypes } from './known-hosts.js';

/** An ssh-ed25519 public key blob: string "ssh-ed25519", string key. */
function edBlob(): Buffer {
  const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  const raw = der.subarray(der.length - 32);
  const type = Buffer.from('ssh-ed25519');
  const len = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  return Buffer.concat([len(type.length), type, len(raw.length), raw]);
}

const line = (hosts: string, blob: Buffer): string =>
  `${hosts} ssh-ed25519 ${blob.toString('base64')}`;

describe('known_hosts lookups through the index', () => {
  const [a, b, c] = [edBlob(), edBlob(), edBlob()];
  const many = Array.from({ length: 2000 }, (_, i) => line(`[10.0.${i >> 8}.${i & 255}]:2222`, a));

  it('finds a literal entry among thousands, by any case', () => {
    const text = [...many, line('Web-1.Example.NET', b)].join('\n');
    expect(checkHostKey(text, 'web-1.example.net', 22, 'ssh-ed25519', b)).toEqual({
      status: 'match',
      lines: [2001],
    });
    expect(checkHostKey(text, '10.0.3.7', 2222, 'ssh-ed25519', a).status).toBe('match');
    expect(checkHostKey(text, '10.0.3.7', 2222, 'ssh-ed25519', b).status).toBe('changed');
    expect(checkHostKey(text, '10.0.9.7', 2222, 'ssh-ed25519', a).status).toBe('unknown');
  });

  it('still honours wildcards, negations, hashes and @revoked, in file order', () => {
    const text = [
      line('*.example.net,!db.example.net', c),
      line(hashHostName('db.example.net'), b),
      line('app.example.net', a),
      `@revoked ${line('app.example.net', c)}`,
    ].join('\n');
    expect(checkHostKey(text, 'app.example.net', 22, 'ssh-ed25519', a)).toEqual({
      status: 'match',
      lines: [3],
    });
    expect(checkHostKey(text, 'app.example.net', 22, 'ssh-ed25519', c)).toEqual({
      status: 'revoked',
      lines: [4],
    });
    expect(checkHostKey(text, 'db.example.net', 22, 'ssh-ed25519', b).status).toBe('match');
    expect(checkHostKey(text, 'db.example.net', 22, 'ssh-ed25519', c).status).toBe('changed');
    expect(knownKeyTypes(text, 'www.example.net', 22)).toEqual(['ssh-ed25519']);
  });

  it('sees a new text at once (a key recorded with --accept-new)', () => {
    const first = many.join('\n');
    expect(checkHostKey(first, 'new.example.net', 22, 'ssh-ed25519', b).status).toBe('unknown');
    const second = `${first}\n${line('new.example.net', b)}\n`;
    expect(checkHostKey(second, 'new.example.net', 22, 'ssh-ed25519', b).status).toBe('match');
  });
});

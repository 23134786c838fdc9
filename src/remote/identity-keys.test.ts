import { execFileSync } from 'node:child_process';
import { KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { readIdentityKey } from './identity-keys.js';

const dir = mkdtempSync(join(tmpdir(), 'stekctl-identity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface SshKey {
  sign(data: Buffer, algo?: string): Buffer | Error;
  verify(data: Buffer, signature: Buffer, algo?: string): boolean | Error;
}

describe('readIdentityKey', () => {
  for (const type of ['ed25519', 'ecdsa', 'rsa']) {
    it(`gives a ${type} key whose login signatures ssh2 verifies with the public key`, async () => {
      const file = join(dir, `id_${type}`);
      execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', file]);
      const identity = await readIdentityKey(file);
      const key = identity.parsed as SshKey;
      expect(key).toBeDefined();
      const data = Buffer.from('session id and userauth request');
      const signature = key.sign(data);
      expect(signature).toBeInstanceOf(Buffer);
      const pub = ssh2.utils.parseKey(readFileSync(`${file}.pub`, 'utf8')) as unknown as SshKey;
      expect(pub.verify(data, signature as Buffer)).toBe(true);
      // Signed with a KeyObject, not PEM text that crypto.sign would parse at every login.
      const slot = Object.getOwnPropertySymbols(key).find(
        (s) => s.description === 'Private key PEM',
      );
      expect((key as unknown as Record<symbol, unknown>)[slot as symbol]).toBeInstanceOf(KeyObject);
      // One parse per file version: the next login gets the same key.
      expect((await readIdentityKey(file)).parsed).toBe(identity.parsed);
    });
  }
});

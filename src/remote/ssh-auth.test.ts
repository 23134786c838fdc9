import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeSpec } from '../inventory/types.js';
import { ConnectError } from './errors.js';
import { isEncryptedPrivateKey, planAuth } from './ssh-auth.js';

let dir: string;

function keygen(path: string, format: 'RFC4716' | 'PEM' | 'PKCS8', passphrase: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-m', format, '-N', passphrase, '-f', path]);
  return readFileSync(path, 'utf8');
}

function node(identityFile: string | undefined): NodeSpec {
  return {
    name: 'web1',
    host: 'web1',
    ssh: {
      user: 'deploy',
      port: 22,
      identityFile,
      knownHosts: '/dev/null',
      sudo: false,
      connectTimeoutMs: 1000,
      reconnectAfterMs: 300_000,
    },
  } as NodeSpec;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stekctl-auth-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('isEncryptedPrivateKey', () => {
  it('tells encrypted keys from plain ones in every format ssh-keygen writes', () => {
    for (const format of ['RFC4716', 'PEM', 'PKCS8'] as const) {
      expect(isEncryptedPrivateKey(keygen(join(dir, `plain-${format}`), format, ''))).toBe(false);
      expect(isEncryptedPrivateKey(keygen(join(dir, `enc-${format}`), format, 'secret'))).toBe(
        true,
      );
    }
    expect(isEncryptedPrivateKey('PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n')).toBe(
      false,
    );
    expect(
      isEncryptedPrivateKey('PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: aes256-cbc\n'),
    ).toBe(true);
  });
});

describe('planAuth', () => {
  it('uses the identity file when it is readable and unencrypted', async () => {
    const file = join(dir, 'plain-RFC4716');
    const plan = await planAuth(node(file), {}, dir);
    expect(plan.config).toEqual({
      authHandler: [{ type: 'publickey', username: 'deploy', key: expect.any(Object) }],
    });
    expect(plan.tried).toEqual([file]);
    expect(plan.identityFile).toBe(file);
    // Parsed once for the whole fleet: every login offers the same key object.
    const again = await planAuth(node(file), {}, dir);
    const keyOf = (p: typeof plan) => {
      const method = 'authHandler' in p.config ? p.config.authHandler[0] : undefined;
      return method?.type === 'publickey' ? method.key : undefined;
    };
    expect(keyOf(plan)).toBeDefined();
    expect(keyOf(again)).toBe(keyOf(plan));
  });

  it('hands ssh2 a key file it cannot parse as text, so that it says why', async () => {
    const file = join(dir, 'not-a-key');
    writeFileSync(file, 'this is no key\n', { mode: 0o600 });
    const plan = await planAuth(node(file), {}, dir);
    expect(plan.config).toEqual({ privateKey: readFileSync(file, 'utf8') });
  });

  it('names an unreadable identity file', async () => {
    const file = join(dir, 'missing');
    await expect(planAuth(node(file), {}, dir)).rejects.toThrow(
      new ConnectError(
        'web1',
        `cannot connect to web1:22: cannot read identity file ${file}: no such file`,
      ),
    );
  });

  it('sends an encrypted identity file to ssh-agent, or says why it cannot', async () => {
    const file = join(dir, 'enc-PEM');
    const err = (await planAuth(node(file), {}, dir).catch((e: unknown) => e)) as ConnectError;
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.message).toContain(`identity file ${file} is encrypted and no ssh-agent`);
    expect(err.hint).toContain('ssh-add');
    const plan = await planAuth(node(file), { SSH_AUTH_SOCK: '/run/agent.sock' }, dir);
    expect(plan.config).toEqual({
      authHandler: [{ type: 'agent', username: 'deploy', agent: '/run/agent.sock' }],
    });
  });

  it('falls back to ssh-agent, then the unencrypted default keys', async () => {
    const home = join(dir, 'home');
    mkdirSync(join(home, '.ssh'), { recursive: true });
    keygen(join(home, '.ssh', 'id_rsa'), 'RFC4716', '');
    keygen(join(home, '.ssh', 'id_ecdsa'), 'RFC4716', 'secret');
    const plan = await planAuth(node(undefined), { SSH_AUTH_SOCK: '/s' }, home);
    expect(plan.config).toEqual({
      authHandler: [
        { type: 'agent', username: 'deploy', agent: '/s' },
        { type: 'publickey', username: 'deploy', key: expect.any(Object) },
      ],
    });
    expect(plan.tried).toEqual(['ssh-agent', join(home, '.ssh', 'id_rsa')]);
  });

  it('says so when there is nothing to log in with', async () => {
    await expect(planAuth(node(undefined), {}, join(dir, 'empty'))).rejects.toThrow(
      /no SSH credentials/,
    );
  });
});

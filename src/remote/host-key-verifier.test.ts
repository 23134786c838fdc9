import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostKeyError } from './errors.js';
import {
  createHostKeyVerifier,
  hostKeyAlgorithmOrder,
  ssh2FirstHostKeyType,
  readKnownHosts,
  type VerifierOptions,
} from './host-key-verifier.js';

let dir: string;
let blob: Buffer;
let line: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stekctl-hkv-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
  const [type = '', b64 = ''] = readFileSync(join(dir, 'k.pub'), 'utf8').split(' ');
  blob = Buffer.from(b64, 'base64');
  line = `${type} ${b64}`;
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function verify(opts: VerifierOptions): Promise<{ ok: boolean; refusal: unknown }> {
  const v = createHostKeyVerifier(opts);
  return new Promise((resolve) => v.verify(blob, (ok) => resolve({ ok, refusal: v.refusal })));
}

const base = { node: 'n', host: 'web1', port: 2222, acceptNew: false };

describe('createHostKeyVerifier', () => {
  it('accepts a recorded key', async () => {
    const text = `[web1]:2222 ${line}\n`;
    expect(await verify({ ...base, file: '/x', text })).toEqual({ ok: true, refusal: undefined });
  });

  it('refuses an unknown key and says how to add it', async () => {
    const { ok, refusal } = await verify({ ...base, file: '/x/known_hosts', text: '' });
    expect(ok).toBe(false);
    expect(refusal).toBeInstanceOf(HostKeyError);
    const err = refusal as HostKeyError;
    expect(err.status).toBe('unknown');
    expect(err.message).toMatch(
      /^host key of web1:2222 is not known: the node presented ssh-ed25519 key SHA256:/,
    );
    expect(err.hint).toBe(
      'ssh-keyscan -p 2222 -t ed25519 web1 >> /x/known_hosts (then compare: ssh-keygen -lf /x/known_hosts)',
    );
  });

  it('records an unknown key when asked, creating the file 0600 and keeping lines apart', async () => {
    const file = join(dir, 'sub', 'known_hosts');
    expect(await verify({ ...base, acceptNew: true, file, text: '' })).toMatchObject({ ok: true });
    expect(readFileSync(file, 'utf8')).toBe(`[web1]:2222 ${line}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const other = join(dir, 'no-newline');
    writeFileSync(other, '# last line without newline');
    await verify({ ...base, host: 'web2', port: 22, acceptNew: true, file: other, text: '' });
    expect(readFileSync(other, 'utf8')).toBe(`# last line without newline\nweb2 ${line}\n`);
  });

  it('records once even when asked again at a re-key', async () => {
    const file = join(dir, 'rekey');
    const v = createHostKeyVerifier({ ...base, acceptNew: true, file, text: '' });
    for (let i = 0; i < 2; i++) {
      expect(await new Promise((resolve) => v.verify(blob, resolve))).toBe(true);
    }
    expect(readFileSync(file, 'utf8')).toBe(`[web1]:2222 ${line}\n`);
  });

  it('never records over a changed key', async () => {
    const file = join(dir, 'changed');
    const text = `[web1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb8W1AEi5evD05pgQdWMm1rXC1FnZ3cgCLvvoUmIqYA\n`;
    writeFileSync(file, text);
    const { ok, refusal } = await verify({ ...base, acceptNew: true, file, text });
    expect(ok).toBe(false);
    expect((refusal as HostKeyError).status).toBe('changed');
    expect((refusal as HostKeyError).hint).toContain(`ssh-keygen -f ${file} -R '[web1]:2222'`);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });
});

describe('readKnownHosts', () => {
  it('reads a missing file as empty', async () => {
    expect(await readKnownHosts('n', join(dir, 'absent'))).toBe('');
  });
});

describe('hostKeyAlgorithmOrder', () => {
  it('puts known types first without dropping any', () => {
    expect(hostKeyAlgorithmOrder([])).toBeUndefined();
    expect(hostKeyAlgorithmOrder(['ssh-dss'])).toBeUndefined();
    expect(hostKeyAlgorithmOrder(['ssh-rsa', 'ecdsa-sha2-nistp256'])).toEqual({
      remove: ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ecdsa-sha2-nistp256'],
      prepend: ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ecdsa-sha2-nistp256'],
    });
  });

  it('leaves ssh2 its shared default offer for a host known by its Ed25519 key', async () => {
    expect(hostKeyAlgorithmOrder(['ssh-ed25519'])).toBeUndefined();
    expect(hostKeyAlgorithmOrder(['ssh-rsa', 'ssh-ed25519'])).toBeUndefined();
    // What that relies on: ssh2 asks for Ed25519 host keys first.
    const require = createRequire(import.meta.url);
    const constants = require('ssh2/lib/protocol/constants.js') as {
      DEFAULT_SERVER_HOST_KEY: string[];
    };
    expect(constants.DEFAULT_SERVER_HOST_KEY[0]).toBe(ssh2FirstHostKeyType);
  });
});

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApplyScript, parseApplyOutput } from './apply-script.js';
import { adapterFor } from './index.js';
import { applySpec, localNodeSpec } from './node-spec.fixture.js';

let keyDir: string;

beforeEach(async () => {
  keyDir = await mkdtemp(join(tmpdir(), 'stekctl-apply-'));
});
afterEach(async () => {
  await rm(keyDir, { recursive: true, force: true });
});

function run(
  script: string,
  stdin: string,
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile('sh', ['-c', script], (err, stdout, stderr) =>
      resolve({ stdout, stderr, code: err ? Number(err.code ?? 1) : 0 }),
    );
    child.stdin?.end(stdin);
  });
}

describe('the node-side transaction', () => {
  it('composing an HAProxy key list that names a missing key file fails as a write and puts the node back', async () => {
    const haproxy = adapterFor('haproxy');
    const old = randomBytes(80);
    const oldFile = `${old.subarray(0, 16).toString('hex')}.key`;
    await writeFile(join(keyDir, oldFile), old, { mode: 0o600 });
    const list = `${old.toString('base64')}\n`.repeat(3);
    await writeFile(join(keyDir, 'tickets.keys'), list, { mode: 0o600 });
    const fresh = randomBytes(80);
    const freshFile = `${fresh.subarray(0, 16).toString('hex')}.key`;
    const script = buildApplyScript(haproxy, localNodeSpec(keyDir), {
      newKeys: [{ file: freshFile, size: 80 }],
      adoptKeyLines: false,
      managed: { kind: 'base64-lines', files: [oldFile, 'missing.key', freshFile] },
      manifest: undefined,
      check: false,
      reload: false,
      deleteFiles: [],
      generationWaitMs: 1000,
    });
    const res = await run(script, `${fresh.toString('base64')}\n`);
    expect(parseApplyOutput(res.stdout, res.stderr, res.code)).toMatchObject({
      ok: false,
      step: 'write',
      restored: true,
    });
    expect(await readFile(join(keyDir, 'tickets.keys'), 'utf8')).toBe(list);
    expect((await readdir(keyDir)).sort()).toEqual([oldFile, 'tickets.keys'].sort());
  });

  it('adopts the keys of a tickets.keys written with CRLF line ends, as HAProxy reads them', async () => {
    const haproxy = adapterFor('haproxy');
    const keys = [randomBytes(80), randomBytes(80), randomBytes(80)];
    const files = keys.map((k) => `${k.subarray(0, 16).toString('hex')}.key`);
    await writeFile(
      join(keyDir, 'tickets.keys'),
      keys.map((k) => `${k.toString('base64')}\r\n`).join(''),
      { mode: 0o600 },
    );
    const script = buildApplyScript(haproxy, localNodeSpec(keyDir), {
      newKeys: [],
      adoptKeyLines: true,
      managed: { kind: 'base64-lines', files },
      manifest: undefined,
      check: false,
      reload: false,
      deleteFiles: [],
      generationWaitMs: 1000,
    });
    const res = await run(script, '');
    expect(parseApplyOutput(res.stdout, res.stderr, res.code)).toMatchObject({ ok: true });
    for (const [i, file] of files.entries())
      expect(await readFile(join(keyDir, file))).toEqual(keys[i]);
    expect(await readFile(join(keyDir, 'tickets.keys'), 'utf8')).toBe(
      keys.map((k) => `${k.toString('base64')}\n`).join(''),
    );
  });

  describe('an nginx stage: a new key, the managed file and the manifest', () => {
    const nginx = adapterFor('nginx');
    const fresh = randomBytes(80);
    const freshFile = `${fresh.subarray(0, 16).toString('hex')}.key`;
    const stage = (check: string) =>
      buildApplyScript(
        nginx,
        localNodeSpec(keyDir, { check }),
        applySpec({
          newKeys: [{ file: freshFile, size: 80 }],
          managed: { kind: 'text', text: `ssl_session_ticket_key ${keyDir}/${freshFile};\n` },
          manifest: '{"new":true}\n',
          reload: false,
        }),
      );
    const before = async () => {
      await writeFile(join(keyDir, 'tickets.conf'), 'old conf\n', { mode: 0o600 });
      await writeFile(join(keyDir, 'stekctl.json'), '{"old":true}\n', { mode: 0o600 });
    };

    it('puts every file in place at mode 600 and leaves nothing of its own behind', async () => {
      await before();
      const res = await run(stage('true'), `${fresh.toString('base64')}\n`);
      expect(parseApplyOutput(res.stdout, res.stderr, res.code)).toMatchObject({ ok: true });
      expect((await readdir(keyDir)).sort()).toEqual(
        [freshFile, 'stekctl.json', 'tickets.conf'].sort(),
      );
      expect(await readFile(join(keyDir, freshFile))).toEqual(fresh);
      expect(await readFile(join(keyDir, 'stekctl.json'), 'utf8')).toBe('{"new":true}\n');
      for (const f of [freshFile, 'stekctl.json', 'tickets.conf'])
        expect((await stat(join(keyDir, f))).mode & 0o777, f).toBe(0o600);
    });

    it('a failed check puts the managed file and the manifest back and removes the new key', async () => {
      await before();
      const res = await run(stage('exit 7'), `${fresh.toString('base64')}\n`);
      expect(parseApplyOutput(res.stdout, res.stderr, res.code)).toMatchObject({
        ok: false,
        step: 'check',
        // A check that says nothing is still reported with something to go on.
        message: 'exited 7 and printed nothing',
        restored: true,
      });
      expect((await readdir(keyDir)).sort()).toEqual(['stekctl.json', 'tickets.conf']);
      expect(await readFile(join(keyDir, 'tickets.conf'), 'utf8')).toBe('old conf\n');
      expect(await readFile(join(keyDir, 'stekctl.json'), 'utf8')).toBe('{"old":true}\n');
    });

    it('key material cut short on a 4-character boundary is refused, nothing written', async () => {
      await before();
      const res = await run(stage('true'), `${fresh.toString('base64').slice(0, 64)}\n`);
      expect(parseApplyOutput(res.stdout, res.stderr, res.code)).toMatchObject({
        ok: false,
        step: 'write',
        message: expect.stringMatching(/cut short/),
      });
      expect((await readdir(keyDir)).sort()).toEqual(['stekctl.json', 'tickets.conf']);
      expect(await readFile(join(keyDir, 'tickets.conf'), 'utf8')).toBe('old conf\n');
    });
  });

  it('takes the pid file the read found instead of looking for it in its own dump', () => {
    const nginx = adapterFor('nginx');
    const node = localNodeSpec(keyDir, { check: 'nginx -t -q -c /srv/nginx.conf' });
    const spec = applySpec();
    const looks = buildApplyScript(nginx, node, spec);
    expect(looks).toContain('$1=="pid"');
    const given = buildApplyScript(nginx, node, { ...spec, pidFile: '/run/n 1.pid' });
    expect(given).toContain("stek_pf='/run/n 1.pid'");
    expect(given).not.toContain('$1=="pid"');
    const none = buildApplyScript(nginx, node, { ...spec, pidFile: '' });
    expect(none).not.toContain('$1=="pid"');
    expect(none).not.toContain("stek_pf='");
  });
});

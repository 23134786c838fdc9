import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeSpec, ServerKind } from '../inventory/types.js';
import { adapterFor } from './index.js';
import { interpretState } from './node-state.js';
import { parseReadOutput } from './parse-state.js';
import { fatalProblems } from '../rotation/preflight.js';
import { buildReadScript } from './read-script.js';
import { localNodeSpec } from './node-spec.fixture.js';

const run = promisify(execFile);
let dir: string;

function nodeFor(keyDir: string, config = '/nonexistent.conf'): NodeSpec {
  return localNodeSpec(keyDir, { config });
}

async function readLocally(kind: ServerKind, node: NodeSpec, runCheck = false) {
  const adapter = adapterFor(kind);
  const { stdout } = await run('sh', ['-c', buildReadScript(adapter, node, { runCheck })]);
  return { raw: parseReadOutput(stdout), stdout, adapter };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stekctl-read-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the read script', () => {
  it('reports an nginx ring in order, with key ids but never key bytes', async () => {
    const keyDir = join(dir, 'nginx');
    await mkdir(keyDir, { mode: 0o700 });
    await chmod(keyDir, 0o700);
    const a = randomBytes(48);
    const b = randomBytes(80);
    await writeFile(join(keyDir, 'a.key'), a, { mode: 0o600 });
    await writeFile(join(keyDir, 'b.key'), b, { mode: 0o640 });
    await writeFile(
      join(keyDir, 'tickets.conf'),
      `ssl_session_ticket_key ${keyDir}/b.key;\n  ssl_session_ticket_key ${keyDir}/a.key;\nssl_session_ticket_key ${keyDir}/gone.key;\n`,
    );
    const node = nodeFor(keyDir);
    const { raw, stdout, adapter } = await readLocally('nginx', node, true);
    expect(raw.complete).toBe(true);
    expect(stdout).not.toContain(a.subarray(16).toString('hex'));
    expect(stdout).not.toContain(b.subarray(16).toString('hex'));
    expect(stdout).not.toContain(a.toString('base64').slice(24));
    const state = interpretState(adapter, node, raw, Date.now() / 1000);
    expect(state.ring.map((e) => [e.keyId, e.role])).toEqual([
      [b.subarray(0, 16).toString('hex'), 'encrypt'],
      [a.subarray(0, 16).toString('hex'), 'decrypt'],
      [undefined, 'decrypt'],
    ]);
    expect(state.problems).toContain(`refers to ${keyDir}/gone.key, which does not exist`);
    expect(state.problems).toContain(`key file ${keyDir}/b.key has mode 640, expected 600`);
    expect(state.check).toEqual({ ok: true, output: '' });
    expect(state.included).toBe(false);
  });

  it('describes keys in keyDir once and stats keys elsewhere, with the same result', async () => {
    const keyDir = join(dir, 'mixed');
    const elsewhere = join(dir, 'elsewhere');
    await mkdir(keyDir, { mode: 0o700 });
    await mkdir(elsewhere, { mode: 0o700 });
    const inDir = randomBytes(80);
    const outside = randomBytes(48);
    await writeFile(join(keyDir, 'in.key'), inDir, { mode: 0o600 });
    await writeFile(join(keyDir, 'short.key'), randomBytes(32), { mode: 0o600 });
    await writeFile(join(keyDir, 'odd name.key'), randomBytes(48), { mode: 0o600 });
    await writeFile(join(keyDir, '.hidden'), 'x', { mode: 0o600 });
    await writeFile(join(elsewhere, 'hand.key'), outside, { mode: 0o644 });
    await writeFile(
      join(keyDir, 'tickets.conf'),
      [
        `ssl_session_ticket_key ${elsewhere}/hand.key;`,
        `ssl_session_ticket_key ${keyDir}/in.key;`,
        `ssl_session_ticket_key ${keyDir}/short.key;`,
        `ssl_session_ticket_key ${keyDir}/odd;`,
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    const node = nodeFor(keyDir);
    const { raw, stdout, adapter } = await readLocally('nginx', node);
    expect(stdout).toContain(`R|${keyDir}/in.key|=`);
    expect(stdout).toContain(`R|${elsewhere}/hand.key|48|644|`);
    expect(raw.files.map((f) => f.file).sort()).toEqual([
      '.hidden',
      'in.key',
      'short.key',
      'tickets.conf',
    ]);
    expect(raw.dir).toEqual({ exists: true, mode: '700', owner: 'root' });
    const state = interpretState(adapter, node, raw, Date.now() / 1000);
    const id = (b: Buffer) => b.subarray(0, 16).toString('hex');
    expect(state.ring.map((e) => [e.keyId, e.size, e.mode])).toEqual([
      [id(outside), 48, '644'],
      [id(inDir), 80, '600'],
      [undefined, 32, '600'],
      [undefined, undefined, undefined],
    ]);
    expect(state.problems).toContain(`${keyDir}/short.key is 32 bytes, not a 48- or 80-byte key`);
    expect(state.problems).toContain(`refers to ${keyDir}/odd, which does not exist`);
  });

  it('reports the managed file and the manifest exactly as they are, line by line', async () => {
    const keyDir = join(dir, 'texts');
    await mkdir(keyDir, { mode: 0o700 });
    const conf =
      '# a|b\\n \\\\ x\n\n\t  ssl_session_ticket_key /nowhere/k.key;  \nlast line, no newline';
    const manifest = '{"keys":[]}\n';
    await writeFile(join(keyDir, 'tickets.conf'), conf, { mode: 0o600 });
    await writeFile(join(keyDir, 'stekctl.json'), manifest, { mode: 0o600 });
    const { raw } = await readLocally('nginx', nodeFor(keyDir));
    expect(raw.conf).toBe(conf);
    expect(raw.manifestText).toBe(manifest);
    expect([...raw.referenced.keys()]).toEqual(['/nowhere/k.key']);
    await writeFile(join(keyDir, 'tickets.conf'), '');
    await rm(join(keyDir, 'stekctl.json'));
    const empty = await readLocally('nginx', nodeFor(keyDir));
    expect(empty.raw.conf).toBe('');
    expect(empty.raw.manifestText).toBeUndefined();
  });

  it('reports the last three lines of an HAProxy key list as previous, current, next', async () => {
    const keyDir = join(dir, 'haproxy');
    await mkdir(keyDir, { mode: 0o700 });
    const keys = [1, 2, 3, 4].map(() => randomBytes(80));
    await writeFile(
      join(keyDir, 'tickets.keys'),
      keys.map((k) => k.toString('base64')).join('\n') + '\n',
      { mode: 0o600 },
    );
    const node = nodeFor(keyDir);
    const { raw, stdout, adapter } = await readLocally('haproxy', node);
    for (const k of keys) expect(stdout).not.toContain(k.toString('base64'));
    const state = interpretState(adapter, node, raw, Date.now() / 1000);
    const id = (i: number) => keys[i]?.subarray(0, 16).toString('hex');
    expect(state.ring.map((e) => [e.keyId, e.role])).toEqual([
      [id(2), 'encrypt'],
      [id(3), 'next'],
      [id(1), 'decrypt'],
    ]);
    expect(state.ring.every((e) => e.size === 80 && e.problem === undefined)).toBe(true);
  });

  it('describes a key file that is a symlink by the file it names, as nginx reads it', async () => {
    const keyDir = join(dir, 'symlinked');
    await mkdir(keyDir, { mode: 0o700 });
    await chmod(keyDir, 0o700);
    const key = randomBytes(48);
    const target = join(dir, 'elsewhere.key');
    await writeFile(target, key, { mode: 0o600 });
    await symlink(target, join(keyDir, 'a.key'));
    await writeFile(join(keyDir, 'tickets.conf'), `ssl_session_ticket_key ${keyDir}/a.key;\n`, {
      mode: 0o600,
    });
    const node = nodeFor(keyDir);
    const { raw, adapter } = await readLocally('nginx', node);
    const state = interpretState(adapter, node, raw, Date.now() / 1000);
    expect(state.ring.map((e) => [e.keyId, e.size, e.problem])).toEqual([
      [key.subarray(0, 16).toString('hex'), 48, undefined],
    ]);
    expect(state.problems.filter((p) => p.includes('a.key'))).toEqual([]);
  });

  it('takes a setgid key directory (2700) as private, and one that others may enter as not', async () => {
    const keyDir = join(dir, 'setgid');
    await mkdir(keyDir);
    await writeFile(join(keyDir, 'tickets.conf'), '', { mode: 0o600 });
    const node = nodeFor(keyDir);
    for (const [mode, ok] of [
      [0o2700, true],
      [0o750, false],
    ] as const) {
      await chmod(keyDir, mode);
      const { raw, adapter } = await readLocally('nginx', node);
      const state = interpretState(adapter, node, raw, Date.now() / 1000);
      const problem = `key directory ${keyDir} has mode ${mode.toString(8)}, expected 700`;
      expect(state.problems.includes(problem)).toBe(!ok);
      expect(fatalProblems(node, state).some((p) => p.includes('has mode'))).toBe(!ok);
    }
  });

  it("reads HAProxy's tune.ssl.lifetime, and its default of 300 s when unset", async () => {
    const keyDir = join(dir, 'haproxy-lifetime');
    await mkdir(keyDir, { mode: 0o700 });
    const set = join(keyDir, 'set.cfg');
    const unset = join(keyDir, 'unset.cfg');
    await writeFile(set, 'global\n  daemon\n  tune.ssl.lifetime 10m\n\ndefaults\n  mode http\n');
    await writeFile(unset, 'global\n  daemon\n');
    for (const [config, want] of [
      [set, '10m'],
      [unset, '300'],
    ] as const) {
      const node = nodeFor(keyDir, config);
      const { raw, adapter } = await readLocally('haproxy', node);
      expect(interpretState(adapter, node, raw, Date.now() / 1000).ticketLifetime).toBe(want);
    }
  });

  it('names an HAProxy line that is not base64, and says once what is wrong with the file', async () => {
    const keyDir = join(dir, 'haproxy-bad');
    await mkdir(keyDir, { mode: 0o700 });
    const good = randomBytes(48).toString('base64');
    await writeFile(join(keyDir, 'tickets.keys'), `${good}\n${good.slice(0, 40)}!\n`, {
      mode: 0o600,
    });
    const node = nodeFor(keyDir);
    const { raw, adapter } = await readLocally('haproxy', node);
    const state = interpretState(adapter, node, raw, Date.now() / 1000);
    expect(state.ring.map((e) => [e.role, e.size, e.problem])).toEqual([
      ['encrypt', 48, `${keyDir}/tickets.keys has 2 keys; HAProxy needs 3`],
      ['next', undefined, 'line 2 is not a 48- or 80-byte key (not base64)'],
    ]);
  });

  it('says when the key directory is missing, without failing', async () => {
    const node = nodeFor(join(dir, 'nope'));
    const { raw, adapter } = await readLocally('apache', node);
    const state = interpretState(adapter, node, raw, Date.now() / 1000);
    expect(state.keyDir.exists).toBe(false);
    expect(state.ring).toEqual([]);
    expect(state.problems[0]).toMatch(/does not exist/);
  });

  it('captures a failing config test', async () => {
    const node = { ...nodeFor(join(dir, 'nope')), check: 'echo "bad directive" >&2; exit 1' };
    const { raw } = await readLocally('nginx', node, true);
    expect(raw.check).toEqual({ ok: false, output: 'bad directive' });
  });
});

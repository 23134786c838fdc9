import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApplyScript, parseApplyOutput, type ApplySpec } from './apply-script.js';
import { setsNeeded, shiftPlanLines, transitIsSafe, transitKeys } from './haproxy-runtime.js';
import { adapterFor } from './index.js';
import { localNodeSpec } from './node-spec.fixture.js';

describe('setsNeeded and transitIsSafe', () => {
  it('counts the shifts that bring memory to the target', () => {
    expect(setsNeeded(['a', 'b', 'c'], ['a', 'b', 'c'])).toBe(0);
    expect(setsNeeded(['a', 'b', 'c'], ['b', 'c', 'd'])).toBe(1);
    expect(setsNeeded(['a', 'b', 'c'], ['c', 'd', 'e'])).toBe(2);
    expect(setsNeeded(['a', 'b', 'c'], ['a', 'b', 'd'])).toBe(3);
    expect(setsNeeded(['k', 'k', 'k'], ['k', 'k', 'k'])).toBe(0);
    expect(setsNeeded(['x', 'y', 'z'], ['k', 'k', 'k'])).toBe(3);
  });

  it('lets the steps of a rotation after the first through, and not those that drop a key', () => {
    // stekctl's file: previous, current, next (staged key or a repeat).
    const stage = { m: ['y', 'n', 'y'], t: ['y', 'n', 'm'] };
    expect(setsNeeded(stage.m, stage.t)).toBe(2);
    expect(transitKeys(stage.m, stage.t)).toEqual(['y']);
    expect(transitIsSafe(stage.m, stage.t)).toBe(true);
    const promote = { m: ['y', 'n', 'm'], t: ['n', 'm', 'n'] };
    expect(setsNeeded(promote.m, promote.t)).toBe(1);
    expect(transitIsSafe(promote.m, promote.t)).toBe(true);
    // Dropping the staged key again (rollback): one set would make the node encrypt with it.
    expect(transitIsSafe(['y', 'n', 'm'], ['y', 'n', 'y'])).toBe(false);
    // retain 0: the old key would encrypt for a moment while a peer may have dropped it.
    expect(transitIsSafe(['y', 'n', 'y'], ['n', 'n', 'n'])).toBe(false);
    // Adopting three unrelated keys: the old next key is dropped.
    expect(transitIsSafe(['x', 'y', 'z'], ['x', 'y', 'n'])).toBe(false);
  });

  it('the shell version agrees with setsNeeded and transitIsSafe on every ring of four keys', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const cases: string[][] = [];
    for (let i = 0; i < 4 ** 6; i++)
      cases.push([0, 1, 2, 3, 4, 5].map((p) => ids[Math.floor(i / 4 ** p) % 4] as string));
    const script = [
      'while read -r line; do',
      '  set -- $line',
      ...shiftPlanLines(),
      '  echo "$rt_k ${rt_unsafe:-safe}"',
      'done',
    ].join('\n');
    const { stdout } = await sh(script, cases.map((c) => c.join(' ')).join('\n') + '\n');
    const got = stdout.trim().split('\n');
    expect(got).toHaveLength(cases.length);
    cases.forEach((c, i) => {
      const m = c.slice(0, 3);
      const t = c.slice(3);
      const [k, unsafe] = (got[i] as string).split(' ');
      expect(`${c.join('')}: ${k} ${unsafe === 'safe'}`).toBe(
        `${c.join('')}: ${setsNeeded(m, t)} ${transitIsSafe(m, t)}`,
      );
    });
  });
});

function sh(script: string, stdin = ''): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile('sh', ['-c', script], { maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      resolve({ stdout, stderr, code: err ? Number(err.code ?? 1) : 0 }),
    );
    child.stdin?.end(stdin);
  });
}

/**
 * A stand-in for HAProxy's CLI with 2.6's ring semantics: `show tls-keys [ref]`, `set ssl
 * tls-key`, plus `reload` (reads the file again), one line of `;`-separated commands per connection.
 */
function fakeHaproxy(socket: string, ref: string, opts: { ignoreSets: boolean }): Promise<Server> {
  let ring: string[] = [];
  const load = async () => {
    const lines = (await readFile(ref, 'utf8')).split('\n').filter((l) => l.trim() !== '');
    ring = lines.slice(-3);
  };
  const server = createServer((c) => {
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      void (async () => {
        let out = '';
        for (const cmd of buf
          .slice(0, nl)
          .split(';')
          .map((s) => s.trim())) {
          const w = cmd.split(/\s+/);
          if (cmd === 'show tls-keys') out += `# id (file)\n0 (${ref})\n\n`;
          else if (w[0] === 'show' && w[2] === ref)
            out += `# id secret\n# 0 (${ref})\n${ring.map((k, i) => `0.${i} ${k}`).join('\n')}\n\n`;
          else if (w[0] === 'set' && w[3] === ref && w[4]) {
            if (!opts.ignoreSets) ring = [...ring.slice(1), w[4]];
            out += 'TLS ticket key updated!\n\n';
          } else if (cmd === 'reload') await load();
          else out += 'Unknown command.\n\n';
        }
        c.end(out);
      })();
    });
  });
  return load().then(() => new Promise((resolve) => server.listen(socket, () => resolve(server))));
}

describe.skipIf(!existsSync('/usr/bin/socat'))('the transaction with runtimeApi', () => {
  let dir: string;
  const adapter = adapterFor('haproxy');
  const key = (n: number) => Buffer.concat([Buffer.alloc(16, n), randomBytes(64)]);
  const idOf = (k: Buffer) => k.subarray(0, 16).toString('hex');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stekctl-runtime-api-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function setUp(name: string, keys: Buffer[]) {
    const keyDir = join(dir, name);
    await mkdir(keyDir, { mode: 0o700 });
    await chmod(keyDir, 0o700);
    for (const k of keys) await writeFile(join(keyDir, `${idOf(k)}.key`), k, { mode: 0o600 });
    await writeFile(
      join(keyDir, 'tickets.keys'),
      keys.map((k) => `${k.toString('base64')}\n`).join(''),
      { mode: 0o600 },
    );
    return keyDir;
  }

  async function run(keyDir: string, socket: string, files: string[], newKey: Buffer) {
    const reload = `printf 'reload\\n' | socat - UNIX-CONNECT:${socket} >/dev/null`;
    const node = localNodeSpec(keyDir, { runtimeApi: socket, reload, config: join(dir, 'none') });
    const spec: ApplySpec = {
      newKeys: [{ file: `${idOf(newKey)}.key`, size: 80 }],
      adoptKeyLines: true,
      managed: { kind: 'base64-lines', files },
      manifest: undefined,
      check: true,
      reload: true,
      deleteFiles: [],
      generationWaitMs: 1000,
    };
    const res = await sh(buildApplyScript(adapter, node, spec), `${newKey.toString('base64')}\n`);
    for (const k of [newKey])
      for (const text of [res.stdout, res.stderr]) {
        expect(text).not.toContain(k.toString('base64').slice(0, 20));
        expect(text).not.toContain(k.subarray(16).toString('hex').slice(0, 20));
      }
    return parseApplyOutput(res.stdout, res.stderr, res.code);
  }

  it('sets the staged key in memory without a reload, and reloads where a key is dropped', async () => {
    const [x, y] = [key(1), key(2)];
    const keyDir = await setUp('ok', [x, y, x]);
    const socket = join(keyDir, '..', 'ok.sock');
    const server = await fakeHaproxy(socket, join(keyDir, 'tickets.keys'), { ignoreSets: false });
    try {
      const n = key(3);
      const staged = await run(
        keyDir,
        socket,
        [x, y, n].map((k) => `${idOf(k)}.key`),
        n,
      );
      expect(staged).toMatchObject({ ok: true, runtimeApi: { via: 'runtime-api', sets: 2 } });
      const back = await run(
        keyDir,
        socket,
        [x, y, x].map((k) => `${idOf(k)}.key`),
        key(4),
      );
      expect(back).toMatchObject({ ok: true, runtimeApi: { via: 'reload' } });
    } finally {
      server.close();
    }
  });

  it('a server that does not take the keys: previous files back, reload, failure reported', async () => {
    const [x, y] = [key(1), key(2)];
    const keyDir = await setUp('ignored', [x, y, x]);
    const before = await readFile(join(keyDir, 'tickets.keys'), 'utf8');
    const socket = join(keyDir, '..', 'ignored.sock');
    const server = await fakeHaproxy(socket, join(keyDir, 'tickets.keys'), { ignoreSets: true });
    try {
      const n = key(3);
      const out = await run(
        keyDir,
        socket,
        [x, y, n].map((k) => `${idOf(k)}.key`),
        n,
      );
      expect(out).toMatchObject({ ok: false, step: 'runtime-api', restored: true });
      expect(await readFile(join(keyDir, 'tickets.keys'), 'utf8')).toBe(before);
      expect(existsSync(join(keyDir, `${idOf(n)}.key`))).toBe(false);
    } finally {
      server.close();
    }
  });

  it('a socket that is not there: fails before writing anything', async () => {
    const [x, y] = [key(1), key(2)];
    const keyDir = await setUp('nosock', [x, y, x]);
    const n = key(3);
    const out = await run(keyDir, join(dir, 'missing.sock'), [`${idOf(x)}.key`], n);
    expect(out).toMatchObject({ ok: false, step: 'setup', restored: true });
    if (!out.ok) expect(out.message).toContain('is not a socket');
    expect(existsSync(join(keyDir, `${idOf(n)}.key`))).toBe(false);
  });
});

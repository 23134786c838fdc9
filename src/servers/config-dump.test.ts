import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeSpec } from '../inventory/types.js';
import { adapterFor } from './index.js';
import { interpretState } from './node-state.js';
import { localNodeSpec } from './node-spec.fixture.js';
import { parseReadOutput } from './parse-state.js';
import { buildReadScript } from './read-script.js';

const run = promisify(execFile);
const nginx = '/usr/sbin/nginx';
const adapter = adapterFor('nginx');
let dir: string;
let keyDir: string;
let conf: string;
let env: NodeJS.ProcessEnv;
let key: Buffer;

/** Every nginx the read script starts, by its arguments (a wrapper first in PATH logs them). */
async function calls(): Promise<string[]> {
  const text = await readFile(join(dir, 'calls'), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '');
}

async function readNode(node: NodeSpec, extraEnv: NodeJS.ProcessEnv = {}) {
  await rm(join(dir, 'calls'), { force: true });
  const script = buildReadScript(adapter, node, { runCheck: true });
  const { stdout } = await run('sh', ['-c', script], { env: { ...env, ...extraEnv } });
  return {
    stdout,
    state: interpretState(adapter, node, parseReadOutput(stdout), Date.now() / 1000),
    calls: await calls(),
  };
}

/** nginx's messages name its pid and the time to the second; two runs differ only there. */
const samePid = (text: string): string =>
  text.replace(/\d+#\d+/g, 'P#P').replace(/\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d/g, 'T');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stekctl-dump-'));
  keyDir = join(dir, 'keys');
  await mkdir(keyDir);
  await chmod(keyDir, 0o700);
  await mkdir(join(dir, 'bin'));
  await mkdir(join(dir, 'tmp'));
  key = randomBytes(80);
  await writeFile(join(keyDir, 'a.key'), key, { mode: 0o600 });
  await writeFile(join(dir, 'foreign.key'), randomBytes(48), { mode: 0o600 });
  await writeFile(join(keyDir, 'tickets.conf'), `ssl_session_ticket_key ${keyDir}/a.key;\n`);
  conf = join(dir, 'nginx.conf');
  await writeFile(
    conf,
    [
      // Quoted paths are nginx's too; the read takes them without the quotes.
      `pid "${dir}/nginx.pid";`,
      `error_log ${dir}/error.log;`,
      'events {}',
      'http {',
      `  client_body_temp_path ${dir}/tmp;`,
      '  ssl_session_timeout 7m;',
      `  include ${keyDir}/tickets.conf;`,
      '  server {',
      '    listen 127.0.0.1:1;',
      `    ssl_session_ticket_key '${dir}/foreign.key';`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(dir, 'bin', 'nginx'),
    `#!/bin/sh\necho "$*" >> ${dir}/calls\nexec ${nginx} "$@"\n`,
    { mode: 0o755 },
  );
  env = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!existsSync(nginx))('the read script with nginx', () => {
  it('runs nginx once: one `nginx -T` is the include, foreign keys, lifetime and config test', async () => {
    const node = localNodeSpec(keyDir, { config: conf, check: `nginx -t -q -c ${conf}` });
    const { state, calls: started, stdout } = await readNode(node);
    expect(started).toEqual([`-T -q -c ${conf}`]);
    expect(state.included).toBe(true);
    expect(state.foreignKeys).toEqual([`${dir}/foreign.key`]);
    expect(state.ticketLifetime).toBe('7m');
    expect(state.pidFile).toBe(`${dir}/nginx.pid`);
    expect(state.check).toEqual({ ok: true, output: '' });
    expect(stdout).not.toContain('# configuration file');
    // The dump holds config text only: nginx reads key files, it does not print them.
    const dumped = await run(nginx, ['-T', '-c', conf], { encoding: 'buffer' });
    expect(dumped.stdout.includes(`ssl_session_ticket_key ${keyDir}/a.key;`)).toBe(true);
    expect(dumped.stdout.includes(key.subarray(16))).toBe(false);
  });

  it('reports a failing config test as `nginx -t` does, and the include as unknown', async () => {
    const broken = join(dir, 'broken.conf');
    const text = await readFile(conf, 'utf8');
    await writeFile(broken, text.replace('events {}', 'events {}\nno_such_directive on;'));
    const node = localNodeSpec(keyDir, { config: broken, check: `nginx -t -c ${broken}` });
    const { state, calls: started } = await readNode(node);
    expect(started).toEqual([`-T -c ${broken}`]);
    const alone = await run('sh', ['-c', `${nginx} -t -c ${broken} 2>&1; true`]);
    expect(state.check?.ok).toBe(false);
    expect(state.check?.output).toContain('no_such_directive');
    expect(samePid(state.check?.output ?? '')).toBe(samePid(alone.stdout.trim()));
    expect(state.included).toBeUndefined();
    expect(state.foreignKeys).toEqual([]);
    // No dump, no pid file: each transaction looks in its own.
    expect(state.pidFile).toBeUndefined();
  });

  it('runs a check it does not recognise on its own, beside the dump', async () => {
    const node = localNodeSpec(keyDir, { config: conf, check: `nginx -t -c ${conf} && true` });
    const { state, calls: started } = await readNode(node);
    expect(started).toEqual([`-T -c ${conf}`, `-t -c ${conf}`]);
    expect(state.included).toBe(true);
    expect(state.check?.ok).toBe(true);
    expect(state.check?.output).toContain('test is successful');
  });

  it('tells the config test messages from the dump: warnings and "syntax is ok" go to the check', async () => {
    const warned = join(dir, 'warned.conf');
    const text = await readFile(conf, 'utf8');
    // Two servers of one name on one address: nginx warns and the test still passes.
    const twice = '  server { listen 127.0.0.1:1; server_name twice; }\n';
    await writeFile(warned, text.replace(/\}\n$/, `${twice}${twice}}\n`));
    const node = localNodeSpec(keyDir, { config: warned, check: `nginx -t -c ${warned}` });
    const { state, calls: started } = await readNode(node);
    expect(started).toEqual([`-T -c ${warned}`]);
    const alone = await run('sh', ['-c', `${nginx} -t -c ${warned} 2>&1`]);
    expect(alone.stdout).toContain('conflicting server name');
    expect(state.check?.ok).toBe(true);
    expect(samePid(state.check?.output ?? '')).toBe(samePid(alone.stdout.trim()));
    expect(state.included).toBe(true);
    expect(state.ticketLifetime).toBe('7m');
    expect(state.pidFile).toBe(`${dir}/nginx.pid`);
    expect(state.foreignKeys).toEqual([`${dir}/foreign.key`]);
  });

  it('writes no temporary file: one nginx run, even without a usable TMPDIR', async () => {
    const node = localNodeSpec(keyDir, { config: conf, check: `nginx -t -q -c ${conf}` });
    const own = join(dir, 'own-tmp');
    await mkdir(own);
    const kept = await readNode(node, { TMPDIR: own });
    expect(await readdir(own)).toEqual([]);
    const without = await readNode(node, { TMPDIR: join(dir, 'no-such-dir') });
    expect(without.state).toEqual({ ...kept.state, ring: without.state.ring });
    expect(without.calls).toEqual([`-T -q -c ${conf}`]);
  });

  it('leaves nothing behind when the reader goes away mid-read', async () => {
    // A killed stekctl closes the connection: sshd closes the script's output, and the script's
    // next write gets SIGPIPE.
    const node = localNodeSpec(keyDir, { config: conf, check: `nginx -t -q -c ${conf}` });
    const own = join(dir, 'pipe-tmp');
    await mkdir(own);
    const before = await readdir(keyDir);
    // An nginx that takes its time: the output is closed while the dump is under way.
    const slow = join(dir, 'slow-bin');
    await mkdir(slow);
    const started = join(dir, 'slow-started');
    await writeFile(
      join(slow, 'nginx'),
      `#!/bin/sh\n: > ${started}\nsleep 0.3\nexec ${nginx} "$@"\n`,
      { mode: 0o755 },
    );
    const script = buildReadScript(adapter, node, { runCheck: true });
    const child = spawn('sh', ['-c', script], {
      env: { ...env, TMPDIR: own, PATH: `${slow}:${env.PATH ?? ''}` },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const exited = new Promise<string | null>((resolve) =>
      child.on('exit', (_code, sig) => resolve(sig)),
    );
    const deadline = Date.now() + 5000;
    while (!existsSync(started) && Date.now() < deadline) await sleep(5);
    expect(existsSync(started)).toBe(true);
    child.stdout.destroy();
    expect(await exited).toBe('SIGPIPE');
    expect(await readdir(own)).toEqual([]);
    expect(await readdir(keyDir)).toEqual(before);
  });
});

describe('which nginx checks the dump stands for', () => {
  const dumpOf = (check: string, config = '/srv/n.conf') =>
    adapter.configDump?.(localNodeSpec('/k', { check, config }));
  it('recognises `nginx -t` of the node config, with or without -q', () => {
    expect(dumpOf('nginx -t -c /srv/n.conf')).toEqual({
      command: "nginx -T -c '/srv/n.conf'",
      isCheck: true,
    });
    expect(dumpOf('/usr/sbin/nginx -q -t -c /srv/n.conf')?.command).toBe(
      "/usr/sbin/nginx -T -q -c '/srv/n.conf'",
    );
    expect(dumpOf('nginx -t', '/etc/nginx/nginx.conf')).toEqual({
      command: 'nginx -T',
      isCheck: true,
    });
  });
  it('does not stand for any other command', () => {
    for (const check of [
      'nginx -t',
      'nginx -t -c /other.conf',
      'sudo nginx -t -c /srv/n.conf',
      'nginx -t -c /srv/n.conf; true',
      'docker exec web nginx -t',
      'nginx -T -c /srv/n.conf',
    ]) {
      expect(dumpOf(check)).toEqual({ command: "nginx -T -c '/srv/n.conf'", isCheck: false });
    }
  });
});

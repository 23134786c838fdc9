import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterFor } from './index.js';
import { localNodeSpec } from './node-spec.fixture.js';

let dir: string;
let bin: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stekctl-children-'));
  // A node without procps: the generation must come from /proc alone.
  bin = join(dir, 'bin');
  await execShell(`mkdir ${bin}`);
  for (const tool of ['awk', 'sort', 'tr', 'cat', 'sh'])
    await symlink((await execShell(`command -v ${tool}`)).trim(), join(bin, tool));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function execShell(script: string, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('sh', ['-c', script], { env }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
}

describe("HAProxy's generation", () => {
  it('lists the master and its workers from /proc, on a node without ps', async () => {
    // A master with two workers, as haproxy -W runs.
    const master = spawn('sh', ['-c', 'sleep 30 & sleep 30 & wait'], {
      stdio: 'ignore',
      detached: true,
    });
    try {
      const pidFile = join(dir, 'haproxy.pid');
      await writeFile(pidFile, `${master.pid}\n`);
      const node = localNodeSpec(dir, { reload: `haproxy -p ${pidFile} -sf 1` });
      const script = `stek_pf=${pidFile}\n${adapterFor('haproxy').generationScript?.(node)}\necho "$stek_gen"`;
      let gen = '';
      for (let i = 0; i < 50 && gen.split(',').length < 4; i++) {
        gen = (await execShell(script, { PATH: bin })).trim();
        await new Promise((r) => setTimeout(r, 50));
      }
      const pids = gen.split(',').filter(Boolean).map(Number);
      expect(pids).toHaveLength(3);
      expect(pids).toContain(master.pid);
      expect(pids).toEqual([...pids].sort((a, b) => a - b));
    } finally {
      process.kill(-(master.pid as number), 'SIGKILL');
    }
  });
});

import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.js';
import { startWebPool, type WebPool } from './web-pool.js';

let web: WebPool;

beforeAll(async () => {
  web = await startWebPool();
});
afterAll(async () => {
  await web?.fleet.stop();
});

const keyDirs = (): Promise<string[][]> =>
  Promise.all(web.nodes.map(async (n) => (await readdir(n.keyDir)).sort()));

describe('a run that would run out of file descriptors', () => {
  it('is refused before any node is contacted: exit 2, the numbers, how to raise the limit', async () => {
    const before = await keyDirs();
    // 3 nodes + 16 probe connections + the process's own: more than 60.
    const res = await runCli(['rotate', '-i', web.inventory, '--yes'], {
      wrap: ['prlimit', '--nofile=60:60'],
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('this run needs up to 83 open files (3 nodes');
    expect(res.stderr).toContain('may open 60');
    expect(res.stderr).toContain('ulimit -n 83');
    expect(res.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(await keyDirs()).toEqual(before);
    // Nothing was locked either: the next run goes through.
    const next = await runCli(['rotate', '-i', web.inventory, '--yes', '--quiet']);
    expect(next.code, next.stderr).toBe(0);
  });
});

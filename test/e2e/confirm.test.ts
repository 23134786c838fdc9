import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliOnTerminal } from './cli.js';
import { startFleet, type Fleet } from './fleet/index.js';

let fleet: Fleet;
let inventory: string;
const jsonOut = join(tmpdir(), `stekctl-confirm-${process.pid}.json`);

beforeAll(async () => {
  fleet = await startFleet({ pools: [{ name: 'web', server: 'nginx', nodes: 2 }] });
  inventory = await fleet.writeInventory();
});
afterAll(async () => {
  await fleet?.stop();
  await rm(jsonOut, { force: true });
});

async function managedFiles(): Promise<string[]> {
  return Promise.all(
    fleet.pool('web').nodes.map((n) => readFile(`${n.keyDir}/tickets.conf`, 'utf8')),
  );
}

describe('rotate at a terminal', () => {
  it('shows the plan and asks; anything but yes changes nothing', async () => {
    const before = await managedFiles();
    const res = await runCliOnTerminal(['rotate', '-i', inventory], 'n');
    expect(res.code, res.screen).toBe(1);
    expect(res.screen).toMatch(/pool web \(nginx, 2 nodes\)/);
    expect(res.screen).toContain('Proceed? [y/N]');
    expect(res.screen).toContain('not confirmed; nothing was changed');
    expect(await managedFiles()).toEqual(before);
  });

  it('asks with --json too, on stderr, and stdout holds only the document', async () => {
    const res = await runCliOnTerminal(
      ['rotate', '-i', inventory, '--json'],
      'y',
      ` > '${jsonOut}'`,
    );
    expect(res.code, res.screen).toBe(0);
    expect(res.screen).toMatch(/pool web \(nginx, 2 nodes\)[\s\S]*Proceed\? \[y\/N\]/);
    const doc = JSON.parse(await readFile(jsonOut, 'utf8')) as {
      pools: { outcome: string }[];
    };
    expect(doc.pools.map((p) => p.outcome)).toEqual(['rotated']);
  });
});

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeTicket } from '../../src/probe/index.js';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { runCli } from './cli.js';
import {
  assertInvariant,
  assertRingsAsBefore,
  expectTicketsResumeEverywhere,
  targetOf,
  versions,
} from './invariant.js';

/**
 * HAProxy pools with `runtimeApi`: keys go into the running processes through the stats socket
 * (`set ssl tls-key`) instead of a reload, and the file is written too, so that memory and file
 * agree at every step and a later reload changes nothing.
 */

let fleet: Fleet;
let inventory: string;
let nodes: FleetNode[];

beforeAll(async () => {
  fleet = await startFleet({ pools: [{ name: 'lb', server: 'haproxy', nodes: 2 }] });
  nodes = fleet.pool('lb').nodes;
  inventory = await fleet.writeInventory({
    nodeOverrides: (n) => ({ runtimeApi: n.adminSocket }),
  });
});
afterAll(async () => {
  await fleet?.stop();
});

interface RuntimeStep {
  node: string;
  ok: boolean;
  runtimeApi?: { via: 'runtime-api'; sets: number } | { via: 'reload'; reason: string };
}
interface RotateDoc {
  pools: {
    keyId: string;
    outcome: string;
    error?: string;
    phases: { name: string; nodes: RuntimeStep[] }[];
  }[];
}

const idOf = (line: string): string => Buffer.from(line, 'base64').subarray(0, 16).toString('hex');

/** Key ids of the three keys in HAProxy's memory, in file order (previous, current, next). */
async function memoryIds(node: FleetNode): Promise<string[]> {
  const ref = `${node.keyDir}/tickets.keys`;
  const res = await node.sh(
    `printf 'show tls-keys %s\\n' ${ref} | socat - UNIX-CONNECT:${node.adminSocket}`,
  );
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.split('\n').flatMap((l) => {
    const m = /^\d+\.\d+ (\S+)$/.exec(l.trim());
    return m?.[1] ? [idOf(m[1])] : [];
  });
}

/** Key ids of the last three lines of tickets.keys: what a reload would load. */
async function fileIds(node: FleetNode): Promise<string[]> {
  const text = await readFile(`${node.keyDir}/tickets.keys`, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-3)
    .map(idOf);
}

async function expectMemoryEqualsFile(): Promise<void> {
  for (const n of nodes) {
    const mem = await memoryIds(n);
    expect(mem, n.name).toHaveLength(3);
    expect(mem, n.name).toEqual(await fileIds(n));
  }
}

async function rotate(inv: string): Promise<{ code: number; doc: RotateDoc; stderr: string }> {
  const res = await runCli(['rotate', '-i', inv, '--yes', '--json']);
  return { code: res.code, doc: JSON.parse(res.stdout) as RotateDoc, stderr: res.stderr };
}

function steps(doc: RotateDoc): RuntimeStep[] {
  return doc.pools[0]!.phases.flatMap((p) => p.nodes);
}

describe('stekctl rotate through HAProxy runtime API', () => {
  it('says in the dry run that keys go in through the socket', async () => {
    const res = await runCli(['rotate', '-i', inventory, '--dry-run']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`set the keys in memory through ${nodes[0]!.adminSocket}`);
  });

  it('adopts the hand-made key lines; memory equals the file on every node afterwards', async () => {
    await assertInvariant(fleet, 'lb');
    const { code, doc, stderr } = await rotate(inventory);
    expect(code, stderr).toBe(0);
    // The stage drops the adopted file's third key: shifting keys in one by one would encrypt
    // with it for a moment, so that step reloads; promotion goes through the socket.
    const promote = doc.pools[0]!.phases.find((p) => p.name === 'promote')!;
    for (const n of promote.nodes) expect(n.runtimeApi).toEqual({ via: 'runtime-api', sets: 1 });
    await expectMemoryEqualsFile();
    await assertInvariant(fleet, 'lb');
  });

  it('rotates twice more without any reload: same processes, rings in memory as in the files', async () => {
    for (let round = 0; round < 2; round++) {
      const pids = await Promise.all(nodes.map((n) => n.serverPids()));
      const before = await assertInvariant(fleet, 'lb');
      const current = [...before.rings.values()][0]![0]!;
      const tickets = await Promise.all(
        versions.flatMap((v) => nodes.map((n) => takeTicket(targetOf(n), v))),
      );
      const { code, doc, stderr } = await rotate(inventory);
      expect(code, stderr).toBe(0);
      const K = doc.pools[0]!.keyId;
      for (const s of steps(doc).filter((s) => s.runtimeApi))
        expect(s.runtimeApi?.via, s.node).toBe('runtime-api');
      expect(steps(doc).some((s) => s.runtimeApi?.via === 'runtime-api')).toBe(true);
      expect(await Promise.all(nodes.map((n) => n.serverPids()))).toEqual(pids);
      await expectMemoryEqualsFile();
      const after = await assertInvariant(fleet, 'lb');
      for (const r of after.rings.values()) expect(r.slice(0, 2)).toEqual([K, current]);
      for (const ids of after.encrypting.values()) expect(ids).toEqual([K, K]);
      await expectTicketsResumeEverywhere(tickets, nodes);
      const verify = await runCli(['verify', '-i', inventory]);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    }
  });

  it('a plain reload afterwards keeps the same keys, and tickets still resume', async () => {
    const mem = await Promise.all(nodes.map(memoryIds));
    const tickets = await Promise.all(
      versions.flatMap((v) => nodes.map((n) => takeTicket(targetOf(n), v))),
    );
    for (const n of nodes) await n.reloadServer();
    expect(await Promise.all(nodes.map(memoryIds))).toEqual(mem);
    await expectTicketsResumeEverywhere(tickets, nodes);
    await assertInvariant(fleet, 'lb');
  });

  it('a wrong socket on one node: the preflight stops with the reason, nothing is written', async () => {
    const before = await assertInvariant(fleet, 'lb');
    const pids = await Promise.all(nodes.map((n) => n.serverPids()));
    const odd = nodes[1]!;
    const wrong = join(odd.dir, 'no-such.sock');
    const faulty = await fleet.writeInventory({
      path: join(fleet.dir, 'wrong-socket.yaml'),
      nodeOverrides: (n) => ({ runtimeApi: n === odd ? wrong : n.adminSocket }),
    });
    const res = await runCli(['rotate', '-i', faulty, '--yes', '--json']);
    expect(res.code).toBe(1);
    const doc = JSON.parse(res.stdout) as {
      stopped: string;
      preflight: { failures: { node: string; reason: string }[] }[];
    };
    expect(doc.stopped).toBe('preflight');
    expect(doc.preflight[0]!.failures).toContainEqual({
      node: odd.host,
      reason: expect.stringContaining(`cannot be read through ${wrong}`) as string,
    });
    await assertRingsAsBefore(fleet, 'lb', before);
    expect(await Promise.all(nodes.map((n) => n.serverPids()))).toEqual(pids);
    await expectMemoryEqualsFile();
    const again = await rotate(inventory);
    expect(again.code, again.stderr).toBe(0);
    await expectMemoryEqualsFile();
    await assertInvariant(fleet, 'lb');
  });

  it('status compares the keys in memory with the file and names a node where they differ', async () => {
    const ok = await runCli(['status', '-i', inventory, '--json']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const doc = JSON.parse(ok.stdout) as { pools: { nodes: { runtimeKeys?: string[] }[] }[] };
    for (const [i, n] of nodes.entries())
      expect(doc.pools[0]!.nodes[i]!.runtimeKeys).toEqual(await fileIds(n));
    // Someone sets a key by hand: the running process no longer holds what the file says.
    const odd = nodes[1]!;
    const stray = randomBytes(80).toString('base64');
    const set = await odd.sh(
      `printf 'set ssl tls-key %s %s\\n' ${odd.keyDir}/tickets.keys ${stray} | socat - UNIX-CONNECT:${odd.adminSocket}`,
    );
    expect(set.code, set.stderr).toBe(0);
    const bad = await runCli(['status', '-i', inventory]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(
      new RegExp(`${odd.host}.*keys in memory .* differ from the last three lines`),
    );
    expect(bad.stdout).not.toContain(stray);
    // A rotation would set the keys from the file again: it goes ahead and says what it found.
    const dry = await runCli(['rotate', '-i', inventory, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout + dry.stderr).toMatch(/keys in memory .* differ from the last three lines/);
    await odd.reloadServer();
    const back = await runCli(['status', '-i', inventory]);
    expect(back.code, back.stdout).toBe(0);
  });
});

import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet, FleetNode } from './fleet/index.js';
import { startWebPool } from './web-pool.js';
import { runCli } from './cli.js';
import { assertInvariant, assertRingsAsBefore } from './invariant.js';
import {
  leftovers,
  startCli,
  waitForOutput,
  waitForTransactions,
  type RunningCli,
} from './invariant-extra.js';
import { startRelay, type Relay } from './network-faults.js';

/**
 * stekctl stopped by a signal in each phase of a rotation (issue 7). The phase is recognised by
 * its progress line on stderr, `[web] <phase> on 3 node(s)...`, and the signal is sent the moment
 * that line arrives.
 *
 * What the code does, and these tests hold it to:
 * - SIGINT or SIGTERM is acted on before each phase: a run stopped during the stage, the
 *   promotion or the verification rolls back and exits 1 with every ring as before (even a
 *   promotion that would have verified: the operator asked to stop).
 * - During the retire, the last phase, the rotation is already verified and only clean-up is
 *   left: the run finishes it, exits 0 and says so in a note.
 * - SIGKILL stops everything at once; the node-side transaction in flight finishes on its own.
 *   The invariant holds, the dead run's lock stays, and the next `rotate` breaks it as stale and
 *   completes, leaving no stray key file.
 *
 * The verification lasts a few handshakes only: to land the signal inside it, every probe of
 * these runs goes through a relay that holds new connections from the moment the phase starts
 * until stekctl has taken the signal.
 *
 * The overlap during SIGINT/SIGTERM/SIGKILL and SIGKILL during the promotion are tested in
 * rotate-interrupt.test.ts.
 */

let fleet: Fleet;
let inventory: string;
/** The same fleet with every probe through a relay. */
let relayed: string;
let relays: Relay[] = [];
let nodes: FleetNode[];

beforeAll(async () => {
  // Two rotations, so that every ring holds a previous key as it does in steady state.
  ({ fleet, nodes, inventory } = await startWebPool(2));
  relays = await Promise.all(nodes.map(startRelay));
  relayed = await fleet.writeInventory({
    path: `${fleet.dir}/relayed.yaml`,
    nodeOverrides: (n) => ({ probe: { port: relays[nodes.indexOf(n)]!.port } }),
  });
});
afterAll(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  await fleet?.stop();
});

/** Starts a rotation and sends `signal` once the phase began (within it, for the verification). */
async function interrupt(phase: string, signal: NodeJS.Signals, json = true): Promise<RunningCli> {
  const run = startCli(['rotate', '-i', relayed, '--yes', ...(json ? ['--json'] : [])]);
  await run.when(new RegExp(`\\[web\\] ${phase} on 3 node\\(s\\)`));
  if (phase === 'verify') for (const r of relays) r.setMode('hold');
  run.kill(signal);
  if (signal === 'SIGKILL') await run.exited;
  else await waitForOutput(run, new RegExp(`${signal}: stopping at the next safe point`));
  for (const r of relays) r.setMode('pass');
  return run;
}

interface RotateDoc {
  pools: { keyId: string; outcome: string; error: string | undefined; notes: string[] }[];
}

/** Every key file in each key directory is in that node's ring: nothing stray was left. */
async function expectNoStrayKeys(rings: Map<string, string[]>): Promise<void> {
  for (const n of nodes) {
    const files = (await readdir(n.keyDir)).filter((f) => f.endsWith('.key')).sort();
    const ring = rings.get(n.displayName) ?? [];
    expect(files, n.name).toEqual(ring.map((id) => `${id}.key`).sort());
    expect(await leftovers(n), n.name).toEqual([]);
  }
}

async function expectNextRotateSucceeds(): Promise<string> {
  const next = await runCli(['rotate', '-i', inventory, '--yes']);
  expect(next.code, next.stderr + next.stdout).toBe(0);
  const after = await assertInvariant(fleet, 'web');
  expect(new Set([...after.rings.values()].map((r) => r.join()))).toHaveProperty('size', 1);
  await expectNoStrayKeys(after.rings);
  return next.stdout + next.stderr;
}

describe('stekctl stopped by SIGINT or SIGTERM', () => {
  it.each([
    ['stage', 'SIGINT', /interrupted before promote/],
    ['stage', 'SIGTERM', /interrupted before promote/],
    ['promote', 'SIGINT', /interrupted before retire/],
    ['promote', 'SIGTERM', /interrupted before retire/],
    ['verify', 'SIGINT', /interrupted before retire/],
    ['verify', 'SIGTERM', /interrupted before retire/],
  ] as const)(
    'during the %s, by %s: rolls back, exit 1, every ring as before',
    async (phase, signal, cause) => {
      const before = await assertInvariant(fleet, 'web');
      const res = await (await interrupt(phase, signal)).exited;
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).toContain(`${signal}: stopping at the next safe point`);
      const doc = JSON.parse(res.stdout) as RotateDoc;
      expect(doc.pools[0]?.outcome).toBe('rolled-back');
      expect(doc.pools[0]?.error).toMatch(cause);
      await assertRingsAsBefore(fleet, 'web', before);
      const newKey = doc.pools[0]!.keyId;
      for (const n of nodes) {
        expect(await readdir(n.keyDir)).not.toContain(`${newKey}.key`);
        expect(await leftovers(n), n.name).toEqual([]);
      }
      await expectNextRotateSucceeds();
    },
  );

  it.each(['SIGINT', 'SIGTERM'] as const)(
    'during the retire, by %s: the verified rotation is finished, exit 0, with a note',
    async (signal) => {
      const before = await assertInvariant(fleet, 'web');
      const old = [...before.rings.values()][0]![0]!;
      const res = await (await interrupt('retire', signal)).exited;
      expect(res.code, res.stderr).toBe(0);
      const doc = JSON.parse(res.stdout) as RotateDoc;
      expect(doc.pools[0]?.outcome).toBe('rotated');
      expect(doc.pools[0]?.notes.join('\n')).toMatch(
        /interrupted during the last phase \(retire\): it was finished rather than rolled back/,
      );
      const after = await assertInvariant(fleet, 'web');
      for (const ring of after.rings.values()) expect(ring).toEqual([doc.pools[0]!.keyId, old]);
      await expectNoStrayKeys(after.rings);
      await expectNextRotateSucceeds();
    },
  );
});

describe('stekctl killed by SIGKILL', () => {
  it.each(['stage', 'verify', 'retire'])(
    'during the %s: the invariant holds, the next run breaks the stale lock and completes',
    async (phase) => {
      await assertInvariant(fleet, 'web');
      const run = await interrupt(phase, 'SIGKILL', false);
      const res = await run.exited;
      expect(res.signal).toBe('SIGKILL');
      // What the dead run's connections started on the nodes finishes there on its own.
      await waitForTransactions(fleet, 'web');
      await assertInvariant(fleet, 'web');
      const locks = await Promise.all(
        nodes.map((n) => readFile(`${n.keyDir}/stekctl.lock`, 'utf8').catch(() => '')),
      );
      // The retire releases each node's lock as its last act: a retire that reached a node
      // finishes there and leaves no lock; elsewhere the dead run's lock stays until broken.
      const held = locks.filter((lock) => lock !== '');
      for (const lock of held) expect(lock).toContain(`"pid":${run.pid}`);
      if (phase !== 'retire') expect(held).toHaveLength(nodes.length);
      const said = await expectNextRotateSucceeds();
      if (held.length > 0) expect(said).toMatch(/broke a stale lock.*no longer running/);
    },
  );
});

import { existsSync } from 'node:fs';
import { readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet, FleetNode } from './fleet/index.js';
import { startWebPool } from './web-pool.js';
import { runCli } from './cli.js';
import { preflightFailureOf, rotateDocOf } from './rotate-doc.js';
import { assertInvariant, assertRingsAsBefore, listKeyDirs } from './invariant.js';
import {
  ensureSshd,
  faultyCommand,
  killSshd,
  leftovers,
  readCalls,
  startCli,
  waitForTransactions,
  waitUntil,
} from './invariant-extra.js';
import { startBlackHole, startRelay } from './network-faults.js';

/**
 * One node fails at a point of a rotation that rotate-faults.test.ts does not cover (issue 7):
 * it becomes unreachable during the stage or the verification and stays so; its SSH connection
 * is cut while the node-side transaction still runs, so that the rollback must wait for it; its
 * reload "succeeds" without the server taking the new configuration. Each test checks the exit
 * code, that every node serves with the invariant intact, and that the next `rotate` succeeds.
 */

let fleet: Fleet;
let inventory: string;
let nodes: FleetNode[];
let odd: FleetNode;

beforeAll(async () => {
  ({ fleet, nodes, inventory } = await startWebPool(2));
  odd = nodes[1]!;
});
afterEach(async () => {
  await ensureSshd(odd);
});
afterAll(async () => {
  await fleet?.stop();
});

function inventoryWith(override: Record<string, unknown>): Promise<string> {
  return fleet.writeInventory({
    path: join(fleet.dir, 'fault.yaml'),
    nodeOverrides: (n) => (n === odd ? override : undefined),
  });
}

/** Shell for a fault script: drop `marker`, then wait (up to 60 s) for `${marker}.go`. */
async function pauseAt(marker: string): Promise<string> {
  await rm(marker, { force: true });
  await rm(`${marker}.go`, { force: true });
  return `touch ${marker}; i=0; while [ ! -f ${marker}.go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`;
}

async function release(marker: string): Promise<void> {
  await writeFile(`${marker}.go`, '');
}

async function expectNextRotateSucceeds(): Promise<void> {
  const next = await runCli(['rotate', '-i', inventory, '--yes']);
  expect(next.code, next.stderr + next.stdout).toBe(0);
  const after = await assertInvariant(fleet, 'web');
  expect(new Set([...after.rings.values()].map((r) => r.join()))).toHaveProperty('size', 1);
  for (const n of nodes) expect(await leftovers(n), n.name).toEqual([]);
}

/** Pids of processes waiting for the node-side transaction lock (`flock -w ...`) in `dir`. */
async function flockWaiters(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const args = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (args[0] !== 'flock' || !args.includes('-w')) continue;
    if ((await readlink(`/proc/${name}/cwd`).catch(() => '')) === dir) out.push(Number(name));
  }
  return out;
}

describe('a node that becomes unreachable and stays so', () => {
  it('during the stage: exit 3 naming it, the others restored, the invariant holds, the next run completes', async () => {
    const before = await assertInvariant(fleet, 'web');
    const reload = await faultyCommand(
      odd,
      'reload',
      odd.reload,
      1,
      await pauseAt(`${odd.dir}/cut`),
    );
    const run = runCli([
      'rotate',
      '-i',
      await inventoryWith({ reload: reload.command }),
      '--yes',
      '--json',
    ]);
    await waitUntil('the stage to reach the reload', () => existsSync(`${odd.dir}/cut`));
    // The node drops off the network: its sshd and every session go; what runs there goes on.
    await killSshd(odd, { listener: true });
    await release(`${odd.dir}/cut`);
    const res = await run;
    expect(res.code, res.stderr).toBe(3);
    const doc = rotateDocOf(res);
    expect(doc.pools[0]?.outcome).toBe('not-restored');
    expect(doc.pools[0]?.needsPerson).toContainEqual({
      node: odd.host,
      reason: 'could not be reached to confirm its state',
    });
    // Staged keys only decrypt: whatever the node finished, every node encrypts as before, so
    // the reachable node is put back; only the lost one is left for a person.
    expect(doc.pools[0]?.needsPerson.map((p) => p.node)).toEqual([odd.host]);
    await waitForTransactions(fleet, 'web');
    const after = await assertInvariant(fleet, 'web');
    expect(after.rings.get(nodes[0]!.name)).toEqual(before.rings.get(nodes[0]!.name));
    await odd.startSshd();
    // The lost node finished its stage alone: status sends the operator to a whole rotation.
    const status = await runCli(['status', '-i', inventory]);
    expect(status.stdout).toMatch(
      new RegExp(
        `staged on 1 of ${nodes.length} nodes, which \`rotate --promote\` cannot finish; .*else \`stekctl rotate -i ${inventory} -p web\` does`,
      ),
    );
    await expectNextRotateSucceeds();
  });

  it('during the verification: exit 3 naming it, the invariant holds, the next run completes', async () => {
    await assertInvariant(fleet, 'web');
    const relay = await startRelay(odd);
    try {
      const faulty = await inventoryWith({ probe: { port: relay.port } });
      const run = startCli(['rotate', '-i', faulty, '--yes', '--json']);
      await run.when(/\[web\] verify on 3 node\(s\)/);
      relay.setMode('refuse');
      await killSshd(odd, { listener: true });
      const res = await run.exited;
      expect(res.code, res.stderr).toBe(3);
      const doc = rotateDocOf(res);
      expect(doc.pools[0]?.error).toBe('verification after promotion failed');
      // The relay hangs up on every new connection: what it stopped failed as a connection,
      // and no offer to the node reads as a ticket it refused.
      const lost = doc.pools[0]?.verification?.offers.filter((o) => o.to === odd.host && !o.reused);
      expect(lost?.length).toBeGreaterThan(0);
      for (const o of lost ?? []) {
        expect(['tls-error', 'unreachable'], JSON.stringify(o)).toContain(o.error?.code);
      }
      expect(doc.pools[0]?.outcome).toBe('not-restored');
      expect(doc.pools[0]?.needsPerson).toContainEqual({
        node: odd.host,
        reason: 'could not be reached to confirm its state',
      });
      // The node kept the promoted ring; the others went back to their old encrypting key and
      // keep the new one for decryption, so each node's tickets resume everywhere.
      await assertInvariant(fleet, 'web');
    } finally {
      await relay.stop();
    }
    await odd.startSshd();
    await expectNextRotateSucceeds();
  });
});

describe('the connection cut while the node-side transaction runs', () => {
  it.each(['SIGKILL', 'SIGTERM'] as const)(
    'sshd sessions ended by %s: the rollback waits for the orphaned transaction, then restores the node: exit 1',
    async (signal) => {
      const before = await assertInvariant(fleet, 'web');
      const marker = `${odd.dir}/check-cut`;
      // Check call 1 is the preflight's, 2 the stage transaction's: pause there.
      const check = await faultyCommand(odd, 'check', odd.check, 2, await pauseAt(marker));
      const reload = await faultyCommand(odd, 'reload', odd.reload, 0, 'true');
      const faulty = await inventoryWith({ check: check.command, reload: reload.command });
      const run = runCli(['rotate', '-i', faulty, '--yes', '--json']);
      await waitUntil('the stage transaction to reach the config test', () => existsSync(marker));
      await killSshd(odd, { listener: false, signal });
      // The run reconnects to roll back; its transaction on the node waits for the lock that the
      // orphaned one holds. Only then may the orphan go on.
      await waitUntil(
        'the rollback transaction to wait for the node lock',
        async () => (await flockWaiters(odd.keyDir)).length > 0,
      );
      await release(marker);
      const res = await run;
      expect(res.code, res.stderr).toBe(1);
      const doc = rotateDocOf(res);
      expect(doc.pools[0]?.outcome).toBe('rolled-back');
      expect(doc.pools[0]?.error).toContain(`stage failed on ${odd.host}`);
      await assertRingsAsBefore(fleet, 'web', before);
      for (const n of nodes) {
        expect(await leftovers(n), n.name).toEqual([]);
        expect(await readdir(n.keyDir)).not.toContain(`${doc.pools[0]!.keyId}.key`);
      }
      // The orphan reloaded (call 1) and ended before the rollback's reload (call 2) began.
      const calls = await readCalls(reload.log);
      expect(calls.map((c) => c[0])).toEqual([1, 2]);
      expect(calls[0]![2]).toBeDefined();
      expect(calls[0]![2]!).toBeLessThanOrEqual(calls[1]![1]);
      await expectNextRotateSucceeds();
    },
  );
});

describe('a reload that exits 0 but is not taken', () => {
  it('during the promotion: the node reports "not taken", exit 1, every ring as before', async () => {
    const before = await assertInvariant(fleet, 'web');
    const reload = await faultyCommand(odd, 'reload', odd.reload, 2, 'exit 0');
    const res = await runCli([
      'rotate',
      '-i',
      await inventoryWith({ reload: reload.command }),
      '--yes',
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(1);
    const doc = rotateDocOf(res);
    expect(doc.pools[0]?.outcome).toBe('rolled-back');
    expect(doc.pools[0]?.error).toMatch(
      new RegExp(
        `promote failed on ${odd.host}: not-taken: the server did not load the new configuration`,
      ),
    );
    await assertRingsAsBefore(fleet, 'web', before);
    await expectNextRotateSucceeds();
  });
});

describe('a node whose TLS server is stopped while its sshd answers', () => {
  it('stops in the preflight naming the node and its port, writes nothing; the next run completes', async () => {
    await assertInvariant(fleet, 'web');
    const files = await listKeyDirs(fleet, 'web');
    await odd.stopServer();
    try {
      const expected = new RegExp(
        `^nothing accepts connections on ${odd.host}:${odd.tlsPort} \\(connection refused\\): is the TLS server \\(nginx\\) running\\?`,
      );
      const dry = await runCli(['rotate', '-i', inventory, '--dry-run']);
      expect(dry.code, dry.stderr).toBe(1);
      expect(dry.stdout + dry.stderr).toContain(
        `pool web, ${odd.host}: nothing accepts connections on ${odd.host}:${odd.tlsPort}`,
      );
      const res = await runCli(['rotate', '-i', inventory, '--yes', '--json']);
      const failure = preflightFailureOf(res);
      expect(failure.node).toBe(odd.host);
      expect(failure.reason).toMatch(expected);
      expect(failure.reason).toContain('set probe.via: ssh');
      // Not a file touched, no lock left behind, on any node.
      expect(await listKeyDirs(fleet, 'web')).toEqual(files);
      for (const n of nodes) expect(await leftovers(n), n.name).toEqual([]);
    } finally {
      await odd.startServer();
    }
    await expectNextRotateSucceeds();
  });
});

describe('a node whose TLS port lets connections time out (a firewall dropping them)', () => {
  it('stops in the preflight naming the node and the timeout, writes nothing', async () => {
    await assertInvariant(fleet, 'web');
    const files = await listKeyDirs(fleet, 'web');
    const hole = await startBlackHole(odd.host);
    try {
      const faulty = await inventoryWith({ probe: { port: hole.port, timeout: '1s' } });
      const res = await runCli(['rotate', '-i', faulty, '--yes', '--json']);
      const failure = preflightFailureOf(res);
      expect(failure.node).toBe(odd.host);
      expect(failure.reason).toMatch(
        new RegExp(
          `^nothing accepts connections on ${odd.host}:${hole.port} \\(no answer within 1 s\\)`,
        ),
      );
      expect(await listKeyDirs(fleet, 'web')).toEqual(files);
      for (const n of nodes) expect(await leftovers(n), n.name).toEqual([]);
    } finally {
      await hole.stop();
    }
  });

  it('an interrupt while the check still waits ends the run at once: exit 1, nothing written', async () => {
    const files = await listKeyDirs(fleet, 'web');
    const hole = await startBlackHole(odd.host);
    try {
      // A minute's timeout: the test's own limit fails it if the run waits that out.
      const faulty = await inventoryWith({ probe: { port: hole.port, timeout: '60s' } });
      const run = startCli(['rotate', '-i', faulty, '--yes']);
      await waitUntil('the preflight to hold every lock', () =>
        nodes.every((n) => existsSync(join(n.keyDir, 'stekctl.lock'))),
      );
      run.kill('SIGINT');
      const res = await run.exited;
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).toMatch(/stopped before any change: interrupted before stage/);
      expect(res.stdout + res.stderr).toMatch(
        /pool web \(nginx\): FAILED before any change: nothing was written/,
      );
      expect(res.stdout + res.stderr).not.toMatch(/verify after the rollback/);
      expect(await listKeyDirs(fleet, 'web')).toEqual(files);
      for (const n of nodes) expect(await leftovers(n), n.name).toEqual([]);
    } finally {
      await hole.stop();
    }
  }, 30_000);
});

import { constants } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TlsVersion } from '../../src/inventory/types.js';
import { nodeWorkers } from '../../src/loopback/node-server.js';
import { askNode, startFleet, type Fleet, type FleetNode, type NodeAnswer } from './fleet/index.js';
import { runCli, secretFragments } from './cli.js';

/**
 * A pool of Node.js clusters (3 nodes, 3 workers each) whose workers load stekctl's key through
 * useTicketKeys from the built 'stekctl/node'. Real TLS clients check that tickets resume across
 * workers and nodes, and that a switch reaches running workers without a restart.
 */
let fleet: Fleet;
let inventory: string;
const versions: TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];
const long = 300_000;

beforeAll(async () => {
  fleet = await startFleet({
    pools: [{ name: 'api', server: 'node', nodes: 3 }],
    readyTimeoutMs: 30_000,
  });
  inventory = await fleet.writeInventory();
}, long);
afterAll(async () => {
  await fleet?.stop();
});

const nodes = (): FleetNode[] => fleet.pool('api').nodes;

interface RotateDoc {
  exitCode: number;
  pools: { keyId: string; outcome: string; switchLoss?: { lost: number } }[];
}

async function stekctl(verb: string, args: string[] = []) {
  const res = await runCli([verb, '-i', inventory, '--yes', '--json', ...args], {
    timeoutMs: long,
  });
  return { ...res, doc: JSON.parse(res.stdout || '{}') as RotateDoc };
}

/** Offers `session` to `to` until every one of its workers has answered at least once. */
async function acrossWorkers(
  to: FleetNode,
  version: TlsVersion,
  session: Buffer | undefined,
): Promise<NodeAnswer[]> {
  const answers: NodeAnswer[] = [];
  // Round-robin scheduling hands consecutive connections to consecutive workers.
  while (new Set(answers.map((a) => a.worker)).size < nodeWorkers) {
    if (answers.length >= 10 * nodeWorkers)
      throw new Error(`${to.name}: only workers ${[...new Set(answers.map((a) => a.worker))]}`);
    answers.push(await askNode(to, version, session));
  }
  return answers;
}

/** Every worker of every node reports `keyId`; waits, since watchers react within moments. */
async function waitForKeyEverywhere(keyId: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const seen = (
      await Promise.all(nodes().map((n) => acrossWorkers(n, 'TLSv1.3', undefined)))
    ).flat();
    if (seen.every((a) => a.workerKeyId === keyId && a.ticketKeyId === keyId)) return;
    if (Date.now() > deadline)
      throw new Error(
        `not every worker uses ${keyId}: ${seen.map((a) => `${a.node}/${a.worker}=${a.workerKeyId}`)}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A ticket from any worker of any node resumes on every worker of every node. */
async function expectResumptionEverywhere(keyId: string): Promise<void> {
  for (const v of versions) {
    for (const from of nodes()) {
      const issued = await askNode(from, v);
      expect(issued.reused).toBe(false);
      expect(issued.ticketKeyId).toBe(keyId);
      for (const to of nodes()) {
        const answers = await acrossWorkers(to, v, issued.session);
        for (const a of answers) {
          expect(a.reused, `${v} ${from.name}/${issued.worker} -> ${a.node}/${a.worker}`).toBe(
            true,
          );
          expect(a.workerKeyId).toBe(keyId);
        }
      }
    }
  }
}

async function waitUntil(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const pidsOf = async (): Promise<number[][]> => Promise.all(nodes().map((n) => n.serverPids()));

describe('a pool of Node.js clusters', () => {
  it(
    'before stekctl, Node shares a random key among the workers of a node, never across nodes',
    async () => {
      const [a, b] = nodes() as [FleetNode, FleetNode];
      for (const v of versions) {
        const issued = await askNode(a, v);
        const own = await acrossWorkers(a, v, issued.session);
        for (const x of own) expect(x.reused).toBe(true);
        const other = await acrossWorkers(b, v, issued.session);
        for (const x of other) {
          expect(x.reused).toBe(false);
          expect(x.workerKeyId).not.toBe(issued.workerKeyId);
        }
      }
    },
    long,
  );

  let first = '';
  it(
    'the first rotation reaches every running worker: resumption across workers and nodes',
    async () => {
      const pids = await pidsOf();
      const res = await stekctl('rotate');
      expect(res.code, res.stderr).toBe(0);
      first = res.doc.pools[0]!.keyId;
      await waitForKeyEverywhere(first);
      expect(await pidsOf()).toEqual(pids);
      await expectResumptionEverywhere(first);
      const status = await runCli(['status', '-i', inventory]);
      expect(status.code, status.stdout).toBe(0);
      const verify = await runCli(['verify', '-i', inventory]);
      expect(verify.code, verify.stdout).toBe(0);
    },
    long,
  );

  let second = '';
  it(
    'a second rotation switches running workers without a restart; keys never show',
    async () => {
      const before = await Promise.all(versions.map((v) => askNode(nodes()[0]!, v)));
      const pids = await pidsOf();
      const res = await stekctl('rotate');
      expect(res.code, res.stderr).toBe(0);
      second = res.doc.pools[0]!.keyId;
      expect(second).not.toBe(first);
      // One key, no decrypt-only slot: tickets from before the switch fall back to a full handshake.
      expect(res.doc.pools[0]!.switchLoss?.lost).toBeGreaterThan(0);
      await waitForKeyEverywhere(second);
      expect(await pidsOf()).toEqual(pids);
      for (const [i, v] of versions.entries()) {
        const offered = await askNode(nodes()[1]!, v, before[i]!.session);
        expect(offered.reused).toBe(false);
        expect(offered.ticketKeyId).toBe(second);
      }
      await expectResumptionEverywhere(second);

      const n = nodes()[0]!;
      const key = await readFile(`${n.keyDir}/${second}.key`);
      expect(key.length).toBe(48);
      const text = res.stdout + res.stderr + (await readFile(n.errorLog, 'utf8'));
      expect(text).toContain(`uses ticket key ${second}`);
      for (const f of secretFragments(key)) expect(text).not.toContain(f);
    },
    long,
  );

  it(
    'a config test failing on one node during the switch puts every worker back on the key',
    async () => {
      const odd = nodes()[1]!;
      const managed = `${odd.keyDir}/tickets.conf`;
      const frozen = `${odd.dir}/tickets.conf.orig`;
      await writeFile(frozen, await readFile(managed));
      const inv = await fleet.writeInventory({
        path: `${fleet.dir}/inv-check.yaml`,
        nodeOverrides: (n) => (n === odd ? { check: `cmp -s ${managed} ${frozen}` } : undefined),
      });
      const res = await runCli(['rotate', '-i', inv, '--yes'], { timeoutMs: long });
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).toContain(odd.host);
      await waitForKeyEverywhere(second);
      await expectResumptionEverywhere(second);
    },
    long,
  );

  it(
    'rollback returns every running worker to the previous key',
    async () => {
      const res = await stekctl('rollback');
      expect(res.code, res.stderr).toBe(0);
      await waitForKeyEverywhere(first);
      await expectResumptionEverywhere(first);
    },
    long,
  );

  it(
    'a worker forked again after the rotations takes the current key, not the one from its start',
    async () => {
      const n = nodes()[0]!;
      const primary = Number((await readFile(n.pidFile, 'utf8')).trim());
      const victim = (await n.serverPids()).find((p) => p !== primary)!;
      process.kill(victim, 'SIGKILL');
      // Worker ids only grow: the new worker is the first with an id above the initial ones.
      await waitUntil(`${n.name} forks a new worker that answers`, 60_000, async () => {
        if ((await n.serverPids()).includes(victim)) return false;
        for (let i = 0; i < 2 * nodeWorkers; i++) {
          // While the primary notices the dead worker, a connection may go unanswered: ask again.
          const answer = await askNode(n, 'TLSv1.2', undefined, 3000).catch(() => undefined);
          if (answer && answer.worker > nodeWorkers) return true;
        }
        return false;
      });
      const answers = await acrossWorkers(n, 'TLSv1.3', undefined);
      for (const a of answers) expect(a.workerKeyId, `worker ${a.worker}`).toBe(first);
      await expectResumptionEverywhere(first);
    },
    long,
  );

  it(
    'verify names a node that issues no tickets; a restarted node loads the key at start',
    async () => {
      const off = nodes()[2]!;
      const pool = fleet.pool('api');
      await off.stopServer();
      const plain: Server = createServer({
        cert: await readFile(pool.certPem),
        key: await readFile(pool.keyPem),
        secureOptions: constants.SSL_OP_NO_TICKET,
      });
      plain.on('request', (_req, res) => res.end('no tickets\n'));
      await new Promise<void>((resolve) => plain.listen(off.tlsPort, off.host, resolve));
      try {
        const verify = await runCli(['verify', '-i', inventory]);
        expect(verify.code).not.toBe(0);
        expect(verify.stdout + verify.stderr).toMatch(new RegExp(`${off.host}.*issues no tickets`));
      } finally {
        plain.closeAllConnections();
        await new Promise((resolve) => plain.close(resolve));
      }
      await off.startServer();
      const answers = await acrossWorkers(off, 'TLSv1.2', undefined);
      for (const a of answers) expect(a.workerKeyId).toBe(first);
      await expectResumptionEverywhere(first);
    },
    long,
  );
});

import { readFile, writeFile } from 'node:fs/promises';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offerTicket, takeTicket, type ProbeTarget } from '../../src/probe/index.js';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { runCli } from './cli.js';
import { canBind } from '../../src/loopback/wait.js';
import { sshPort as fleetSshPort, tlsPort as fleetTlsPort } from '../../src/loopback/plan.js';
import { preflightFailureOf } from './rotate-doc.js';
import { assertInvariant, listKeyDirs, targetOf, versions } from './invariant.js';
import { leftovers, waitUntil } from './invariant-extra.js';

/**
 * Nodes written the odd ways an inventory may name them (issue 7): a host name (`localhost`,
 * which resolves already; /etc/hosts is left alone) and an IPv6 literal (`::1`), each on a port
 * of its own, so that known_hosts records them as `[localhost]:port` and `[::1]:port`. Every
 * node of the loopback fleet is a directory on this machine, so a second sshd and a second
 * nginx listener give node 2 the name `localhost` and node 3 the name `::1`, on free ports.
 */

let fleet: Fleet;
let nodes: FleetNode[];
let named: { node: FleetNode; host: string; sshPort: number; tlsPort: number }[];
let knownHosts: string;
let inventory: string;

/**
 * Two distinct ports nothing listens on at `host` right now, below the kernel's ephemeral range
 * (32768 and up on Linux): the suite's other files connect out over loopback at the same time,
 * and an outgoing connection's port taken between this pick and the listener's bind would make
 * that bind fail.
 */
async function freePorts(host: string): Promise<[number, number]> {
  const picked: number[] = [];
  while (picked.length < 2) {
    const port = randomInt(10_000, 32_000);
    if (port === fleetSshPort || port === fleetTlsPort || picked.includes(port)) continue;
    if (await canBind(host, port)) picked.push(port);
  }
  return [picked[0]!, picked[1]!];
}

function bracketed(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Starts a second sshd for the node, listening on host:port, from a copy of its config. */
async function startExtraSshd(node: FleetNode, host: string, port: number): Promise<void> {
  const dir = join(node.dir, 'ssh');
  const config = await readFile(join(dir, 'sshd_config'), 'utf8');
  const name = `extra-${port}`;
  await writeFile(
    join(dir, `${name}.conf`),
    config
      .replace(/^ListenAddress .*$/m, `ListenAddress ${bracketed(host)}:${port}`)
      .replace(/^PidFile .*$/m, `PidFile ${join(dir, `${name}.pid`)}`),
  );
  const res = await node.sh(`/usr/sbin/sshd -f ${dir}/${name}.conf -E ${dir}/${name}.log`);
  expect(res.code, res.stderr + (await readFile(join(dir, `${name}.log`), 'utf8'))).toBe(0);
}

async function stopExtraSshd(node: FleetNode, port: number): Promise<void> {
  const pidFile = join(node.dir, 'ssh', `extra-${port}.pid`);
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '0')).trim());
  if (pid > 0) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
    await waitUntil(`sshd ${pid} to end`, async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  }
}

/** Adds a TLS listener on host:port to the node's nginx, in its default server, and reloads. */
async function addNginxListener(node: FleetNode, host: string, port: number): Promise<void> {
  const conf = await readFile(node.config, 'utf8');
  const anchor = `listen ${node.host}:${node.tlsPort} ssl default_server;`;
  expect(conf).toContain(anchor);
  await writeFile(
    node.config,
    conf.replace(anchor, `${anchor}\n    listen ${bracketed(host)}:${port} ssl;`),
  );
  await node.reloadServer();
}

function oddTarget(n: (typeof named)[number]): ProbeTarget {
  return { ...targetOf(n.node), node: n.host, host: n.host, port: n.tlsPort };
}

beforeAll(async () => {
  fleet = await startFleet({ pools: [{ name: 'web', server: 'nginx', nodes: 3 }] });
  nodes = fleet.pool('web').nodes;
  named = [];
  for (const [node, host] of [
    [nodes[1]!, 'localhost'],
    [nodes[2]!, '::1'],
  ] as const) {
    const address = host === 'localhost' ? '127.0.0.1' : host;
    const [extraSsh, extraTls] = await freePorts(address);
    const entry = { node, host, sshPort: extraSsh, tlsPort: extraTls };
    await startExtraSshd(node, address, entry.sshPort);
    await addNginxListener(node, address, entry.tlsPort);
    named.push(entry);
  }
  knownHosts = join(fleet.dir, 'known_hosts.odd');
  await writeFile(
    knownHosts,
    [
      `[${nodes[0]!.host}]:${nodes[0]!.sshPort} ${nodes[0]!.hostKey}`,
      ...named.map((n) => `[${n.host}]:${n.sshPort} ${n.node.hostKey}`),
      '',
    ].join('\n'),
  );
  inventory = await fleet.writeInventory({
    path: join(fleet.dir, 'odd-hosts.yaml'),
    defaults: { ssh: { knownHosts } },
    nodeOverrides: (node) => {
      const n = named.find((x) => x.node === node);
      return n ? { host: n.host, ssh: { port: n.sshPort }, probe: { port: n.tlsPort } } : undefined;
    },
  });
});
afterAll(async () => {
  for (const n of named ?? []) await stopExtraSshd(n.node, n.sshPort);
  await fleet?.stop();
});

describe('nodes named by host name and by IPv6 literal', () => {
  it('rotate, status and verify work through them, and their tickets resume everywhere', async () => {
    const text = await readFile(inventory, 'utf8');
    expect(text).toMatch(/host: localhost/);
    expect(text).toMatch(/host: "?::1"?/);
    const res = await runCli(['rotate', '-i', inventory, '--yes', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout) as { pools: { keyId: string; before: object }[] };
    expect(Object.keys(doc.pools[0]!.before).sort()).toEqual(
      [nodes[0]!.host, 'localhost', '::1'].sort(),
    );
    const after = await assertInvariant(fleet, 'web');
    for (const ring of after.rings.values()) expect(ring[0]).toBe(doc.pools[0]!.keyId);

    // The addresses the inventory names serve the same keys: a ticket from each resumes on
    // every node, and the other way round.
    for (const version of versions) {
      for (const n of named) {
        const ticket = await takeTicket(oddTarget(n), version);
        expect(ticket.keyId).toBe(doc.pools[0]!.keyId);
        for (const other of nodes) {
          expect((await offerTicket(targetOf(other), version, ticket)).reused).toBe(true);
        }
        const back = await takeTicket(targetOf(nodes[0]!), version);
        expect((await offerTicket(oddTarget(n), version, back)).reused).toBe(true);
      }
    }
    const status = await runCli(['status', '-i', inventory]);
    expect(status.code, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toContain('localhost');
    expect(status.stdout).toContain('::1');
    const verify = await runCli(['verify', '-i', inventory]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('a changed host key under [localhost]:port stops the run at preflight, naming the node', async () => {
    const files = await listKeyDirs(fleet, 'web');
    const local = named[0]!;
    const original = await readFile(knownHosts, 'utf8');
    // Record another node's key for [localhost]:port.
    await writeFile(
      knownHosts,
      original.replace(
        `[localhost]:${local.sshPort} ${local.node.hostKey}`,
        `[localhost]:${local.sshPort} ${nodes[0]!.hostKey}`,
      ),
    );
    try {
      const res = await runCli(['rotate', '-i', inventory, '--yes', '--json']);
      const failure = preflightFailureOf(res);
      expect(failure.node).toBe('localhost');
      expect(failure.reason).toContain(`localhost:${local.sshPort}`);
      expect(failure.reason).toMatch(/changed|does not match/i);
      expect(await listKeyDirs(fleet, 'web')).toEqual(files);
    } finally {
      await writeFile(knownHosts, original);
    }
  });

  it('--accept-new records an unknown IPv6 node as [::1]:port in known_hosts', async () => {
    const v6 = named[1]!;
    const original = await readFile(knownHosts, 'utf8');
    const line = `[::1]:${v6.sshPort} ${v6.node.hostKey}`;
    await writeFile(knownHosts, original.replace(`${line}\n`, ''));
    const strict = await runCli(['status', '-i', inventory]);
    expect(strict.code).not.toBe(0);
    expect(strict.stdout + strict.stderr).toContain(`[::1]:${v6.sshPort}`);
    const res = await runCli(['status', '-i', inventory, '--accept-new']);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const recorded = (await readFile(knownHosts, 'utf8')).split('\n');
    expect(recorded.filter((l) => l.startsWith(`[::1]:${v6.sshPort} `))).toEqual([line]);
  });

  it('the IPv6 node unreachable at preflight: exit 1 naming [::1]:port, nothing written', async () => {
    const v6 = named[1]!;
    const files = await listKeyDirs(fleet, 'web');
    await stopExtraSshd(v6.node, v6.sshPort);
    try {
      const res = await runCli(['rotate', '-i', inventory, '--yes']);
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).toMatch(/preflight failed; nothing was written/);
      expect(res.stderr).toContain(`[::1]:${v6.sshPort}`);
      expect(await listKeyDirs(fleet, 'web')).toEqual(files);
    } finally {
      await startExtraSshd(v6.node, '::1', v6.sshPort);
    }
    const next = await runCli(['rotate', '-i', inventory, '--yes']);
    expect(next.code, next.stderr).toBe(0);
    await assertInvariant(fleet, 'web');
    for (const n of nodes) expect(await leftovers(n), n.name).toEqual([]);
  });
});

import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { NodeSSH } from 'node-ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { reapStaleFleets, startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { isAlive, processesUnder } from '../../src/loopback/procs.js';
import { fleetPrefix, fleetRoot } from '../../src/loopback/reaper.js';

function ssh(fleet: Fleet, node: FleetNode, knownHosts = fleet.knownHosts): Promise<number> {
  const args = ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${knownHosts}`];
  args.push(
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-i',
    fleet.identityFile,
  );
  args.push('-p', String(node.sshPort), `root@${node.host}`, 'true');
  return new Promise((resolve) => {
    execFile('ssh', args, { timeout: 15_000 }, (err) => resolve(err ? Number(err.code ?? 255) : 0));
  });
}

interface Answer {
  protocol: string | null;
  cert: PeerCertificate;
  body: string;
}

function fetchOverTls(node: FleetNode, version: 'TLSv1.2' | 'TLSv1.3'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sock = connect({
      host: node.host,
      port: node.tlsPort,
      servername: node.servername,
      minVersion: version,
      maxVersion: version,
      rejectUnauthorized: false,
    });
    let raw = '';
    let protocol: string | null = null;
    let cert = {} as PeerCertificate;
    sock.setTimeout(5000, () => sock.destroy(new Error('timeout')));
    sock.on('secureConnect', () => {
      protocol = sock.getProtocol();
      cert = sock.getPeerCertificate();
      sock.write(`GET /any/path HTTP/1.1\r\nHost: ${node.servername}\r\nConnection: close\r\n\r\n`);
    });
    sock.on('data', (d: Buffer) => (raw += d.toString('utf8')));
    sock.on('error', reject);
    sock.on('close', () => resolve({ protocol, cert, body: raw }));
  });
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('test fleet', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await startFleet({
      pools: [
        { name: 'web', server: 'nginx', nodes: 3, distinctCertNode: 2 },
        { name: 'app', server: 'apache', nodes: 2 },
        { name: 'lb', server: 'haproxy', nodes: 2, distinctTicketsNode: 1 },
      ],
    });
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  it('starts seven nodes on their own addresses', () => {
    expect(fleet.nodes).toHaveLength(7);
    expect(new Set(fleet.nodes.map((n) => n.host)).size).toBe(7);
    expect(fleet.nodes.map((n) => n.host)).toEqual(
      [1, 2, 3, 4, 5, 6, 7].map((n) => `${fleet.subnet}.${n}`),
    );
    expect(fleet.dir).toMatch(/^[A-Za-z0-9._/-]+$/);
  });

  it('lets root in over ssh with the client key, and only with the right host keys', async () => {
    expect(await Promise.all(fleet.nodes.map((n) => ssh(fleet, n)))).toEqual(
      fleet.nodes.map(() => 0),
    );
    const emptyKnownHosts = join(fleet.dir, 'empty_known_hosts');
    await writeFile(emptyKnownHosts, '');
    expect(await ssh(fleet, fleet.nodes[0] as FleetNode, emptyKnownHosts)).not.toBe(0);
  });

  it('serves node-ssh (ssh2) with the host key from known_hosts', async () => {
    const node = fleet.pool('lb').nodes[0] as FleetNode;
    const expected = node.hostKey.split(' ')[1];
    const conn = new NodeSSH();
    await conn.connect({
      host: node.host,
      port: node.sshPort,
      username: 'root',
      privateKeyPath: fleet.identityFile,
      hostVerifier: (key: Buffer) => key.toString('base64') === expected,
    });
    try {
      const res = await conn.execCommand(`cat ${node.keyDir}/tickets.keys | wc -l`);
      expect(res.stdout.trim()).toBe('3');
    } finally {
      conn.dispose();
    }
  });

  it('answers TLS 1.2 and 1.3 with 200 and the node name on every node', async () => {
    const answers = await Promise.all(
      fleet.nodes.flatMap((n) => [fetchOverTls(n, 'TLSv1.2'), fetchOverTls(n, 'TLSv1.3')]),
    );
    fleet.nodes.forEach((n, i) => {
      for (const [k, version] of [
        [0, 'TLSv1.2'],
        [1, 'TLSv1.3'],
      ] as const) {
        const a = answers[2 * i + k] as Answer;
        expect(a.protocol).toBe(version);
        expect(a.body).toMatch(/^HTTP\/1\.1 200/);
        expect(a.body).toContain(`node ${n.name}`);
        expect(a.cert.subject.CN).toBe(n.servername);
      }
    });
    const fingerprints = (pool: string): string[] =>
      fleet.nodes.flatMap((n, i) =>
        n.pool === pool ? [(answers[2 * i] as Answer).cert.fingerprint256] : [],
      );
    const web = fingerprints('web');
    expect(web[0]).toBe(web[1]);
    expect(web[2]).not.toBe(web[0]);
    const app = fingerprints('app');
    expect(app[0]).toBe(app[1]);
  });

  it('lays out key directories and server commands per node', async () => {
    for (const n of fleet.nodes) {
      expect((await n.sh(`stat -c %a ${n.keyDir}`)).stdout.trim()).toBe('700');
      const check = await n.sh(n.check);
      expect(check.code, `${n.name}: ${check.stderr}`).toBe(0);
      expect((await n.serverPids()).length).toBeGreaterThan(0);
    }
    const [lb1, lb2] = fleet.pool('lb').nodes as [FleetNode, FleetNode];
    const keys1 = await readFile(join(lb1.keyDir, 'tickets.keys'), 'utf8');
    const keys2 = await readFile(join(lb2.keyDir, 'tickets.keys'), 'utf8');
    for (const line of keys1.trim().split('\n'))
      expect(Buffer.from(line, 'base64')).toHaveLength(80);
    expect(sha(keys1) === sha(keys2)).toBe(false);
  });

  it('writes the inventory in the agreed shape', async () => {
    const path = await fleet.writeInventory();
    const text = await readFile(path, 'utf8');
    expect(text).toContain('ssh: { port: 22022 }');
    const doc = parse(text);
    expect(doc.defaults.ssh).toEqual({
      user: 'root',
      identityFile: fleet.identityFile,
      knownHosts: fleet.knownHosts,
      connectTimeout: '5s',
    });
    expect(Object.keys(doc.pools)).toEqual(['web', 'app', 'lb']);
    const node = fleet.pool('app').nodes[1] as FleetNode;
    expect(doc.pools.app).toMatchObject({
      server: 'apache',
      overlap: '0s',
      probe: { port: 24443, servername: 'app.test', timeout: '3s' },
    });
    expect(doc.pools.app.nodes[1]).toEqual({
      host: node.host,
      ssh: { port: 22022 },
      keyDir: node.keyDir,
      config: node.config,
      check: node.check,
      reload: node.reload,
    });

    const other = await fleet.writeInventory({
      path: join(fleet.dir, 'lb.yaml'),
      pools: ['lb'],
      poolOverrides: { lb: { overlap: '2s', probe: { servername: undefined } } },
      extra: (d) => {
        d.defaults.ssh = { ...(d.defaults.ssh as object), sudo: false };
      },
    });
    const lb = parse(await readFile(other, 'utf8'));
    expect(Object.keys(lb.pools)).toEqual(['lb']);
    expect(lb.pools.lb.overlap).toBe('2s');
    expect(lb.pools.lb.probe).toEqual({ port: 24443, timeout: '3s' });
    expect(lb.defaults.ssh.sudo).toBe(false);
  });

  it('reloads, stops and starts each kind of server, and sshd', async () => {
    for (const pool of fleet.pools) {
      const node = pool.nodes[0] as FleetNode;
      const before = await node.serverPids();
      await node.reloadServer();
      expect(await node.serverPids()).not.toEqual(before);
      await node.stopServer();
      expect(await node.serverPids()).toEqual([]);
      await expect(fetchOverTls(node, 'TLSv1.3')).rejects.toThrow();
      await node.startServer();
      expect((await fetchOverTls(node, 'TLSv1.3')).body).toContain('200');
    }
    const node = fleet.nodes[0] as FleetNode;
    await node.stopSshd();
    expect(await node.sshdPids()).toEqual([]);
    expect(await ssh(fleet, node)).not.toBe(0);
    await node.startSshd();
    expect(await ssh(fleet, node)).toBe(0);
  });

  it('stops every process of the fleet and removes its directory', async () => {
    const pids = processesUnder(fleet.dir);
    const perNode = await Promise.all(fleet.nodes.map((n) => n.serverPids()));
    for (const list of perNode) expect(list.length).toBeGreaterThan(0);
    const serverPids = perNode.flat();
    expect(pids).toEqual(expect.arrayContaining(serverPids));
    await fleet.stop();
    await fleet.stop();
    expect(existsSync(fleet.dir)).toBe(false);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(processesUnder(fleet.dir)).toEqual([]);
  });
});

describe('reapStaleFleets', () => {
  it('kills what a dead owner left behind and removes its directory', async () => {
    const dir = join(fleetRoot(), `${fleetPrefix}reaptest${process.pid}`);
    await mkdir(dir, { recursive: true });
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    await writeFile(join(dir, 'owner'), `${dead.pid} 0\n`);
    const orphan = spawn('/bin/sh', ['-c', `sleep 300; : ${dir}/marker`], {
      detached: true,
      stdio: 'ignore',
    });
    orphan.unref();
    const pid = orphan.pid as number;
    expect(isAlive(pid)).toBe(true);
    expect(await reapStaleFleets()).toContain(dir);
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});

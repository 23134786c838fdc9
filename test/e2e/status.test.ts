import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from './fleet/index.js';
import { keyId, newKey, placeNginxRing, runCli, secretFragments } from './cli.js';

let fleet: Fleet;
let inventory: string;

beforeAll(async () => {
  fleet = await startFleet({
    pools: [
      { name: 'web', server: 'nginx', nodes: 3 },
      { name: 'lb', server: 'haproxy', nodes: 2 },
      { name: 'app', server: 'apache', nodes: 2 },
    ],
  });
  inventory = await fleet.writeInventory();
});
afterAll(async () => {
  await fleet?.stop();
});

describe('stekctl status on a real fleet', () => {
  it('reports a fresh nginx pool as not bootstrapped, and adopts a hand-placed HAProxy key file', async () => {
    const res = await runCli(['status', '-i', inventory, '--json']);
    expect(res.code).toBe(1);
    const doc = JSON.parse(res.stdout) as StatusDoc;
    const web = doc.pools.find((p) => p.pool === 'web');
    expect(web?.verdict).toBe('unmanaged');
    expect(web?.nodes.every((n) => n.reachable && n.included === true)).toBe(true);
    const lb = doc.pools.find((p) => p.pool === 'lb');
    expect(lb?.verdict).toBe('consistent');
    expect(lb?.ring).toHaveLength(3);
    expect(lb?.nodes[0]?.ring?.map((e) => e.role)).toEqual(['encrypt', 'next', 'decrypt']);
    // Each key's name is its first 16 bytes: lines previous, current, next.
    const [previous, current, next] = await haproxyKeyIds(fleet.pool('lb').nodes[0]!.keyDir);
    expect(lb?.nodes[0]?.ring?.map((e) => e.keyId)).toEqual([current, next, previous]);
    expect(doc.pools.find((p) => p.pool === 'app')?.verdict).toBe('unmanaged');
    // verify says the same in one line, not one per node and peer.
    const verify = await runCli(['verify', '-i', inventory, '--pool', 'web']);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain('! not bootstrapped: no node has a managed key');
    expect(verify.stdout.match(/ ! /g)).toHaveLength(1);
  });

  it('names an HAProxy key line that is not a key, with its node and line', async () => {
    const odd = fleet.pool('lb').nodes[1]!;
    const file = `${odd.keyDir}/tickets.keys`;
    const saved = await readFile(file, 'utf8');
    const lines = saved.split('\n');
    await writeFile(file, [lines[0], `${lines[1]!.slice(0, 40)}!`, ...lines.slice(2)].join('\n'));
    try {
      const res = await runCli(['status', '-i', inventory, '--pool', 'lb']);
      expect(res.code).toBe(1);
      expect(res.stdout).toMatch(new RegExp(`${odd.host}.*line 2 is not a 48- or 80-byte key`));
    } finally {
      await writeFile(file, saved);
    }
  });

  it('exits 0 for a consistent pool and shows the ring, never key bytes', async () => {
    const keys = [newKey(), newKey(80)];
    for (const node of fleet.pool('web').nodes) {
      await placeNginxRing(node, keys);
      await node.reloadServer();
    }
    const res = await runCli(['status', '-i', inventory, '--pool', 'web']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('consistent');
    expect(res.stdout).toContain(keyId(keys[0]!).slice(0, 12));
    // Each key with its role, its age and its file's mode, each labelled.
    expect(res.stdout).toMatch(
      new RegExp(`${keyId(keys[0]!).slice(0, 12)} \\(encrypt, \\d+s old, mode 600\\)`),
    );
    const json = await runCli(['status', '-i', inventory, '--pool', 'web', '--json']);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as StatusDoc;
    expect(doc.pools[0]?.ring).toEqual(keys.map(keyId));
    for (const text of [res.stdout, json.stdout]) {
      for (const key of keys)
        for (const frag of secretFragments(key)) expect(text).not.toContain(frag);
    }
  });

  it('names the node whose ring differs', async () => {
    const odd = fleet.pool('web').nodes[1]!;
    const saved = await readFile(`${odd.keyDir}/tickets.conf`, 'utf8');
    await placeNginxRing(odd, [newKey()]);
    try {
      const res = await runCli(['status', '-i', inventory, '--pool', 'web']);
      expect(res.code).toBe(1);
      expect(res.stdout).toContain('INCONSISTENT');
      expect(res.stdout).toMatch(new RegExp(`${odd.host}.*ring differs`));
    } finally {
      await writeFile(`${odd.keyDir}/tickets.conf`, saved);
    }
  });

  it('names an unreachable node and still reports the others', async () => {
    const down = fleet.pool('web').nodes[2]!;
    await down.stopSshd();
    try {
      const res = await runCli(['status', '-i', inventory, '--pool', 'web', '--json']);
      expect(res.code).toBe(1);
      const doc = JSON.parse(res.stdout) as StatusDoc;
      const nodes = doc.pools[0]!.nodes;
      expect(nodes.find((n) => n.host === down.host)?.reachable).toBe(false);
      expect(nodes.find((n) => n.host === down.host)?.error).toMatch(/refused|connect/i);
      expect(nodes.filter((n) => n.reachable)).toHaveLength(2);
      // On the terminal the reason is told once.
      const text = await runCli(['status', '-i', inventory, '--pool', 'web']);
      expect(text.stdout).toMatch(new RegExp(`${down.host} +unreachable\n`));
      expect(text.stdout.match(/connection refused/g)).toHaveLength(1);
    } finally {
      await down.startSshd();
    }
  });

  it('refuses a host key that does not match known_hosts, naming the host', async () => {
    const target = fleet.pool('web').nodes[0]!;
    const other = fleet.pool('web').nodes[1]!;
    const original = await readFile(fleet.knownHosts, 'utf8');
    // Give node 1's entry the host key of node 2: a changed key, as after a man in the middle.
    const forged = original
      .split('\n')
      .map((l) =>
        l.startsWith(`[${target.host}]`) ? `[${target.host}]:22022 ${other.hostKey}` : l,
      )
      .join('\n');
    await writeFile(fleet.knownHosts, forged);
    try {
      const res = await runCli(['status', '-i', inventory, '--pool', 'web']);
      expect(res.code).toBe(1);
      expect(res.stdout).toMatch(/host key/i);
      expect(res.stdout).toContain(target.host);
    } finally {
      await writeFile(fleet.knownHosts, original);
    }
  });

  it('rejects an invalid inventory with exit 2 before contacting anything', async () => {
    const bad = `${fleet.dir}/bad.yaml`;
    const text = (await readFile(inventory, 'utf8')).replace('overlap:', 'overlapp:');
    await writeFile(bad, text);
    const res = await runCli(['status', '-i', bad]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('bad.yaml:');
    expect(res.stderr).toContain('overlapp');
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });
});

/** The 16-byte names of the key lines of an HAProxy tickets.keys, in file order. */
async function haproxyKeyIds(keyDir: string): Promise<string[]> {
  const text = await readFile(`${keyDir}/tickets.keys`, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => Buffer.from(l, 'base64').subarray(0, 16).toString('hex'));
}

interface StatusDoc {
  pools: {
    pool: string;
    verdict: string;
    ring: string[];
    nodes: {
      host: string;
      reachable: boolean;
      error?: string;
      included?: boolean;
      ring?: { keyId: string; role: string }[];
    }[];
  }[];
}

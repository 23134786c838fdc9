/**
 * First contact through the CLI: `--accept-new` records unknown host keys in the inventory's
 * knownHosts, and never accepts a key that differs from a recorded one.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHostKey, fingerprintOf } from '../../src/remote/known-hosts.js';
import { runCli } from './cli.js';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';

let fleet: Fleet;
let inventory: string;
let knownHosts: string;

beforeAll(async () => {
  // A fresh HAProxy pool shares one tickets file: status is consistent (exit 0) once reachable.
  fleet = await startFleet({ pools: [{ name: 'lb', server: 'haproxy', nodes: 2 }] });
  knownHosts = join(fleet.dir, 'first-contact_known_hosts');
  await writeFile(knownHosts, '');
  inventory = await fleet.writeInventory({
    path: join(fleet.dir, 'accept-new.yaml'),
    defaults: { ssh: { knownHosts } },
  });
});
afterAll(async () => {
  await fleet?.stop();
});

function keyOf(node: FleetNode): { type: string; blob: Buffer } {
  const [type = '', base64 = ''] = node.hostKey.split(' ');
  return { type, blob: Buffer.from(base64, 'base64') };
}

function recorded(text: string, node: FleetNode): string {
  const { type, blob } = keyOf(node);
  return checkHostKey(text, node.host, node.sshPort, type, blob).status;
}

describe('--accept-new through stekctl status', () => {
  it('refuses unknown host keys without --accept-new, and records nothing', async () => {
    const res = await runCli(['status', '-i', inventory]);
    expect(res.code).toBe(1);
    expect(res.stdout + res.stderr).toMatch(/host key of .* is not known/);
    expect(await readFile(knownHosts, 'utf8')).toBe('');
  });

  it('records every node key on first contact and exits 0', async () => {
    const res = await runCli(['status', '-i', inventory, '--accept-new']);
    expect(res.code).toBe(0);
    const text = await readFile(knownHosts, 'utf8');
    for (const node of fleet.nodes) {
      expect(recorded(text, node)).toBe('match');
      expect(text).toContain(`[${node.host}]:${node.sshPort} ssh-ed25519 `);
      // Each key recorded is said, with the fingerprint to compare, as ssh does.
      expect(res.stderr).toContain(
        `recorded the host key of [${node.host}]:${node.sshPort} (ssh-ed25519 ${fingerprintOf(keyOf(node).blob)}) in ${knownHosts} (--accept-new)\n`,
      );
    }
    expect(res.stderr.trim().split('\n')).toHaveLength(fleet.nodes.length);
    expect(text.trim().split('\n')).toHaveLength(fleet.nodes.length);
    // The keys are now known: a plain run needs no flag.
    expect((await runCli(['status', '-i', inventory])).code).toBe(0);
  });

  it('never accepts a changed key, even with --accept-new, and names the host', async () => {
    const [first, second] = fleet.nodes as [FleetNode, FleetNode];
    const before = await readFile(knownHosts, 'utf8');
    // The entry for the first node now holds the second node's key: a stand-in impostor.
    const swapped = before.replace(first.hostKey, second.hostKey);
    expect(swapped).not.toBe(before);
    await writeFile(knownHosts, swapped);

    const res = await runCli(['status', '-i', inventory, '--accept-new', '--json']);
    expect(res.code).toBe(1);
    const doc = JSON.parse(res.stdout) as {
      pools: { nodes: { host: string; reachable: boolean; error?: string }[] }[];
    };
    const nodes = doc.pools[0]?.nodes ?? [];
    const bad = nodes.find((n) => n.host === first.host);
    expect(bad?.reachable).toBe(false);
    expect(bad?.error).toContain('host key');
    expect(bad?.error).toContain(first.host);
    expect(bad?.error).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
    expect(nodes.find((n) => n.host === second.host)?.reachable).toBe(true);
    // Nothing was added or replaced.
    expect(await readFile(knownHosts, 'utf8')).toBe(swapped);

    const text = await runCli(['status', '-i', inventory, '--accept-new']);
    expect(text.code).toBe(1);
    expect(text.stdout + text.stderr).toContain('host key');
    expect(text.stdout + text.stderr).toContain(first.host);
  });
});

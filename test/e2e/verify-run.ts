import { readFile } from 'node:fs/promises';
import { expect } from 'vitest';
import { takeTicket } from '../../src/probe/index.js';
import type { Fleet, FleetNode, WriteInventoryOptions } from './fleet/index.js';
import { runCli, secretFragments, type CliResult } from './cli.js';

/** The parts of `stekctl verify --json` the tests read. */
export interface VerifyDoc {
  ok: boolean;
  pools: {
    pool: string;
    ok: boolean;
    via: 'direct' | 'ssh';
    probedFrom?: string;
    ring?: { verdict: string; keyIds: string[] };
    ringError?: string;
    probe: {
      ok: boolean;
      plan: 'matrix' | 'cycle';
      versions: {
        version: string;
        nodes: { node: string; issued: boolean; keyId?: string; certFingerprint?: string }[];
      }[];
      offers: {
        from: string;
        to: string;
        version: string;
        reused: boolean;
        skipped?: boolean;
        diagnoses?: string[];
      }[];
      nodes: { node: string; ok: boolean; reasons: string[]; codes: string[] }[];
      encryptingKeyIds: string[];
      diagnostics: { code: string; message: string; nodes: string[] }[];
      summary: { probes: number; resumed: number };
    };
  }[];
}

/** Every output of the run, so that a last check can look for key bytes in all of them. */
export const outputs: string[] = [];

export async function verify(inventory: string, ...args: string[]): Promise<CliResult> {
  const res = await runCli(['verify', '-i', inventory, ...args], { timeoutMs: 60_000 });
  outputs.push(res.stdout, res.stderr);
  return res;
}

export async function verifyJson(
  inventory: string,
  ...args: string[]
): Promise<{ res: CliResult; doc: VerifyDoc; pool: VerifyDoc['pools'][number] }> {
  const res = await verify(inventory, '--json', ...args);
  expect(res.stderr).toBe('');
  const doc = JSON.parse(res.stdout) as VerifyDoc;
  expect(doc.pools).toHaveLength(1);
  return { res, doc, pool: doc.pools[0]! };
}

/** An inventory of the first `count` nodes of one pool. */
export function writePoolInventory(
  fleet: Fleet,
  pool: string,
  count: number,
  file: string,
  extra: Omit<WriteInventoryOptions, 'path' | 'pools' | 'extra'> = {},
): Promise<string> {
  return fleet.writeInventory({
    ...extra,
    path: `${fleet.dir}/${file}`,
    pools: [pool],
    extra: (doc) => {
      doc.pools[pool]!.nodes.splice(count);
    },
  });
}

/** Asserts what every passing pool shows: every planned offer resumed under a single key. */
export function expectPassed(pool: VerifyDoc['pools'][number], offers: number, key?: string): void {
  expect(pool.ok).toBe(true);
  expect(pool.probe.summary).toMatchObject({ probes: offers, resumed: offers });
  expect(pool.probe.offers).toHaveLength(offers);
  expect(pool.probe.offers.every((o) => o.reused)).toBe(true);
  expect(pool.probe.versions.map((v) => v.version)).toEqual(['TLSv1.2', 'TLSv1.3']);
  expect(pool.probe.encryptingKeyIds).toHaveLength(1);
  if (key) expect(pool.probe.encryptingKeyIds).toEqual([key]);
}

/** Every offer of a matrix plan: each node's ticket at each node, in each version. */
export function expectMatrix(pool: VerifyDoc['pools'][number], hosts: string[]): void {
  const seen = pool.probe.offers.map((o) => `${o.version} ${o.from} ${o.to}`).sort();
  const all = ['TLSv1.2', 'TLSv1.3'].flatMap((v) =>
    hosts.flatMap((from) => hosts.map((to) => `${v} ${from} ${to}`)),
  );
  expect(seen).toEqual(all.sort());
}

export function statusOf(pool: VerifyDoc['pools'][number], node: FleetNode) {
  return pool.probe.nodes.find((n) => n.node === node.host);
}

/** Secret fragments of HAProxy's base64 key lines, as placed by the fleet. */
export async function haproxyKeys(node: FleetNode): Promise<Buffer[]> {
  const text = await readFile(`${node.keyDir}/tickets.keys`, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => Buffer.from(l.trim(), 'base64'));
}

/** No output of the run holds any secret part of any of `keys`. */
export function expectNoKeyBytes(keys: Buffer[]): void {
  expect(outputs.length).toBeGreaterThan(0);
  for (const text of outputs)
    for (const key of keys)
      for (const frag of secretFragments(key)) expect(text).not.toContain(frag);
}

/**
 * Waits until a reloaded node issues tickets under `key` (undefined: no ticket), twice in a row
 * in each version: Apache's graceful restart returns while old children still answer.
 */
export async function waitForKey(node: FleetNode, key: string | undefined): Promise<void> {
  const target = {
    node: node.host,
    host: node.host,
    port: node.tlsPort,
    servername: node.servername,
    ca: undefined,
    timeoutMs: 3000,
  };
  const until = Date.now() + 15_000;
  let streak = 0;
  let seen: (string | undefined)[] = [];
  while (streak < 2) {
    if (Date.now() > until) {
      throw new Error(`${node.name}: still issues tickets under ${seen.join(', ')}, not ${key}`);
    }
    seen = await Promise.all(
      (['TLSv1.2', 'TLSv1.3'] as const).map(async (v) => (await takeTicket(target, v)).keyId),
    );
    streak = seen.every((k) => k === key) ? streak + 1 : 0;
    if (streak < 2) await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

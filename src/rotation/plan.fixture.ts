import { expect } from 'vitest';
import type { NodeSpec, PoolSpec, ServerKind } from '../inventory/types.js';
import { adapterFor } from '../servers/index.js';
import { interpretState } from '../servers/node-state.js';
import type { Manifest, NodeState, PendingRotation, RawNodeState } from '../servers/types.js';
import { checkPlanInvariant } from './check-invariant.js';
import { ringIds } from './placement.js';
import type { RotationPlan } from './types.js';

/**
 * Node states as the read script would report them, for the planners' unit tests: built from a
 * short description of each node's ring, files and record.
 */

/** A key id made of one repeated hex digit: readable in failures. */
export const id = (c: string): string => c.repeat(32);
export const K = id('f');
export const now = new Date('2030-01-01T00:00:00Z');

/** Only what planning reads of a node: its name and where its keys live. */
export function nodeSpec(i: number): NodeSpec {
  return { name: `n${i}`, host: `10.0.0.${i}`, keyDir: `/keys/n${i}`, config: '/c' } as NodeSpec;
}

export function poolOf(server: ServerKind, count: number, retain = 1): PoolSpec {
  return {
    name: 'web',
    server,
    keySize: server === 'haproxy' ? 80 : 48,
    overlapMs: 0,
    retain,
    nodes: Array.from({ length: count }, (_, i) => nodeSpec(i + 1)),
    line: undefined,
  };
}

export interface NodeSetup {
  /** Key ids the managed file names, encrypting first (HAProxy: the key lines, in file order). */
  ring: string[];
  /** Further key files in keyDir. */
  files?: string[];
  /** Ring entries whose file is gone. */
  missing?: string[];
  pending?: PendingRotation;
  /** What a finished change recorded: the ring to roll back to, and whether it was a rollback. */
  record?: Pick<Manifest, 'previousRing'> & Pick<Manifest, 'lastChange'>;
}

export function keyFile(keyId: string, size: number) {
  return { file: `${keyId}.key`, size, mode: '600', owner: 'root', mtime: 1, keyId };
}

/** The raw records the read script would print for a node, turned into a NodeState. */
export function stateOf(server: ServerKind, node: NodeSpec, setup: NodeSetup): NodeState {
  const size = server === 'haproxy' ? 80 : 48;
  const manifest =
    setup.pending || setup.record
      ? JSON.stringify({
          version: 1,
          pool: 'web',
          keys: {},
          ...setup.record,
          pending: setup.pending,
        })
      : undefined;
  const onDisk = [
    ...new Set([...(server === 'haproxy' ? [] : setup.ring), ...(setup.files ?? [])]),
  ];
  const raw: RawNodeState = {
    dir: { exists: true, mode: '700', owner: 'root' },
    files: [
      ...onDisk.filter((k) => !setup.missing?.includes(k)).map((k) => keyFile(k, size)),
      {
        file: server === 'haproxy' ? 'tickets.keys' : 'tickets.conf',
        size: 10,
        mode: '600',
        owner: 'root',
        mtime: 1,
        keyId: undefined,
      },
    ],
    conf: undefined,
    manifestText: manifest,
    referenced: new Map(),
    keyLines: undefined,
    keyLinesMode: undefined,
    included: true,
    foreignKeys: [],
    check: { ok: true, output: '' },
    ticketLifetime: '300s',
    complete: true,
  };
  if (server === 'haproxy') {
    raw.keyLines = setup.ring.map((k) => ({ size, keyId: k }));
    raw.keyLinesMode = '600';
  } else {
    const directive = server === 'nginx' ? 'ssl_session_ticket_key' : 'SSLSessionTicketKeyFile';
    raw.conf = setup.ring.map((k) => `${directive} ${node.keyDir}/${k}.key;`).join('\n');
    for (const k of setup.ring) {
      raw.referenced.set(
        `${node.keyDir}/${k}.key`,
        setup.missing?.includes(k) ? 'missing' : { size, mode: '600', keyId: k },
      );
    }
  }
  return interpretState(adapterFor(server), node, raw, now.getTime() / 1000);
}

/** A plan and the node states it was built from. */
export interface Planned {
  plan: RotationPlan;
  states: Map<NodeSpec, NodeState>;
}

/** Every plan must keep the invariant: the reason it is built the way it is. */
export function expectSafe(p: Planned): void {
  expect(checkPlanInvariant(p.plan, p.states)).toEqual([]);
}

export function phaseNames(p: RotationPlan): string[] {
  return p.phases.map((ph) => ph.name);
}

/** The ring of every node after each phase, as key ids. */
export function ringsAfter(p: RotationPlan, phase: string): string[][] {
  const ph = p.phases.find((x) => x.name === phase);
  return ph ? ph.steps.map((s) => ringIds(s.ring)) : [];
}

export const [A, B, C, D] = [id('a'), id('b'), id('c'), id('d')];

/** The record a run leaves on a node mid-way: the key, its phase and the ring it started from. */
export function pendingRecord(
  phase: PendingRotation['phase'],
  keyId: string,
  ringBefore: string[],
  by?: 'rollback',
): PendingRotation {
  const p: PendingRotation = {
    phase,
    keyId,
    started: now.toISOString(),
    ringBefore,
    promoteAfter: undefined,
  };
  if (by) p.by = by;
  return p;
}

/** A pool of one node per setup, and the state each node reports. */
export function poolStates(
  server: ServerKind,
  setups: NodeSetup[],
  retain = 1,
): { pool: PoolSpec; states: Map<NodeSpec, NodeState> } {
  const pool = poolOf(server, setups.length, retain);
  return { pool, states: new Map(pool.nodes.map((n, i) => [n, stateOf(server, n, setups[i]!)])) };
}

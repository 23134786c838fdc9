import { describe, expect, it } from 'vitest';
import type { NodeSpec, PoolSpec, ServerKind } from '../inventory/types.js';
import type { NodeState, PlacedRing } from '../servers/types.js';
import { checkPlanInvariant, serverRing } from './check-invariant.js';
import type { NodeStep, PhaseName, RotationPlan } from './types.js';

const id = (c: string): string => c.repeat(32);
const [A, B, C, K] = [id('a'), id('b'), id('c'), id('f')];

function nodeOf(i: number): NodeSpec {
  return { name: `n${i}`, keyDir: `/k${i}` } as NodeSpec;
}

/** A ring of key ids placed as `<keyDir>/<id>.key`; the last id is staged when `staged`. */
function ringOf(node: NodeSpec, ids: string[], staged = false): PlacedRing {
  const placed = ids.map((k) => ({ keyId: k, path: `${node.keyDir}/${k}.key` }));
  return {
    encrypt: placed[0]!,
    decrypt: placed.slice(1, staged ? -1 : undefined),
    staged: staged ? placed.at(-1) : undefined,
  };
}

interface PhaseSpec {
  name: PhaseName;
  /** Per node: the ring, and whether its last key is the staged one. */
  rings: string[][];
  staged?: boolean;
  writeKey?: boolean;
  writeManaged?: boolean;
  deleteFiles?: string[][];
}

function planOf(
  server: ServerKind,
  before: string[][],
  phases: PhaseSpec[],
  kind: RotationPlan['kind'] = 'rotate',
): RotationPlan {
  const nodes = before.map((_, i) => nodeOf(i + 1));
  const pool = { name: 'p', server, nodes, retain: 1 } as unknown as PoolSpec;
  return {
    pool,
    kind,
    keyId: K,
    generateKey: true,
    before: new Map(nodes.map((n, i) => [n, before[i]!])),
    after: [],
    notes: [],
    warnings: [],
    phases: phases.map((p) => ({
      name: p.name,
      waitBeforeMs: 0,
      expectKeyId: undefined,
      ticketsBefore: false,
      verifyAfter: false,
      description: p.name,
      steps: nodes.map((node, i): NodeStep => ({
        node,
        ring: ringOf(node, p.rings[i]!, p.staged),
        writeKey: p.writeKey ?? false,
        adopt: false,
        writeManaged: p.writeManaged ?? true,
        reload: true,
        deleteFiles: p.deleteFiles?.[i] ?? [],
      })),
    })),
  };
}

/** A node state holding key files for `ids` in its keyDir. */
function statesOf(plan: RotationPlan, files: string[][]): Map<NodeSpec, NodeState> {
  return new Map(
    plan.pool.nodes.map((n, i) => [
      n,
      {
        ring: [],
        files: files[i]!.map((k) => ({
          file: `${k}.key`,
          size: 48,
          mode: '600',
          owner: 'root',
          mtime: 0,
          keyId: k,
        })),
      } as unknown as NodeState,
    ]),
  );
}

const two = (ring: string[]): string[][] => [ring, ring];

describe('checkPlanInvariant', () => {
  it('accepts stage, promote, retire', () => {
    const plan = planOf('nginx', two([A, B]), [
      { name: 'stage', rings: two([A, B, K]), staged: true, writeKey: true },
      { name: 'promote', rings: two([K, A]) },
      { name: 'retire', rings: two([K, A]), deleteFiles: two([`${B}.key`]) },
    ]);
    expect(checkPlanInvariant(plan, statesOf(plan, two([A, B])))).toEqual([]);
  });

  it('rejects a promotion before the key is staged everywhere', () => {
    const plan = planOf('nginx', two([A]), [
      { name: 'promote', rings: two([K, A]), writeKey: true },
    ]);
    const v = checkPlanInvariant(plan);
    expect(v.length).toBeGreaterThan(0);
    expect(new Set(v.map((x) => x.transition))).toEqual(new Set(['before -> promote']));
    expect(v[0]!.message).toContain(`may encrypt with ${K}`);
  });

  it('rejects a promotion that drops the old key while a node may still encrypt with it', () => {
    const plan = planOf('nginx', two([A]), [
      { name: 'stage', rings: two([A, K]), staged: true, writeKey: true },
      { name: 'promote', rings: two([K]) },
    ]);
    const v = checkPlanInvariant(plan);
    expect(v.length).toBeGreaterThan(0);
    expect(v.every((x) => x.transition === 'stage -> promote')).toBe(true);
    expect(v[0]!.message).toContain(`may encrypt with ${A}`);
  });

  it('does not count drift found at preflight: a key the other node never held', () => {
    const plan = planOf(
      'nginx',
      [[A], [C, A]],
      [
        {
          name: 'stage',
          rings: [
            [A, K],
            [C, A, K],
          ],
          staged: true,
          writeKey: true,
        },
        {
          name: 'promote',
          rings: [
            [K, A],
            [K, A, C],
          ],
        },
      ],
    );
    expect(checkPlanInvariant(plan)).toEqual([]);
  });

  it('reads HAProxy rings as the server does: three lines, two of them decrypt-only', () => {
    const node = nodeOf(1);
    expect(serverRing(ringOf(node, [K, A, B, C]), true)).toEqual([K, A, B]);
    const plan = planOf('haproxy', two([A, B, C]), [
      { name: 'stage', rings: two([A, B, C, K]), staged: true, writeKey: true },
    ]);
    // Staging keeps A encrypting and B as previous; C drops out of the three lines, unused.
    expect(checkPlanInvariant(plan)).toEqual([]);
    const bad = planOf('haproxy', two([A, B]), [
      { name: 'stage', rings: two([A, C, B, K]), staged: true, writeKey: true },
      { name: 'promote', rings: two([K, C, B, A]) },
    ]);
    expect(checkPlanInvariant(bad).some((v) => v.message.includes(`encrypt with ${A}`))).toBe(true);
  });

  it('finds a ring that names a key file the node does not have, or deletes one it names', () => {
    const plan = planOf('nginx', two([A]), [
      { name: 'stage', rings: two([A, K]), staged: true, writeKey: false },
      { name: 'retire', rings: two([K, A]), deleteFiles: two([`${A}.key`]) },
    ]);
    const messages = checkPlanInvariant(plan, statesOf(plan, two([A]))).map((v) => v.message);
    expect(messages).toContain(`the ring names /k1/${K}.key, which is not on the node`);
    expect(messages).toContain(`/k2/${A}.key is deleted while the ring still names it`);
  });

  it('leaves a bootstrap and an Apache switch alone: they change every node at once by design', () => {
    const boot = planOf('nginx', two([]), [{ name: 'switch', rings: two([K]) }], 'bootstrap');
    expect(checkPlanInvariant(boot)).toEqual([]);
    const apache = planOf('apache', two([A]), [
      { name: 'stage', rings: two([A]), writeKey: true, writeManaged: false },
      { name: 'switch', rings: two([K]) },
    ]);
    expect(checkPlanInvariant(apache)).toEqual([]);
    const nginxSwitch = planOf('nginx', two([A]), [{ name: 'switch', rings: two([K]) }]);
    expect(checkPlanInvariant(nginxSwitch)).not.toEqual([]);
  });

  it('skips nodes that hold no managed ring: they never resumed a pool ticket', () => {
    const plan = planOf(
      'nginx',
      [[A], []],
      [
        { name: 'stage', rings: [[A, K], [K]], staged: false, writeKey: true },
        { name: 'promote', rings: [[K, A], [K]] },
      ],
    );
    // The second node encrypts with K at stage, before the first can decrypt it.
    expect(checkPlanInvariant(plan).map((v) => v.transition)).toEqual(['before -> stage']);
  });
});

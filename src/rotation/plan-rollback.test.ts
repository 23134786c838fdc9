import { describe, expect, it } from 'vitest';
import type { ServerKind } from '../inventory/types.js';
import { adapterFor } from '../servers/index.js';
import { planRollback } from './plan-rollback.js';
import {
  A,
  B,
  K,
  expectSafe,
  pendingRecord,
  phaseNames,
  poolStates,
  ringsAfter,
  type NodeSetup,
  type Planned,
} from './plan.fixture.js';
import type { RotationPlan } from './types.js';

function plan(server: ServerKind, setups: NodeSetup[]): Planned {
  const { pool, states } = poolStates(server, setups);
  return { plan: planRollback(pool, adapterFor(server), states), states };
}

/** A node after a finished rotation from [A] to K: K encrypts, A still decrypts. */
const rotated: NodeSetup = { ring: [K, A], record: { previousRing: [A], lastChange: 'rotation' } };

/** What a rollback from K to A records on a node while it runs. */
const rollingBack = pendingRecord('promoted', A, [K, A], 'rollback');

/** A node the rollback already finished: K gone, the ring it left recorded. */
const finished: NodeSetup = {
  ring: [A],
  record: { previousRing: [K, A], lastChange: 'rollback' },
};

function deleted(p: RotationPlan): string[][] {
  return p.phases.find((ph) => ph.name === 'retire')?.steps.map((s) => s.deleteFiles) ?? [];
}

describe('planRollback: nginx', () => {
  it('makes the previous key primary while the current one still decrypts, then drops it', () => {
    const p = plan('nginx', [rotated, rotated, rotated]);
    expect(p.plan.kind).toBe('rollback');
    expect(p.plan.keyId).toBe(A);
    expect(phaseNames(p.plan)).toEqual(['promote', 'retire']);
    expect(ringsAfter(p.plan, 'promote')).toEqual([
      [A, K],
      [A, K],
      [A, K],
    ]);
    expect(ringsAfter(p.plan, 'retire')).toEqual([[A], [A], [A]]);
    expect(deleted(p.plan)).toEqual([[`${K}.key`], [`${K}.key`], [`${K}.key`]]);
    expect(p.plan.after).toEqual([A]);
    expectSafe(p);
  });

  it('restores the previous ring whole where its keys are still on every node', () => {
    const setup: NodeSetup = {
      ring: [K, A],
      files: [B],
      record: { previousRing: [A, B], lastChange: 'rotation' },
    };
    const p = plan('nginx', [setup, setup]);
    expect(ringsAfter(p.plan, 'retire')).toEqual([
      [A, B],
      [A, B],
    ]);
    expect(p.plan.notes.join(' ')).not.toMatch(/not restored/);
    expectSafe(p);
  });

  it('says which keys of the previous ring it cannot restore', () => {
    const p = plan('nginx', [
      { ring: [K, A], files: [B], record: { previousRing: [A, B], lastChange: 'rotation' } },
      { ring: [K, A], record: { previousRing: [A, B], lastChange: 'rotation' } },
    ]);
    expect(ringsAfter(p.plan, 'retire')).toEqual([[A], [A]]);
    expect(p.plan.notes.join(' ')).toMatch(/not restored, as no longer kept on every node: b{12}/);
    expectSafe(p);
  });

  it('refuses when the previous key is gone from a node, naming it', () => {
    expect(() =>
      plan('nginx', [
        rotated,
        { ring: [K], record: { previousRing: [A], lastChange: 'rotation' } },
      ]),
    ).toThrow(/previous key a{12} is no longer retained on n2; a rollback is not possible/);
  });

  it('refuses when the nodes record different previous rings', () => {
    expect(() =>
      plan('nginx', [
        rotated,
        { ...rotated, record: { previousRing: [B], lastChange: 'rotation' } },
      ]),
    ).toThrow(/no previous ring recorded alike on every node \(n2\)/);
  });

  it('refuses when nothing was recorded to return to', () => {
    expect(() => plan('nginx', [{ ring: [K, A] }, { ring: [K, A] }])).toThrow(
      /no previous ring recorded alike on every node/,
    );
  });

  it('refuses a second rollback: the last change already was one', () => {
    expect(() => plan('nginx', [finished, finished])).toThrow(
      /the last change was a rollback .*nothing to undo/,
    );
  });

  it('refuses while a rotation is pending, and sends the operator to finish it', () => {
    const staged: NodeSetup = { ...rotated, pending: pendingRecord('staged', B, [K, A]) };
    expect(() => plan('nginx', [staged, staged])).toThrow(/a rotation is in progress/);
  });
});

describe('planRollback: finishing one that stopped part-way', () => {
  it('after the demotion on some nodes: the key being left decrypts until every node is demoted', () => {
    const p = plan('nginx', [
      { ...rotated, ring: [A, K], pending: rollingBack },
      { ...rotated, pending: rollingBack },
    ]);
    expect(p.plan.notes).toContain('finishes the rollback that stopped part-way');
    expect(ringsAfter(p.plan, 'promote')).toEqual([
      [A, K],
      [A, K],
    ]);
    expect(ringsAfter(p.plan, 'retire')).toEqual([[A], [A]]);
    expect(deleted(p.plan)).toEqual([[`${K}.key`], [`${K}.key`]]);
    expectSafe(p);
  });

  it('after the retire on some nodes: the finished ones are left as they are', () => {
    const p = plan('nginx', [finished, { ...rotated, ring: [A, K], pending: rollingBack }]);
    expect(ringsAfter(p.plan, 'retire')).toEqual([[A], [A]]);
    // The finished node has no K file left to delete; the other one still has it.
    expect(deleted(p.plan)).toEqual([[], [`${K}.key`]]);
    expect(p.plan.after).toEqual([A]);
    expectSafe(p);
  });

  it('after every node finished but one record was left: the rings stay, no file goes', () => {
    const p = plan('nginx', [finished, { ...finished, pending: rollingBack }]);
    expect(ringsAfter(p.plan, 'retire')).toEqual([[A], [A]]);
    expect(deleted(p.plan)).toEqual([[], []]);
    expectSafe(p);
  });
});

describe('planRollback: apache', () => {
  it('switches back to the previous key file it kept, and warns of full handshakes', () => {
    const setup: NodeSetup = {
      ring: [K],
      files: [A],
      record: { previousRing: [A], lastChange: 'rotation' },
    };
    const p = plan('apache', [setup, setup]);
    expect(phaseNames(p.plan)).toEqual(['switch', 'retire']);
    expect(ringsAfter(p.plan, 'switch')).toEqual([[A], [A]]);
    expect(deleted(p.plan)).toEqual([[`${K}.key`], [`${K}.key`]]);
    expect(p.plan.warnings.join(' ')).toMatch(/apache holds one key/);
    expectSafe(p);
  });
});

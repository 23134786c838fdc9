import { describe, expect, it } from 'vitest';
import type { ServerKind } from '../inventory/types.js';
import { adapterFor } from '../servers/index.js';
import type { PendingRotation } from '../servers/types.js';
import { planRotation, type RotationMode } from './plan-rotation.js';
import { ringIds } from './placement.js';
import {
  A,
  B,
  C,
  D,
  K,
  expectSafe,
  now,
  pendingRecord,
  phaseNames,
  poolStates,
  ringsAfter,
  type NodeSetup,
  type Planned,
} from './plan.fixture.js';

function plan(
  server: ServerKind,
  setups: NodeSetup[],
  opts: { retain?: number; mode?: RotationMode; overlapMs?: number; at?: Date } = {},
): Planned {
  const { pool, states } = poolStates(server, setups, opts.retain);
  const p = planRotation({
    pool,
    adapter: adapterFor(server),
    states,
    newKeyId: K,
    mode: opts.mode ?? 'full',
    overlapMs: opts.overlapMs ?? 0,
    now: opts.at ?? now,
  });
  return { plan: p, states };
}

describe('planRotation: nginx', () => {
  it('bootstraps empty nodes with the new key as primary at once', () => {
    const p = plan('nginx', [{ ring: [] }, { ring: [] }, { ring: [] }]);
    expect(p.plan.kind).toBe('bootstrap');
    expect(phaseNames(p.plan)).toEqual(['switch', 'retire']);
    expect(ringsAfter(p.plan, 'switch')).toEqual([[K], [K], [K]]);
    expect(p.plan.phases[0]!.steps.every((s) => s.writeKey && s.reload)).toBe(true);
    expectSafe(p);
  });

  it('stages the new key decrypt-only, promotes it, keeps one previous key', () => {
    const p = plan('nginx', [{ ring: [A, B] }, { ring: [A, B] }, { ring: [A, B] }]);
    expect(p.plan.kind).toBe('rotate');
    expect(p.plan.generateKey).toBe(true);
    expect(phaseNames(p.plan)).toEqual(['stage', 'promote', 'retire']);
    expect(ringsAfter(p.plan, 'stage')).toEqual(Array(3).fill([A, B, K]));
    expect(ringsAfter(p.plan, 'promote')).toEqual(Array(3).fill([K, A]));
    expect(ringsAfter(p.plan, 'retire')).toEqual(Array(3).fill([K, A]));
    expect(p.plan.phases[2]!.steps.map((s) => s.deleteFiles)).toEqual(Array(3).fill([`${B}.key`]));
    expect(p.plan.after).toEqual([K, A]);
    expect(p.plan.phases[1]!.expectKeyId).toBe(K);
    expect(p.plan.phases[1]!.ticketsBefore).toBe(true);
    expectSafe(p);
  });

  it.each([
    [0, [K]],
    [1, [K, A]],
    [2, [K, A, B]],
  ])('retain %i keeps %j at the end', (retain, after) => {
    const p = plan('nginx', [{ ring: [A, B, C] }, { ring: [A, B, C] }], { retain });
    expect(p.plan.after).toEqual(after);
    expect(ringsAfter(p.plan, 'retire')).toEqual([after, after]);
    // The old key stays decryptable through the promotion even with retain 0.
    expect(ringsAfter(p.plan, 'promote')[0]).toContain(A);
    const deleted = p.plan.phases.at(-1)!.steps[0]!.deleteFiles;
    expect(deleted.sort()).toEqual(
      [A, B, C]
        .filter((k) => !after.includes(k))
        .map((k) => `${k}.key`)
        .sort(),
    );
    expectSafe(p);
  });

  it('brings nodes that disagree back to one ring', () => {
    const p = plan('nginx', [{ ring: [A, B] }, { ring: [A, B] }, { ring: [A], files: [B] }]);
    expect(p.plan.notes.join(' ')).toMatch(/drift/);
    expect(ringsAfter(p.plan, 'retire')).toEqual(Array(3).fill([K, A]));
    expectSafe(p);
  });

  it('keeps the invariant when one node encrypts with a key of its own', () => {
    const p = plan('nginx', [{ ring: [A, B] }, { ring: [A, B] }, { ring: [D, A], files: [B] }]);
    expect(ringsAfter(p.plan, 'retire')).toEqual(Array(3).fill([K, A]));
    expectSafe(p);
  });

  it('keeps the invariant when a node was rebuilt with no keys at all', () => {
    const p = plan('nginx', [{ ring: [A, B] }, { ring: [A, B] }, { ring: [] }]);
    expect(p.plan.kind).toBe('rotate');
    expectSafe(p);
    // The old key stays on the nodes that hold it: their earlier tickets still resume there.
    const promote = ringsAfter(p.plan, 'promote');
    expect(promote[0]).toEqual([K, A]);
    expect(promote[2]![0]).toBe(K);
    // The pool ends with one ring: only keys every node holds.
    expect(ringsAfter(p.plan, 'retire')).toEqual([[K], [K], [K]]);
  });

  it('repairs a ring that names a missing key file', () => {
    const p = plan('nginx', [{ ring: [A, B] }, { ring: [A, B], missing: [B] }, { ring: [A, B] }]);
    expectSafe(p);
    for (const ph of p.plan.phases) {
      const s = ph.steps[1]!;
      if (s.writeManaged) expect(ringIds(s.ring)).not.toContain(B);
    }
    expect(ringsAfter(p.plan, 'stage')[1]).toEqual([A, K]);
  });

  it('resumes a key staged on every node by an earlier run', () => {
    const pending: PendingRotation = {
      phase: 'staged',
      keyId: K,
      started: now.toISOString(),
      ringBefore: [A, B],
      promoteAfter: new Date(now.getTime() - 1000).toISOString(),
    };
    const p = plan('nginx', Array(3).fill({ ring: [A, B, K], pending }));
    expect(p.plan.kind).toBe('resume');
    expect(p.plan.generateKey).toBe(false);
    expect(p.plan.keyId).toBe(K);
    expect(phaseNames(p.plan)).toEqual(['promote', 'retire']);
    expect(p.plan.phases[0]!.waitBeforeMs).toBe(0);
    expect(ringsAfter(p.plan, 'retire')).toEqual(Array(3).fill([K, A]));
    expectSafe(p);
  });

  it('resumes a promotion that stopped half-way', () => {
    const staged = pendingRecord('staged', K, [A]);
    const promoted = pendingRecord('promoted', K, [A]);
    const p = plan('nginx', [
      { ring: [K, A], pending: promoted },
      { ring: [A, K], pending: staged },
      { ring: [A, K], pending: staged },
    ]);
    expect(p.plan.kind).toBe('resume');
    expect(ringsAfter(p.plan, 'promote')).toEqual(Array(3).fill([K, A]));
    expectSafe(p);
  });

  it('--promote of a stage some node lacks names it, and sends the operator to rotate', () => {
    const staged = pendingRecord('staged', K, [A]);
    const promote = () =>
      plan('nginx', [{ ring: [A, K], pending: staged }, { ring: [A, K] }], { mode: 'promote' });
    expect(promote).toThrow(
      /key f{12} is staged on 1 of 2 nodes \(not on n2\), so it cannot be promoted/,
    );
    const lost = () =>
      plan(
        'nginx',
        [
          { ring: [A, K], pending: staged },
          { ring: [A, K], missing: [K], pending: staged },
        ],
        {
          mode: 'promote',
        },
      );
    expect(lost).toThrow(/key f{12} is staged, but not every node still holds it/);
  });

  it('--stage over a promotion that stopped half-way changes nothing, and says it is promoted', () => {
    const promoted = pendingRecord('promoted', K, [A]);
    const p = plan(
      'nginx',
      [
        { ring: [K, A], pending: promoted },
        { ring: [K, A], pending: promoted },
      ],
      { mode: 'stage' },
    );
    expect(p.plan.phases).toEqual([]);
    expect(p.plan.notes.join(' ')).toMatch(
      /already promoted .*`stekctl rotate -p web` finishes it/,
    );
  });

  it('two-step mode: stage only, then promote once the overlap has passed', () => {
    const stage = plan('nginx', [{ ring: [A] }, { ring: [A] }], { mode: 'stage' });
    expect(phaseNames(stage.plan)).toEqual(['stage']);
    expectSafe(stage);
    const pending: PendingRotation = {
      phase: 'staged',
      keyId: K,
      started: now.toISOString(),
      ringBefore: [A],
      promoteAfter: new Date(now.getTime() + 60_000).toISOString(),
    };
    const staged = [
      { ring: [A, K], pending },
      { ring: [A, K], pending },
    ];
    expect(phaseNames(plan('nginx', staged, { mode: 'stage' }).plan)).toEqual([]);
    expect(() => plan('nginx', staged, { mode: 'promote' })).toThrow(
      /may be promoted from .* \(in 60s\)/,
    );
    const later = plan('nginx', staged, { mode: 'promote', at: new Date(now.getTime() + 61_000) });
    expect(phaseNames(later.plan)).toEqual(['promote', 'retire']);
    expectSafe(later);
    // A whole rotation that finds the stage waits out what is left of the overlap.
    const full = plan('nginx', staged, { mode: 'full' });
    expect(full.plan.phases[0]!.waitBeforeMs).toBe(60_000);
    expect(() => plan('nginx', [{ ring: [A] }], { mode: 'promote' })).toThrow(/no staged key/);
  });
});

describe('planRotation: haproxy', () => {
  it('adopts the key lines, stages into the next slot, promotes, retires', () => {
    const p = plan('haproxy', [{ ring: [A, B, C] }, { ring: [A, B, C] }]);
    expect(phaseNames(p.plan)).toEqual(['stage', 'promote', 'retire']);
    expect(p.plan.phases[0]!.steps.every((s) => s.adopt && s.writeKey && s.reload)).toBe(true);
    // Lines A, B, C: B encrypts. Staged: previous A, current B, next K.
    expect(p.plan.phases[0]!.steps[0]!.ring.staged?.keyId).toBe(K);
    expect(p.plan.phases[0]!.steps[0]!.ring.encrypt.keyId).toBe(B);
    expect(ringsAfter(p.plan, 'promote')[0]![0]).toBe(K);
    expect(ringsAfter(p.plan, 'retire')[0]).toEqual([K, B]);
    expectSafe(p);
  });

  it.each([0, 1, 2])('keeps the invariant with retain %i', (retain) => {
    const p = plan('haproxy', [{ ring: [A, B, C] }, { ring: [A, B, C] }, { ring: [A, B, C] }], {
      retain,
    });
    expectSafe(p);
  });

  it('keeps the invariant when one node holds other key lines (drift)', () => {
    const p = plan('haproxy', [{ ring: [A, B, C] }, { ring: [A, B, C] }, { ring: [D, D, D] }]);
    expectSafe(p);
  });
});

describe('planRotation: apache', () => {
  it('switches every node at once, keeping the old key file for a rollback', () => {
    const p = plan('apache', [{ ring: [A] }, { ring: [A] }]);
    expect(phaseNames(p.plan)).toEqual(['stage', 'switch', 'retire']);
    expect(p.plan.phases[0]!.steps.every((s) => s.writeKey && !s.writeManaged && !s.reload)).toBe(
      true,
    );
    expect(ringsAfter(p.plan, 'switch')).toEqual([[K], [K]]);
    expect(p.plan.phases[2]!.steps[0]!.deleteFiles).toEqual([]);
    expect(p.plan.warnings.join(' ')).toMatch(/no decrypt-only slot/);
    expectSafe(p);
  });

  it('finishing a switch that a killed run left keeps the previous key file for a rollback', () => {
    // After the switch every ring is [K]: the previous key A is known from the record alone.
    const promoted = pendingRecord('promoted', K, [A]);
    const p = plan('apache', [
      { ring: [K], files: [A, B], pending: promoted },
      { ring: [K], files: [A, B], pending: promoted },
    ]);
    expect(p.plan.kind).toBe('resume');
    const retire = p.plan.phases.find((ph) => ph.name === 'retire');
    expect(retire?.steps.map((s) => s.deleteFiles)).toEqual([[`${B}.key`], [`${B}.key`]]);
    expectSafe(p);
  });
});

describe('planRotation after a rollback that stopped part-way', () => {
  it('refuses, and sends the operator to finish the rollback', () => {
    const rollingBack = pendingRecord('promoted', A, [B, A], 'rollback');
    expect(() =>
      plan('nginx', [
        { ring: [A, B], pending: rollingBack },
        { ring: [B, A], pending: rollingBack },
      ]),
    ).toThrow(/a rollback to key a{12} stopped before it finished/);
  });
});

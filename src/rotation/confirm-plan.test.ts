import { describe, expect, it } from 'vitest';
import type { NodeSpec, ServerKind } from '../inventory/types.js';
import type { ApplyOutcome } from '../servers/apply-script.js';
import { localNodeSpec } from '../servers/node-spec.fixture.js';
import type { PhaseApplyResult } from './apply-phase.js';
import { stepConfirmationNeed } from './confirm-plan.js';
import type { NodeStep, PlanPhase } from './types.js';

const nodes = ['a', 'b', 'c', 'd'].map((name) => localNodeSpec('/tmp/keys', { name }));
const ok = (generationChanged: boolean | undefined): ApplyOutcome => ({
  ok: true,
  generationChanged,
  detail: '',
  reloadAt: undefined,
});

function phaseOf(reloads: boolean[]): PlanPhase {
  const steps = nodes.map(
    (node, i) =>
      ({
        node,
        ring: { encrypt: { keyId: 'k', path: '/tmp/keys/k.key' }, decrypt: [], staged: undefined },
        writeKey: false,
        adopt: false,
        writeManaged: true,
        reload: reloads[i] ?? true,
        deleteFiles: [],
      }) as unknown as NodeStep,
  );
  return {
    name: 'promote',
    waitBeforeMs: 0,
    steps,
    expectKeyId: 'k',
    ticketsBefore: true,
    verifyAfter: true,
    description: '',
  };
}

function appliedOf(outcomes: ApplyOutcome[]): PhaseApplyResult {
  return {
    record: { name: 'promote', ok: true, startedAt: '', ms: 1, nodes: [] },
    outcomes: new Map(nodes.map((n, i) => [n, outcomes[i] as ApplyOutcome])),
    finishedAt: new Map(nodes.map((n, i): [NodeSpec, number] => [n, 1000 + i])),
  };
}

/** Every node's need in a phase, by node name, as the rotation asks them node by node. */
function confirmationNeeds(phase: PlanPhase, applied: PhaseApplyResult, server: ServerKind) {
  const confirmations = new Map<string, number>();
  const reloadedAt = new Map<string, number>();
  for (const step of phase.steps) {
    const name = step.node.name;
    const need = stepConfirmationNeed(
      step,
      applied.outcomes.get(step.node),
      applied.finishedAt.get(step.node),
      server,
    );
    confirmations.set(name, need.confirmations);
    if (need.reloadedAt !== undefined) reloadedAt.set(name, need.reloadedAt);
  }
  return { confirmations, reloadedAt };
}

describe('stepConfirmationNeed', () => {
  const applied = appliedOf([ok(true), ok(undefined), ok(false), ok(true)]);

  it('asks one ticket of a node that showed a new generation, two where none was seen', () => {
    const needs = confirmationNeeds(phaseOf([true, true, true, true]), applied, 'nginx');
    expect([...needs.confirmations]).toEqual([
      ['a', 1],
      ['b', 2],
      ['c', 2],
      ['d', 1],
    ]);
    expect([...needs.reloadedAt]).toEqual([
      ['a', 1000],
      ['d', 1003],
    ]);
  });

  it('keeps two on Apache, whose old children answer after a graceful restart', () => {
    const needs = confirmationNeeds(phaseOf([true, true, true, true]), applied, 'apache');
    expect([...needs.confirmations.values()]).toEqual([2, 2, 2, 2]);
    expect(needs.reloadedAt.size).toBe(0);
  });

  it('asks one ticket of a node that did not reload', () => {
    const kinds: ServerKind[] = ['apache', 'haproxy'];
    for (const kind of kinds) {
      const needs = confirmationNeeds(phaseOf([false, true, true, true]), applied, kind);
      expect(needs.confirmations.get('a')).toBe(1);
      expect(needs.reloadedAt.has('a')).toBe(false);
    }
  });

  it('asks one ticket of an HAProxy node whose keys went in through the runtime API', () => {
    const base = {
      ok: true,
      generationChanged: undefined,
      detail: '',
      reloadAt: undefined,
    } as const;
    const socket: ApplyOutcome = { ...base, runtimeApi: { via: 'runtime-api', sets: 1 } };
    const reloaded: ApplyOutcome = { ...base, runtimeApi: { via: 'reload', reason: 'x' } };
    const needs = confirmationNeeds(
      phaseOf([true, true, true, true]),
      appliedOf([socket, reloaded, ok(true), socket]),
      'haproxy',
    );
    expect([...needs.confirmations.values()]).toEqual([1, 2, 1, 1]);
    expect([...needs.reloadedAt.keys()]).toEqual(['c']);
  });

  it('asks one ticket and no wait of a node whose old generation was seen to stop', () => {
    const stopped: ApplyOutcome = {
      ok: true,
      generationChanged: true,
      oldGenerationStopped: true,
      detail: '',
      reloadAt: undefined,
    };
    const needs = confirmationNeeds(
      phaseOf([true, true, true, true]),
      appliedOf([stopped, ok(true), stopped, ok(undefined)]),
      'nginx',
    );
    expect([...needs.confirmations.values()]).toEqual([1, 1, 1, 2]);
    expect([...needs.reloadedAt.keys()]).toEqual(['b']);
  });
});

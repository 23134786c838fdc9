import { describe, expect, it } from 'vitest';
import { diagnose } from './diagnose.js';
import type { OfferReport, VersionReport } from './report-types.js';

const fp = 'AA:BB';
const [ka, kb] = ['a'.repeat(32), 'b'.repeat(32)];

function takes(keys: Record<string, string>): VersionReport[] {
  return [
    {
      version: 'TLSv1.3',
      nodes: Object.entries(keys).map(([node, keyId]) => ({
        node,
        issued: true,
        keyId,
        certFingerprint: fp,
      })),
    },
  ];
}

function offer(from: string, to: string, offeredKeyId: string, reused: boolean): OfferReport {
  return { from, to, version: 'TLSv1.3', reused, offeredKeyId };
}

describe('diagnose', () => {
  it('blames both nodes of a refusal when nothing else tells them apart', () => {
    const result = diagnose({
      nodes: ['x', 'y'],
      versions: takes({ x: ka, y: kb }),
      offers: [
        offer('x', 'x', ka, true),
        offer('x', 'y', ka, false),
        offer('y', 'x', kb, false),
        offer('y', 'y', kb, true),
      ],
    });
    expect(result.nodes.map((n) => [n.node, n.ok, n.codes])).toEqual([
      ['x', false, ['mixed-keys']],
      ['y', false, ['mixed-keys']],
    ]);
    expect(result.offers[1]?.diagnoses).toEqual(['mixed-keys']);
    expect(
      result.diagnostics.find((d) => d.nodes.length === 2 && d.code === 'mixed-keys')?.severity,
    ).toBe('error');
  });

  it('blames only the node whose own ticket shows the fault', () => {
    const result = diagnose({
      nodes: ['x', 'y'],
      versions: takes({ x: ka, y: kb }),
      offers: [offer('x', 'y', ka, false), offer('y', 'x', kb, false)],
      ringKeyIds: [ka, kb],
      expectedKeyId: ka,
    });
    expect(result.nodes.find((n) => n.node === 'x')?.ok).toBe(true);
    expect(result.nodes.find((n) => n.node === 'y')?.codes).toEqual(['old-key', 'mixed-keys']);
  });

  it('only warns about mixed keys while every ticket still resumes', () => {
    const result = diagnose({
      nodes: ['x', 'y'],
      versions: takes({ x: ka, y: kb }),
      offers: [offer('x', 'y', ka, true), offer('y', 'x', kb, true)],
    });
    expect(result.nodes.every((n) => n.ok)).toBe(true);
    expect(result.diagnostics).toMatchObject([{ code: 'mixed-keys', severity: 'warning' }]);
  });

  it('explains a refusal with no visible cause', () => {
    const result = diagnose({
      nodes: ['x'],
      versions: takes({ x: ka }),
      offers: [offer('x', 'x', ka, false)],
    });
    expect(result.offers[0]?.diagnoses).toEqual(['not-resumed']);
    expect(result.nodes[0]?.reasons[0]).toMatch(/x \(itself\)/);
  });
});

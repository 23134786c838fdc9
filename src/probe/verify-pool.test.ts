import { constants, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TlsVersion } from '../inventory/types.js';
import type { PoolProbeReport } from './report-types.js';
import {
  keyIdOf,
  makeCertificate,
  makeTarget,
  startSilentServer,
  startTlsServer,
  type TestCertificate,
  type TestServer,
} from './tls-servers.fixture.js';
import { probePool, type PoolProbeOptions } from './verify-pool.js';

const versions: TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];
const base: PoolProbeOptions = {
  versions,
  matrixMax: 8,
  concurrency: 8,
  deadlineMs: 5000,
  seed: 1,
};
let dir: string;
let cert: TestCertificate;
let otherCert: TestCertificate;
const servers: TestServer[] = [];
const k1 = randomBytes(48);
const k2 = randomBytes(48);

async function serve(
  c: TestCertificate,
  opts: Parameters<typeof startTlsServer>[1],
): Promise<TestServer> {
  const s = await startTlsServer(c, opts);
  servers.push(s);
  return s;
}

function node(report: PoolProbeReport, name: string) {
  return report.nodes.find((n) => n.node === name);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stekctl-pool-'));
  cert = makeCertificate(dir, 'pool');
  otherCert = makeCertificate(dir, 'other');
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('probePool', () => {
  it('passes a pool whose nodes share keys and certificate', async () => {
    const [a, b] = [await serve(cert, { ticketKeys: k1 }), await serve(cert, { ticketKeys: k1 })];
    const report = await probePool('web', [makeTarget('a', a.port), makeTarget('b', b.port)], {
      ...base,
      ringKeyIds: [keyIdOf(k1)],
      expectedKeyId: keyIdOf(k1),
    });
    expect(report.ok).toBe(true);
    expect(report.plan).toBe('matrix');
    expect(report.summary).toEqual({ probes: 8, resumed: 8, failed: 0, successRatio: 1 });
    expect(report.encryptingKeyIds).toEqual([keyIdOf(k1)]);
    expect(report.versions.flatMap((v) => v.nodes.map((n) => n.keyId))).toEqual(
      Array(4).fill(keyIdOf(k1)),
    );
    const json = JSON.stringify(report);
    expect(json).not.toContain('Buffer');
    expect(json).not.toContain(k1.toString('hex'));
    expect(json).not.toContain(k1.toString('base64'));
  });

  it('diagnoses nodes under different keys, and a key outside the ring', async () => {
    const [a, b] = [await serve(cert, { ticketKeys: k1 }), await serve(cert, { ticketKeys: k2 })];
    const report = await probePool('web', [makeTarget('a', a.port), makeTarget('b', b.port)], {
      ...base,
      ringKeyIds: [keyIdOf(k1)],
    });
    expect(report.ok).toBe(false);
    expect(report.summary).toMatchObject({ probes: 8, resumed: 4, failed: 4 });
    expect(report.encryptingKeyIds).toEqual([keyIdOf(k1), keyIdOf(k2)].sort());
    const bToA = report.offers.find((o) => o.from === 'b' && o.to === 'a');
    expect(bToA?.diagnoses?.[0]).toBe('unknown-key');
    const aToB = report.offers.find((o) => o.from === 'a' && o.to === 'b');
    expect(aToB?.diagnoses).toEqual(['mixed-keys']);
    expect(node(report, 'b')?.codes).toContain('unknown-key');
    // b alone is at fault: its key is outside the ring.
    expect(node(report, 'a')?.ok).toBe(true);
    expect(
      report.diagnostics.find((d) => d.code === 'mixed-keys' && d.nodes.length === 2)?.severity,
    ).toBe('error');
  });

  it('names a node that still encrypts with the old key', async () => {
    const [a, b] = [await serve(cert, { ticketKeys: k2 }), await serve(cert, { ticketKeys: k1 })];
    const report = await probePool('web', [makeTarget('a', a.port), makeTarget('b', b.port)], {
      ...base,
      versions: ['TLSv1.3'],
      ringKeyIds: [keyIdOf(k1), keyIdOf(k2)],
      expectedKeyId: keyIdOf(k2),
    });
    expect(node(report, 'a')?.codes).not.toContain('old-key');
    expect(node(report, 'b')?.codes).toContain('old-key');
    expect(node(report, 'b')?.reasons.join('\n')).toContain(keyIdOf(k1));
  });

  it('diagnoses nodes that serve different certificates', async () => {
    const [a, b] = [
      await serve(cert, { ticketKeys: k1 }),
      await serve(otherCert, { ticketKeys: k1 }),
    ];
    const report = await probePool('web', [makeTarget('a', a.port), makeTarget('b', b.port)], base);
    expect(report.ok).toBe(false);
    const cross = report.offers.filter((o) => o.from !== o.to);
    expect(cross.every((o) => !o.reused && o.diagnoses?.[0] === 'different-certificates')).toBe(
      true,
    );
    expect(report.offers.filter((o) => o.from === o.to).every((o) => o.reused)).toBe(true);
  });

  it('diagnoses a node with tickets off', async () => {
    const [a, b] = [
      await serve(cert, { ticketKeys: k1 }),
      await serve(cert, { ticketKeys: k1, secureOptions: constants.SSL_OP_NO_TICKET }),
    ];
    const report = await probePool('web', [makeTarget('a', a.port), makeTarget('b', b.port)], base);
    expect(node(report, 'a')?.codes).toEqual([]);
    expect(node(report, 'b')?.codes).toContain('no-tickets');
    for (const v of report.versions)
      expect(v.nodes.find((n) => n.node === 'b')?.issued).toBe(false);
    expect(report.offers.filter((o) => o.from === 'b').every((o) => o.skipped)).toBe(true);
    const aToB = report.offers.filter((o) => o.from === 'a' && o.to === 'b');
    expect(aToB.map((o) => o.diagnoses)).toEqual([['no-tickets'], ['no-tickets']]);
  });

  it('reports a silent node as timed out and stays within the deadline', async () => {
    const a = await serve(cert, { ticketKeys: k1 });
    const silent = await startSilentServer();
    const started = Date.now();
    const report = await probePool(
      'web',
      [makeTarget('a', a.port), makeTarget('s', silent.port, { timeoutMs: 5000 })],
      { ...base, deadlineMs: 700 },
    );
    // The deadline (700 ms) ends it, not the node's 5 s timeout.
    expect(Date.now() - started).toBeLessThan(3000);
    expect(node(report, 'a')?.ok).toBe(true);
    expect(node(report, 's')?.codes).toEqual(['timeout']);
    expect(report.ok).toBe(false);
    await silent.close();
  });

  it('probes a pool above matrixMax in 2N offers covering every node', async () => {
    const targets = [];
    for (let i = 1; i <= 12; i++)
      targets.push(makeTarget(`n${i}`, (await serve(cert, { ticketKeys: k1 })).port));
    const report = await probePool('big', targets, base);
    expect(report.plan).toBe('cycle');
    expect(report.summary).toEqual({ probes: 48, resumed: 48, failed: 0, successRatio: 1 });
    for (const version of versions) {
      for (const t of targets) {
        const own = report.offers.filter((o) => o.version === version && o.from === t.node);
        expect(own.map((o) => o.to === t.node).sort()).toEqual([false, true]);
      }
    }
    expect(report.ok).toBe(true);
  });
});

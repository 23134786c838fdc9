import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheus } from '../support/prometheus.js';
import { startFleet, type Fleet } from './fleet/index.js';
import { runCli } from './cli.js';

let fleet: Fleet;
let inventory: string;

beforeAll(async () => {
  fleet = await startFleet({ pools: [{ name: 'web', server: 'nginx', nodes: 2 }] });
  inventory = await fleet.writeInventory();
});
afterAll(async () => {
  await fleet?.stop();
});

describe('evidence of runs: audit log and metrics', () => {
  it('appends one parseable audit line per rotate and rollback, and writes metrics atomically', async () => {
    const audit = `${fleet.dir}/state/audit.log`;
    const metrics = `${fleet.dir}/stekctl.prom`;
    const common = ['-i', inventory, '--yes', '--audit-log', audit, '--metrics-file', metrics];
    expect((await runCli(['rotate', ...common])).code).toBe(0);
    expect((await runCli(['rotate', ...common])).code).toBe(0);
    const m = parsePrometheus(await readFile(metrics, 'utf8'));
    expect(m.find((s) => s.name === 'stekctl_rotation_success')?.value).toBe(1);
    expect(
      m.find((s) => s.name === 'stekctl_rotation_last_success_timestamp_seconds')?.value,
    ).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(m.find((s) => s.name === 'stekctl_rotation_verify_ok')?.value).toBe(1);
    // A dry run leaves the metrics of the last real run as they are.
    const before = await readFile(metrics, 'utf8');
    const dry = ['-i', inventory, '--dry-run', '--metrics-file', metrics];
    expect((await runCli(['rotate', ...dry, '--audit-log', `${audit}.dry`])).code).toBe(0);
    expect(await readFile(metrics, 'utf8')).toBe(before);
    expect((await runCli(['rollback', ...common])).code).toBe(0);
    const lines = (await readFile(audit, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(3);
    const records = lines.map((l) => JSON.parse(l) as AuditRecord);
    expect(records.map((r) => r.command)).toEqual(['rotate', 'rotate', 'rollback']);
    for (const r of records) {
      expect(r.exitCode).toBe(0);
      expect(r.user).toBeTruthy();
      expect(r.host).toBeTruthy();
      expect(r.inventory.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(r.pools[0]?.nodes).toHaveLength(2);
      expect(r.pools[0]?.keyId).toMatch(/^[0-9a-f]{32}$/);
      expect(r.pools[0]?.phases.length).toBeGreaterThan(0);
      expect(r.pools[0]?.verification?.ok).toBe(true);
    }
    // The rollback returns to the key the second rotation replaced.
    expect(records[2]?.pools[0]?.keyId).toBe(
      records[1]?.pools[0]?.before[fleet.nodes[0]!.host]?.[0],
    );
    // No key bytes: the only 32-hex strings in the log are key ids that the rings name.
    const text = await readFile(audit, 'utf8');
    for (const node of fleet.nodes) {
      for (const f of (await node.sh(`ls ${node.keyDir}/*.key`)).stdout
        .trim()
        .split('\n')
        .filter(Boolean)) {
        const bytes = await readFile(f);
        expect(text).not.toContain(bytes.subarray(16).toString('hex'));
        expect(text).not.toContain(bytes.toString('base64').slice(22, 44));
      }
    }
  });

  it('records a locked run too, with exit code 4, and prints one line; metrics left as they are', async () => {
    const audit = `${fleet.dir}/state/locked.log`;
    const metrics = `${fleet.dir}/locked.prom`;
    const last = 'stekctl_rotation_success{pool="web"} 0\n';
    await writeFile(metrics, last);
    const node = fleet.nodes[0]!;
    const holder = {
      runId: 'x',
      host: 'other-host',
      pid: 1,
      user: 'ops',
      started: new Date().toISOString(),
      expires: new Date(Date.now() + 3600_000).toISOString(),
    };
    await node.sh(`printf '%s\\n' '${JSON.stringify(holder)}' > ${node.keyDir}/stekctl.lock`);
    try {
      const evidence = ['--audit-log', audit, '--metrics-file', metrics];
      const res = await runCli(['rotate', '-i', inventory, '--yes', ...evidence]);
      expect(res.code).toBe(4);
      expect(res.stdout).toBe('');
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toContain('ops@other-host');
      const rec = JSON.parse((await readFile(audit, 'utf8')).trim()) as AuditRecord;
      expect(rec.exitCode).toBe(4);
      expect(rec.outcome).toBe('locked');
      expect(await readFile(metrics, 'utf8')).toBe(last);
    } finally {
      await node.sh(`rm -f ${node.keyDir}/stekctl.lock`);
    }
  });
});

interface AuditRecord {
  command: string;
  exitCode: number;
  outcome: string;
  user: string;
  host: string;
  inventory: { path: string; sha256: string };
  pools: {
    keyId: string;
    nodes: string[];
    before: Record<string, string[]>;
    phases: unknown[];
    verification?: { ok: boolean };
  }[];
}

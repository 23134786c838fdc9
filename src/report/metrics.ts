import type { PoolVerification } from '../fleet/verify-pools.js';
import type { PoolProbeReport } from '../probe/index.js';
import type { RotateReport } from '../rotation/rotate.js';
import { writeFileAtomic } from '../local/write-file-atomic.js';

/** One sample of a gauge. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const help: Record<string, string> = {
  stekctl_last_rotation_timestamp_seconds:
    'Time of the last successful rotation of the pool (from the nodes).',
  stekctl_key_age_seconds: 'Age of the key the pool encrypts with.',
  stekctl_rotation_duration_seconds: 'Duration of the last rotate or rollback run for the pool.',
  stekctl_rotation_success: '1 if the last rotate or rollback run succeeded for the pool, else 0.',
  stekctl_rotation_last_success_timestamp_seconds:
    'Time of the last successful rotate or rollback run of the pool (from the nodes when this run failed).',
  stekctl_rotation_verify_ok:
    '1 if the verification inside the last rotate or rollback run passed, else 0.',
  stekctl_rotation_exit_code:
    'Exit code of the last run for the pool (0 ok, 1 failed or refused, nothing left changed, 3 not restored).',
  stekctl_verify_ok: '1 if the last verification of the pool passed, else 0.',
  stekctl_verify_timestamp_seconds: 'Time of the last verification of the pool.',
  stekctl_resumption_ratio: 'Share of ticket offers the node resumed in the last verification.',
  stekctl_resumption_probes: 'Ticket offers made to the node in the last verification.',
};

/** Metrics of a rotate or rollback run; the last rotation time comes from what the nodes record. */
export function rotationSamples(
  report: RotateReport,
  lastRotationByPool: Map<string, number | undefined>,
): Sample[] {
  const out: Sample[] = [];
  const runSeconds = (Date.parse(report.finishedAt) - Date.parse(report.startedAt)) / 1000;
  const pools = new Set([
    ...report.plans.map((p) => p.pool.name),
    ...report.preflight.map((p) => p.pool),
    ...report.refused.map((r) => r.pool),
  ]);
  for (const pool of pools) {
    const r = report.results.find((x) => x.pool === pool);
    const exit = r?.exitCode ?? report.exitCode;
    const ok = r
      ? r.exitCode === 0 &&
        (r.outcome === 'rotated' || r.outcome === 'nothing-to-do' || r.outcome === 'staged')
      : false;
    out.push({
      name: 'stekctl_rotation_success',
      labels: { pool },
      value: ok ? 1 : 0,
    });
    out.push({ name: 'stekctl_rotation_exit_code', labels: { pool }, value: exit });
    out.push({ name: 'stekctl_rotation_duration_seconds', labels: { pool }, value: runSeconds });
    // Only stekctl_rotation_* names here: `verify` writes the others, possibly to another file
    // of the same textfile directory, and node_exporter refuses a metric defined twice.
    const last =
      r?.outcome === 'rotated' ? Date.parse(report.finishedAt) : lastRotationByPool.get(pool);
    if (last !== undefined) {
      out.push({
        name: 'stekctl_rotation_last_success_timestamp_seconds',
        labels: { pool },
        value: last / 1000,
      });
    }
    if (r?.verification) {
      out.push({
        name: 'stekctl_rotation_verify_ok',
        labels: { pool },
        value: r.verification.ok ? 1 : 0,
      });
    }
  }
  return out;
}

/** Metrics of `verify`: outcome, and per node the share of peer tickets it resumed. */
export function verifySamples(results: PoolVerification[], now: Date): Sample[] {
  const out: Sample[] = [];
  for (const r of results) {
    out.push({ name: 'stekctl_verify_ok', labels: { pool: r.pool }, value: r.ok ? 1 : 0 });
    out.push({
      name: 'stekctl_verify_timestamp_seconds',
      labels: { pool: r.pool },
      value: now.getTime() / 1000,
    });
    out.push(...probeSamples(r.pool, r.probe, false));
    const ages =
      r.ring?.nodes.flatMap(
        (n) => n.state?.ring.filter((e) => e.role === 'encrypt').map((e) => e.ageSeconds) ?? [],
      ) ?? [];
    const known = ages.filter((a): a is number => a !== undefined);
    if (known.length > 0)
      out.push({
        name: 'stekctl_key_age_seconds',
        labels: { pool: r.pool },
        value: Math.max(...known),
      });
    const last = r.ring?.nodes.map((n) => n.state?.manifest?.lastRotation).find((x) => x);
    if (last)
      out.push({
        name: 'stekctl_last_rotation_timestamp_seconds',
        labels: { pool: r.pool },
        value: Date.parse(last) / 1000,
      });
  }
  return out;
}

function probeSamples(pool: string, probe: PoolProbeReport, withOk = true): Sample[] {
  const out: Sample[] = [];
  if (withOk) out.push({ name: 'stekctl_verify_ok', labels: { pool }, value: probe.ok ? 1 : 0 });
  const nodes = new Set(probe.offers.map((o) => o.to));
  for (const node of nodes) {
    const offers = probe.offers.filter((o) => o.to === node);
    const resumed = offers.filter((o) => o.reused).length;
    out.push({
      name: 'stekctl_resumption_ratio',
      labels: { pool, node },
      value: offers.length ? resumed / offers.length : 0,
    });
    out.push({ name: 'stekctl_resumption_probes', labels: { pool, node }, value: offers.length });
  }
  return out;
}

/** Prometheus text exposition format, grouped by metric, with HELP and TYPE lines. */
export function renderMetrics(samples: Sample[]): string {
  const names = [...new Set(samples.map((s) => s.name))];
  const lines: string[] = [];
  for (const name of names) {
    lines.push(`# HELP ${name} ${help[name] ?? name}`, `# TYPE ${name} gauge`);
    for (const s of samples.filter((x) => x.name === name)) {
      const labels = Object.entries(s.labels)
        .map(
          ([k, v]) =>
            `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
        )
        .join(',');
      lines.push(`${name}${labels ? `{${labels}}` : ''} ${formatValue(s.value)}`);
    }
  }
  return lines.join('\n') + '\n';
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(6).replace(/0+$/, '').replace(/\.$/, '');
}

/** Written atomically: node_exporter's textfile collector never reads half a file. */
export async function writeMetricsFile(path: string, samples: Sample[]): Promise<void> {
  await writeFileAtomic(path, renderMetrics(samples), { mode: 0o644, overwrite: true });
}

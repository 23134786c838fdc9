import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { breakdownOf, type Breakdown } from '../breakdown.js';
import { runMeasured } from '../measure.js';
import { commandKinds } from './ssh-sim.js';
import { startSimFleet, type SimFleetSpec } from './sim-fleet.js';
import type { WorkerReport } from './worker-protocol.js';

export interface SimSettings extends Omit<SimFleetSpec, 'nodes'> {
  concurrency: number;
  /** stekctl --probe-threads: 'auto' or a count. */
  probeThreads: string;
  cli: string;
}

export interface SimResult {
  nodes: number;
  concurrency: number;
  probeThreads: string;
  exitCode: number;
  outcome: string;
  wallMs: number;
  /** The minimal protocol at this concurrency: see idealMs(). */
  idealMs: number;
  cpuMs: number;
  maxRssKb: number;
  simCpuMs: number;
  phases: { name: string; ms: number }[];
  verifyMs: number | undefined;
  connectionsPerNode: { min: number; max: number };
  commandsPerNode: Record<string, number>;
  maxCommandsInFlight: number;
  tlsHandshakes: number;
  maxTlsInFlight: number;
  nodesOnNewKey: number;
  breakdown: Breakdown | undefined;
  /** Largest resident set seen by the end of preflight (every connection open), KiB. */
  rssAfterPreflightKb: number | undefined;
  error: string | undefined;
}

/**
 * The critical path of the minimal protocol the issue asks for, with nothing spent locally:
 * ceil(N / C) waves, each node taking one login (2 round trips), one preflight read with the
 * config test, and one command per phase (stage, promote) with test and reload.
 */
export function idealMs(n: number, s: Omit<SimSettings, 'cli'>): number {
  const waves = Math.ceil(n / s.concurrency);
  const L = s.latencyMs;
  const perNode = 2 * L + (L + s.execMs + s.checkMs) + 2 * (L + s.execMs + s.checkMs + s.reloadMs);
  return waves * perNode;
}

/** Commands in flight at once across every simulator process (sweep over the recorded spans). */
function maxInFlight(reports: WorkerReport[]): number {
  const events: [number, number][] = [];
  for (const r of reports) for (const c of r.ssh.commands) events.push([c.start, 1], [c.end, -1]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of events) {
    now += d;
    max = Math.max(max, now);
  }
  return max;
}

interface RotateJson {
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  pools?: {
    pool: string;
    outcome: string;
    keyId: string;
    error?: string;
    phases: { name: string; startedAt: string; ms: number }[];
    verification?: { durationMs: number };
  }[];
}

/** One full rotation of a simulated fleet of `n` nodes, measured from outside the CLI. */
export async function runSim(n: number, s: SimSettings): Promise<SimResult> {
  const fleet = await startSimFleet({ ...s, nodes: n });
  const stateDir = await mkdtemp(join(tmpdir(), 'stekctl-bench-state-'));
  try {
    const m = await runMeasured(
      // The bin itself, through its shebang (and the flags it gives node), as operators run it.
      s.cli,
      [
        'rotate',
        '-i',
        fleet.inventory,
        '--yes',
        '--json',
        '--quiet',
        '--overlap',
        '0',
        '--concurrency',
        String(s.concurrency),
        '--probe-threads',
        s.probeThreads,
        '--state-dir',
        stateDir,
      ],
      { env: { ...process.env, NO_COLOR: '1' }, sampleRss: 250 },
    );
    const reports = await fleet.report();
    let doc: RotateJson | undefined;
    try {
      doc = JSON.parse(m.stdout) as RotateJson;
    } catch {
      doc = undefined;
    }
    const pool = doc?.pools?.[0];
    const breakdown = doc?.pools ? breakdownOf({ ...doc, pools: doc.pools }, m.wallMs) : undefined;
    const perKind: Record<string, number> = {};
    for (const r of reports)
      for (const c of r.ssh.commands) {
        const k = commandKinds[c.kind] ?? 'other';
        perKind[k] = (perKind[k] ?? 0) + 1;
      }
    for (const k of Object.keys(perKind)) perKind[k] = (perKind[k] ?? 0) / n;
    const conns = reports.flatMap((r) => r.ssh.connections);
    const onNew = reports
      .flatMap((r) => r.encrypting)
      .filter(([id]) => pool && id === pool.keyId)
      .reduce((a, [, c]) => a + c, 0);
    return {
      nodes: n,
      concurrency: s.concurrency,
      probeThreads: s.probeThreads,
      exitCode: m.code,
      outcome: pool?.outcome ?? 'no report',
      wallMs: m.wallMs,
      idealMs: idealMs(n, s),
      cpuMs: m.cpuMs,
      maxRssKb: m.maxRssKb,
      simCpuMs: reports.reduce((a, r) => a + r.cpuMs, 0),
      phases: pool?.phases.map((p) => ({ name: p.name, ms: p.ms })) ?? [],
      verifyMs: pool?.verification?.durationMs,
      connectionsPerNode: { min: Math.min(...conns), max: Math.max(...conns) },
      commandsPerNode: perKind,
      maxCommandsInFlight: maxInFlight(reports),
      tlsHandshakes: reports.reduce((a, r) => a + r.tls.handshakes, 0),
      maxTlsInFlight: reports.reduce((a, r) => a + r.tls.maxInFlight, 0),
      nodesOnNewKey: onNew,
      breakdown,
      rssAfterPreflightKb: rssUntil(
        m.rssSamples,
        breakdown ? breakdown.startup + breakdown.preflight : undefined,
      ),
      error: clipText(pool?.error ?? (m.code !== 0 ? lastLines(m.stderr) : undefined)),
    };
  } finally {
    await rm(stateDir, { recursive: true, force: true });
    await fleet.stop();
  }
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' / ');
}

/** A failing pool of thousands names every node in its error: keep the start. */
function clipText(s: string | undefined): string | undefined {
  return s !== undefined && s.length > 2000 ? `${s.slice(0, 2000)}...` : s;
}

function rssUntil(samples: [number, number][], ms: number | undefined): number | undefined {
  if (ms === undefined) return undefined;
  const before = samples.filter(([t]) => t <= ms).map(([, kb]) => kb);
  return before.length > 0 ? Math.max(...before) : undefined;
}

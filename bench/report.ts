import type { BenchArgs } from './args.js';
import type { LoopbackResult } from './loopback/suite.js';
import type { Breakdown } from './breakdown.js';
import type { ToolName, ToolRun } from './loopback/tools.js';
import type { Machine } from './machine.js';
import type { SimResult } from './sim/sim-suite.js';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Errors of large pools name every node: keep the start. */
const clip = (s: string): string =>
  s.length > 400 ? `${s.slice(0, 400)}... (${s.length} characters)` : s;
const sec = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '-');
const x = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(2)}x` : '-');

function runOf(round: ToolRun[], tool: ToolName): ToolRun | undefined {
  return round.find((r) => r.tool === tool && r.ok);
}

/** Median over rounds of a ratio taken within each round (both tools measured back to back). */
function ratio(res: LoopbackResult, a: ToolName, b: ToolName): number {
  const rs = res.runs.flatMap((round) => {
    const ra = runOf(round, a);
    const rb = runOf(round, b);
    return ra && rb ? [ra.wallMs / rb.wallMs] : [];
  });
  return median(rs);
}

function loopbackTable(res: LoopbackResult): string[] {
  const tools: ToolName[] = ['stekctl', 'floor', 'loop', 'ansible'];
  const lines = [
    `### ${res.nodes} nodes, concurrency ${res.concurrency}, ${res.runs.length} run(s)`,
    '',
    '| tool | wall s (median) | wall s (min-max) | CPU s | node CPU s | failed runs |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const tool of tools) {
    const all = res.runs.flatMap((round) => round.filter((r) => r.tool === tool));
    if (all.length === 0) continue;
    const ok = all.filter((r) => r.ok);
    const walls = ok.map((r) => r.wallMs);
    lines.push(
      `| ${tool} | ${sec(median(walls))} | ${sec(Math.min(...walls))}-${sec(Math.max(...walls))} | ${sec(median(ok.map((r) => r.cpuMs)))} | ${sec(median(ok.map((r) => r.nodeCpuMs)))} | ${all.length - ok.length} |`,
    );
  }
  lines.push(
    '',
    `Ratios (median of per-run ratios): stekctl/floor **${x(ratio(res, 'stekctl', 'floor'))}** (target <= 1.5x), ` +
      `Ansible/stekctl **${x(ratio(res, 'ansible', 'stekctl'))}** (target >= 10x), ` +
      `loop/stekctl **${x(ratio(res, 'loop', 'stekctl'))}**.`,
  );
  const parts = res.runs.flatMap((round) =>
    round.flatMap((r) => (r.breakdown ? [r.breakdown] : [])),
  );
  if (parts.length > 0) {
    const keys: (keyof Breakdown)[] = ['startup', 'preflight', 'apply', 'probes', 'finish'];
    lines.push(
      '',
      `stekctl's wall time (median s): ${keys.map((k) => `${k} ${sec(median(parts.map((p) => p[k])))}`).join(', ')}.`,
    );
  }
  const failures = res.runs.flat().filter((r) => !r.ok);
  for (const f of failures) lines.push('', `Failed: ${f.tool}: ${clip(f.problem ?? '')}`);
  return lines;
}

function simTable(results: SimResult[], a: BenchArgs): string[] {
  const lines = [
    `Simulator: round trip ${a.simLatencyMs} ms per command (two per login), node-side ${a.simExecMs} ms per command, ` +
      `config test ${a.simCheckMs} ms, reload ${a.simReloadMs} ms, failure rate ${a.simFailureRate}, ` +
      `probes over ${a.simVersions.join(' and ')}, ${a.simWorkers} simulator process(es).`,
    '',
    '| nodes | concurrency | probe threads | outcome | wall s | ideal s | wall/ideal | stekctl CPU s | peak RSS MB | RSS after preflight MB | simulator CPU s | SSH logins/node | commands/node | max commands in flight | TLS handshakes |',
    '|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|',
  ];
  for (const r of results) {
    const cmds = Object.entries(r.commandsPerNode)
      .map(([k, v]) => `${k} ${Number(v.toFixed(2))}`)
      .join(', ');
    const logins =
      r.connectionsPerNode.min === r.connectionsPerNode.max
        ? `${r.connectionsPerNode.min}`
        : `${r.connectionsPerNode.min}-${r.connectionsPerNode.max}`;
    lines.push(
      `| ${r.nodes} | ${r.concurrency} | ${r.probeThreads} | ${r.outcome} (exit ${r.exitCode}) | ${sec(r.wallMs)} | ${sec(r.idealMs)} | ${x(r.wallMs / r.idealMs)} | ${sec(r.cpuMs)} | ${Math.round(r.maxRssKb / 1024)} | ${r.rssAfterPreflightKb === undefined ? '-' : Math.round(r.rssAfterPreflightKb / 1024)} | ${sec(r.simCpuMs)} | ${logins} | ${cmds} | ${r.maxCommandsInFlight} | ${r.tlsHandshakes} |`,
    );
  }
  for (const r of results) {
    const phases = r.phases.map((p) => `${p.name} ${sec(p.ms)}`).join(', ');
    const b = r.breakdown;
    const parts = b
      ? ` Wall time: startup ${sec(b.startup)}, preflight ${sec(b.preflight)}, node transactions ${sec(b.apply)}, probes ${sec(b.probes)}, finish ${sec(b.finish)}.`
      : '';
    lines.push(
      '',
      `${r.nodes} nodes: phases ${phases} s; verification ${sec(r.verifyMs ?? Number.NaN)} s; ${r.nodesOnNewKey}/${r.nodes} nodes encrypt with the new key at the end.${parts}` +
        (r.error ? ` Error: ${clip(r.error)}` : ''),
    );
  }
  return lines;
}

export function renderReport(
  a: BenchArgs,
  machine: Machine,
  load: { start: number[]; end: number[]; samples: number[] },
  loopback: LoopbackResult[],
  sim: SimResult[],
  totalMs: number,
): string {
  const lines = [
    '## Machine',
    '',
    `- ${machine.cores} x ${machine.cpu}, ${machine.memoryGb} GB RAM, Linux ${machine.kernel}`,
    `- Node ${machine.node}; ${machine.openssh}; ${machine.nginx}; ${machine.ansible}`,
    `- Load average (1, 5, 15 min) at start: ${load.start.join(', ')}; at end: ${load.end.join(', ')}`,
    `- 1-minute load average every 5 s during the run: min ${Math.min(...load.samples)}, median ${median(load.samples).toFixed(2)}, max ${Math.max(...load.samples)}`,
    `- Total benchmark time: ${(totalMs / 60_000).toFixed(1)} min`,
    '',
  ];
  if (loopback.length > 0) {
    lines.push('## Loopback fleet', '');
    for (const res of loopback) lines.push(...loopbackTable(res), '');
  }
  if (sim.length > 0) lines.push('## Simulated fleet', '', ...simTable(sim, a), '');
  return lines.join('\n') + '\n';
}

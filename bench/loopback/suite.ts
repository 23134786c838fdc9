import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFleet, type FleetPoolSpec } from '../../src/loopback/index.js';
import { skipLoginRc } from './clean-login.js';
import { runTool, toolNames, type BenchContext, type ToolName, type ToolRun } from './tools.js';

export interface LoopbackSettings {
  runs: number;
  concurrency: number | undefined;
  tools: ToolName[];
  cli: string;
  timeoutMs: number;
  /** Keep the machine's ~/.bashrc work in every ssh command (see clean-login.ts). */
  keepLoginRc: boolean;
  log: (line: string) => void;
}

export interface LoopbackResult {
  nodes: number;
  concurrency: number;
  /** runs[i] holds every tool's run of round i, measured back to back. */
  runs: ToolRun[][];
}

/** The fleet's limit is 20 nodes a pool: larger fleets are split into pools of at most 16. */
function poolsFor(n: number): FleetPoolSpec[] {
  const pools: FleetPoolSpec[] = [];
  for (let i = 0, left = n; left > 0; i++) {
    const size = Math.min(16, left);
    pools.push({ name: `bench${i + 1}`, server: 'nginx', nodes: size });
    left -= size;
  }
  return pools;
}

/**
 * Starts a loopback fleet of `n` nginx nodes, brings it to a steady ring with two unmeasured
 * rotations, then measures every tool `runs` times. Each round runs the tools back to back in
 * a rotating order, so that drift in the machine's load does not favour one tool.
 */
export async function runLoopback(n: number, s: LoopbackSettings): Promise<LoopbackResult> {
  const fleet = await startFleet({ pools: poolsFor(n) });
  const work = await mkdtemp(join(tmpdir(), 'stekctl-bench-'));
  const concurrency = s.concurrency ?? n;
  try {
    if (!s.keepLoginRc) await skipLoginRc(fleet);
    const inventory = await fleet.writeInventory();
    const ctx: BenchContext = {
      fleet,
      inventory,
      access: { identityFile: fleet.identityFile, knownHosts: fleet.knownHosts },
      concurrency,
      cli: s.cli,
      work,
      timeoutMs: s.timeoutMs,
    };
    for (let i = 0; i < 2; i++) {
      const warm = await runTool('stekctl', ctx);
      if (!warm.ok) throw new Error(`warm-up rotation failed: ${warm.problem}`);
    }
    const tools = toolNames.filter((t) => s.tools.includes(t));
    const runs: ToolRun[][] = [];
    for (let r = 0; r < s.runs; r++) {
      const order = tools.map((_, i) => tools[(i + r) % tools.length] as ToolName);
      const round: ToolRun[] = [];
      for (const tool of order) {
        const run = await runTool(tool, ctx);
        s.log(
          `  N=${n} run ${r + 1}/${s.runs} ${tool.padEnd(8)} ${(run.wallMs / 1000).toFixed(2)} s wall, ${(run.cpuMs / 1000).toFixed(2)} s CPU${run.ok ? '' : `  FAILED: ${run.problem}`}`,
        );
        round.push(run);
      }
      runs.push(round);
    }
    return { nodes: n, concurrency, runs };
  } finally {
    await fleet.stop();
    await rm(work, { recursive: true, force: true });
  }
}

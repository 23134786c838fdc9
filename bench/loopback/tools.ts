import { readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Fleet } from '../../src/loopback/index.js';
import { breakdownOf, type Breakdown, type RotateJson } from '../breakdown.js';
import { processCpuMs, runMeasured, treeCpuMs, type Measured } from '../measure.js';
import {
  ansibleConfig,
  ansibleInventory,
  ansiblePlaybook,
  ansibleScript,
  floorScript,
  runbookLoopScript,
  type SshAccess,
  type Target,
} from './scripts.js';

export type ToolName = 'stekctl' | 'loop' | 'ansible' | 'floor';
export const toolNames: ToolName[] = ['stekctl', 'loop', 'ansible', 'floor'];

export interface ToolRun extends Measured {
  tool: ToolName;
  /** CPU the nodes spent meanwhile: their sshd (sessions, commands) and nginx (reloads). */
  nodeCpuMs: number;
  ok: boolean;
  problem: string | undefined;
  /** stekctl only: where its wall time went, from its own JSON report. */
  breakdown?: Breakdown;
}

export interface BenchContext {
  fleet: Fleet;
  inventory: string;
  access: SshAccess;
  concurrency: number;
  cli: string;
  work: string;
  timeoutMs: number;
}

/** Each node's sshd listener and nginx master: their process trees do all of the nodes' work. */
function nodePids(fleet: Fleet): number[] {
  const pids: number[] = [];
  for (const n of fleet.nodes) {
    for (const f of [n.pidFile, n.sshdPidFile]) {
      try {
        pids.push(Number(readFileSync(f, 'utf8').trim()));
      } catch {
        // A node without a pid file contributes nothing.
      }
    }
  }
  return pids.filter((p) => Number.isInteger(p) && p > 0);
}

function nodeCpu(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + treeCpuMs(pid), 0);
}

/** Each node with the key file it encrypts with now, as an operator knows it from the last run. */
async function currentTargets(ctx: BenchContext): Promise<Target[]> {
  return Promise.all(
    ctx.fleet.nodes.map(async (node) => {
      const conf = await readFile(join(node.keyDir, 'tickets.conf'), 'utf8');
      const m = /ssl_session_ticket_key\s+(\S+);/.exec(conf);
      if (!m?.[1]) throw new Error(`no ticket key in ${node.keyDir}/tickets.conf`);
      return {
        host: node.host,
        port: node.sshPort,
        keyDir: node.keyDir,
        config: node.config,
        reload: node.reload,
        old: m[1].slice(m[1].lastIndexOf('/') + 1),
      };
    }),
  );
}

/** Ansible keeps ssh masters (ControlPersist) after it exits: count their CPU, then end them. */
async function endMasters(controlDir: string): Promise<number> {
  let cpu = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let cmd = '';
    try {
      cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (!cmd.startsWith('ssh') || !cmd.includes(controlDir)) continue;
    cpu += processCpuMs(pid);
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  return cpu;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runScript(
  ctx: BenchContext,
  name: string,
  script: string,
  env?: NodeJS.ProcessEnv,
): Promise<Measured> {
  const file = join(ctx.work, `${name}.sh`);
  await writeFile(file, script);
  return runMeasured('/bin/sh', [file], { timeoutMs: ctx.timeoutMs, ...(env ? { env } : {}) });
}

async function runStekctl(
  ctx: BenchContext,
): Promise<{ m: Measured; problem?: string; breakdown?: Breakdown }> {
  const m = await runMeasured(
    // The bin itself, through its shebang (and the flags it gives node), as operators run it.
    ctx.cli,
    [
      'rotate',
      '-i',
      ctx.inventory,
      '--yes',
      '--json',
      '--quiet',
      '--overlap',
      '0',
      '--concurrency',
      String(ctx.concurrency),
      '--state-dir',
      join(ctx.work, 'state'),
    ],
    { timeoutMs: ctx.timeoutMs, env: { ...process.env, NO_COLOR: '1' } },
  );
  let doc: RotateJson;
  try {
    doc = JSON.parse(m.stdout) as RotateJson;
  } catch {
    const why = m.stderr.trim().split('\n').slice(-2).join(' ');
    return { m, problem: `no JSON report (exit ${m.code}): ${why}` };
  }
  const bad = doc.pools.filter((p) => p.outcome !== 'rotated');
  const breakdown = breakdownOf(doc, m.wallMs);
  if (bad.length > 0) {
    const problem = bad.map((p) => `${p.pool}: ${p.outcome} ${p.error ?? ''}`).join('; ');
    return { m, problem, ...(breakdown ? { breakdown } : {}) };
  }
  return { m, ...(breakdown ? { breakdown } : {}) };
}

async function runAnsible(ctx: BenchContext): Promise<{ m: Measured; extraCpuMs: number }> {
  const dir = join(ctx.work, `ansible-${Date.now()}`);
  await mkdir(join(dir, 'cp'), { recursive: true });
  await writeFile(
    join(dir, 'inventory.ini'),
    ansibleInventory(await currentTargets(ctx), ctx.access),
  );
  await writeFile(join(dir, 'playbook.yml'), ansiblePlaybook);
  await writeFile(join(dir, 'ansible.cfg'), ansibleConfig(dir, ctx.concurrency));
  const m = await runScript(ctx, 'ansible', ansibleScript(dir, ctx.work, ctx.concurrency), {
    ...process.env,
    ANSIBLE_CONFIG: join(dir, 'ansible.cfg'),
    ANSIBLE_NOCOLOR: '1',
  });
  return { m, extraCpuMs: await endMasters(join(dir, 'cp')) };
}

/** Runs one tool against the fleet; node CPU is read around it, once sessions have closed. */
export async function runTool(tool: ToolName, ctx: BenchContext): Promise<ToolRun> {
  const pids = nodePids(ctx.fleet);
  const before = nodeCpu(pids);
  let m: Measured;
  let problem: string | undefined;
  let extra = 0;
  let breakdown: Breakdown | undefined;
  if (tool === 'stekctl') {
    const r = await runStekctl(ctx);
    m = r.m;
    problem = r.problem;
    breakdown = r.breakdown;
  } else if (tool === 'loop') {
    m = await runScript(
      ctx,
      'loop',
      runbookLoopScript(await currentTargets(ctx), ctx.access, ctx.work),
    );
  } else if (tool === 'ansible') {
    const r = await runAnsible(ctx);
    m = r.m;
    extra = r.extraCpuMs;
  } else {
    m = await runScript(ctx, 'floor', floorScript(await currentTargets(ctx), ctx.access));
  }
  // Sessions end (and are reaped by sshd) a moment after the client goes.
  await pause(300);
  const nodeCpuMs = nodeCpu(pids) - before;
  if (m.code !== 0 && !problem)
    problem = `exit ${m.code}: ${m.stderr.trim().split('\n').slice(-3).join(' / ')}`;
  return {
    ...m,
    cpuMs: m.cpuMs + extra,
    tool,
    nodeCpuMs,
    ok: !problem,
    problem,
    ...(breakdown ? { breakdown } : {}),
  };
}

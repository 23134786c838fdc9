import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** One command's cost, as the kernel accounted it (the command and every child it waited for). */
export interface Measured {
  code: number;
  wallMs: number;
  /** User + system CPU of the command and its reaped descendants. */
  cpuMs: number;
  /** Peak resident set of the largest single process in the tree, KiB. */
  maxRssKb: number;
  stdout: string;
  stderr: string;
  /** With `sampleRss`: the command's resident set every `sampleRss` ms, as [ms since start, KiB]. */
  rssSamples: [number, number][];
}

const timeBin = '/usr/bin/time';
const marker = 'BENCH-RUSAGE';

export function haveTimeBinary(): boolean {
  return existsSync(timeBin);
}

/**
 * Runs a command under GNU time. Wall time is taken here (from spawn to exit); CPU and peak RSS
 * come from the rusage GNU time reads with wait4(), which covers every descendant the command
 * reaped (a shell loop's ssh and scp, Ansible's forks).
 */
export function runMeasured(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; sampleRss?: number } = {},
): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(timeBin, ['-f', `${marker} %e %U %S %M`, file, ...args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    const rssSamples: [number, number][] = [];
    const sampler =
      opts.sampleRss === undefined || child.pid === undefined
        ? undefined
        : setInterval(() => {
            const rss = commandRssKb(child.pid as number);
            if (rss !== undefined)
              rssSamples.push([Number(process.hrtime.bigint() - t0) / 1e6, rss]);
          }, opts.sampleRss);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(sampler);
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      const stderrAll = Buffer.concat(err).toString('utf8');
      const line = stderrAll.split('\n').find((l) => l.startsWith(marker));
      const [, , user, sys, rss] = (line ?? '').split(' ');
      resolve({
        code: code ?? -1,
        wallMs,
        cpuMs: (Number(user) + Number(sys)) * 1000,
        maxRssKb: Number(rss),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: stderrAll
          .split('\n')
          .filter((l) => !l.startsWith(marker))
          .join('\n'),
        rssSamples,
      });
    });
  });
}

/** VmRSS of the command GNU time runs (its only child), KiB. */
function commandRssKb(timePid: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${timePid}/task/${timePid}/children`, 'utf8').trim();
    const pid = Number(kids.split(' ')[0]);
    if (!pid) return undefined;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const clockTicks = 100;

/** CPU (ms) of a process and of its children it already reaped, from /proc/<pid>/stat. */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may contain spaces: utime is field 14.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
    return (ticks * 1000) / clockTicks;
  } catch {
    return 0;
  }
}

/**
 * CPU (ms) of a process tree: each live process with what it reaped. Sampled before and after a
 * run, the difference is the tree's work in between, whether its workers exited or not.
 */
export function treeCpuMs(pid: number): number {
  let children: number[] = [];
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    children = text ? text.split(' ').map(Number) : [];
  } catch {
    children = [];
  }
  return processCpuMs(pid) + children.reduce((sum, c) => sum + treeCpuMs(c), 0);
}

/** 1-, 5- and 15-minute load averages. */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return [a ?? 0, b ?? 0, c ?? 0];
}

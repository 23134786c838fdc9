import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** One entry of /proc; every field is read without following the process further. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** Session id: a daemon that called setsid() leads its own session. */
  session: number;
  state: string;
  /** Start time in clock ticks since boot: tells a reused pid from the original. */
  startTime: string;
  cmdline: string;
  cwd: string | undefined;
}

function readProc(pid: number, withDetails: boolean): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: the fixed fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const info: ProcInfo = {
      pid,
      state: fields[0] ?? '?',
      ppid: Number(fields[1]),
      session: Number(fields[3]),
      startTime: fields[19] ?? '',
      cmdline: '',
      cwd: undefined,
    };
    if (withDetails) {
      info.cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      try {
        info.cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        info.cwd = undefined;
      }
    }
    return info;
  } catch {
    return undefined;
  }
}

export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const info = readProc(Number(name), true);
    if (info) out.push(info);
  }
  return out;
}

export function readProcess(pid: number): ProcInfo | undefined {
  return readProc(pid, false);
}

/** Alive means it exists and is not a zombie waiting for its parent. */
export function isAlive(pid: number): boolean {
  const info = readProc(pid, false);
  return info !== undefined && info.state !== 'Z' && info.state !== 'X';
}

function ancestorsOfSelf(procs: Map<number, ProcInfo>): Set<number> {
  const out = new Set<number>();
  let pid: number | undefined = process.pid;
  while (pid !== undefined && pid > 0 && !out.has(pid)) {
    out.add(pid);
    pid = procs.get(pid)?.ppid;
  }
  return out;
}

/** The given roots and all their descendants that are alive, never this process or its ancestors. */
export function withDescendants(
  roots: Iterable<number>,
  procs: ProcInfo[] = listProcesses(),
): number[] {
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const children = new Map<number, number[]>();
  for (const p of procs) {
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const protectedPids = ancestorsOfSelf(byPid);
  const seen = new Set<number>();
  const stack = [...roots].filter((pid) => byPid.has(pid));
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    if (seen.has(pid) || protectedPids.has(pid)) continue;
    seen.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return [...seen]
    .filter((pid) => {
      const state = byPid.get(pid)?.state;
      return state !== 'Z' && state !== 'X';
    })
    .sort((a, b) => a - b);
}

/** Processes whose command line or working directory lies inside `dir`, with their descendants. */
export function processesUnder(dir: string, procs: ProcInfo[] = listProcesses()): number[] {
  const inside = (s: string | undefined): boolean =>
    s !== undefined && (s === dir || s.includes(`${dir}/`));
  const roots = procs.filter((p) => inside(p.cmdline) || inside(p.cwd)).map((p) => p.pid);
  return withDescendants(roots, procs);
}

/** Processes whose command line contains `needle`, with their descendants. */
export function processesMentioning(needle: string, procs: ProcInfo[] = listProcesses()): number[] {
  return withDescendants(
    procs.filter((p) => p.cmdline.includes(needle)).map((p) => p.pid),
    procs,
  );
}

const shells = new Set(['sh', 'bash', 'dash', 'zsh']);

/**
 * Daemons mentioning `needle` (session leaders that are not shells, so a check or reload command
 * in flight does not count), plus `extraRoots`, with their descendants.
 */
export function daemonsMentioning(
  needle: string,
  extraRoots: number[] = [],
  procs = listProcesses(),
): number[] {
  const roots = procs
    .filter((p) => p.cmdline.includes(needle) && p.session === p.pid)
    .filter((p) => !shells.has((p.cmdline.split(' ')[0] ?? '').split('/').pop() ?? ''))
    .map((p) => p.pid);
  return withDescendants([...roots, ...extraRoots], procs);
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // Already gone.
    }
  }
}

/** SIGTERM, then SIGKILL what is left after `graceMs`; resolves when all are gone. */
export async function killProcesses(pids: number[], graceMs = 3000): Promise<number[]> {
  signal(pids, 'SIGTERM');
  let left = pids.filter(isAlive);
  for (const deadline = Date.now() + graceMs; left.length > 0 && Date.now() < deadline;) {
    await sleep(25);
    left = left.filter(isAlive);
  }
  signal(left, 'SIGKILL');
  for (const deadline = Date.now() + 2000; left.length > 0 && Date.now() < deadline;) {
    await sleep(25);
    left = left.filter(isAlive);
  }
  return left;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The same as killProcesses for 'exit' handlers, where nothing asynchronous runs any more. */
export function killProcessesSync(pids: number[], graceMs = 1500): void {
  signal(pids, 'SIGTERM');
  let left = pids.filter(isAlive);
  for (const deadline = Date.now() + graceMs; left.length > 0 && Date.now() < deadline;) {
    sleepSync(20);
    left = left.filter(isAlive);
  }
  signal(left, 'SIGKILL');
}

/**
 * The pid in a pid file, if that process still runs and its command line mentions `needle`:
 * a stale pid file may name a reused pid of an unrelated process, which must not be killed.
 */
export function readPidFile(file: string, needle: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(needle)
      ? pid
      : undefined;
  } catch {
    return undefined;
  }
}

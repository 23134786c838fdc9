import { spawn } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { Fleet, FleetNode } from './fleet/index.js';
import type { CliResult } from './cli.js';

/**
 * Fault injection and waiting for the fault tests (test/e2e/faults-*.test.ts). Every wait has a
 * deadline; nothing here sleeps a fixed time to let something happen.
 */

const bin = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const testStateDir = join(tmpdir(), `stekctl-test-state-${process.pid}`);

/** Polls `ok` until it holds or the deadline passes (then throws, naming `what`). */
export async function waitUntil(
  what: string,
  ok: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

export interface RunningCli {
  pid: number;
  output: () => string;
  exited: Promise<CliResult & { signal: NodeJS.Signals | null }>;
  kill: (signal: NodeJS.Signals) => void;
  /**
   * Resolves the moment `pattern` appears in the output (from the output handler itself, not a
   * polling loop); rejects if the run ends first.
   */
  when: (pattern: RegExp) => Promise<void>;
}

/** Starts the built CLI without a terminal and keeps its output readable while it runs. */
export function startCli(args: string[], env: Record<string, string> = {}): RunningCli {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, NO_COLOR: '1', STEKCTL_STATE_DIR: testStateDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers: { pattern: RegExp; fire: () => void }[] = [];
  const check = (): void => {
    for (const w of [...watchers]) {
      if (w.pattern.test(stdout + stderr)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.fire();
      }
    }
  };
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    check();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    check();
  });
  const exited = new Promise<CliResult & { signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr })),
  );
  return {
    pid: child.pid as number,
    output: () => stdout + stderr,
    exited,
    kill: (signal) => child.kill(signal),
    when,
  };

  function when(pattern: RegExp): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      watchers.push({ pattern, fire: resolve });
      check();
      void exited.then(() =>
        reject(new Error(`stekctl ended before printing ${pattern}:\n${stdout}${stderr}`)),
      );
    });
  }
}

/** Waits for a line of progress (or anything else) to appear in a running CLI's output. */
export async function waitForOutput(
  run: RunningCli,
  pattern: RegExp,
  timeoutMs = 60_000,
): Promise<void> {
  let ended = false;
  void run.exited.then(() => (ended = true));
  await waitUntil(
    `${pattern} in the output of stekctl`,
    () => {
      if (pattern.test(run.output())) return true;
      if (ended) throw new Error(`stekctl ended without printing ${pattern}:\n${run.output()}`);
      return false;
    },
    timeoutMs,
  );
}

/**
 * Waits until no node-side transaction runs on any node of the pool: each transaction holds an
 * exclusive flock on its key directory, so taking that lock here means none is left, e.g. one a
 * killed run's connection left behind (it ignores HUP and carries on).
 */
export async function waitForTransactions(fleet: Fleet, poolName: string): Promise<void> {
  await Promise.all(
    fleet.pool(poolName).nodes.map(async (n) => {
      const res = await n.sh(`flock -w 60 ${n.keyDir} true`, { timeoutMs: 70_000 });
      expect(res.code, `${n.name}: a transaction still holds ${n.keyDir}`).toBe(0);
    }),
  );
}

/**
 * A command for `node` that counts its calls and, on call `on`, runs `fault` first (which may
 * exit, or fall through to the real command). Reload calls: 1 is the stage, 2 the promotion;
 * check calls: 1 is the preflight. Each call appends `start <n>` and `end <n>` lines, with the
 * time in ms, to `<name>.log` in the node's directory, so that tests can see calls overlap.
 */
export async function faultyCommand(
  node: FleetNode,
  name: string,
  real: string,
  on: number,
  fault: string,
): Promise<{ command: string; log: string; marker: string }> {
  const base = join(node.dir, name);
  await rm(`${base}.count`, { force: true });
  await rm(`${base}.log`, { force: true });
  await rm(`${base}.marker`, { force: true });
  const script = [
    `n=$(( $(cat ${base}.count 2>/dev/null || echo 0) + 1 ))`,
    `echo "$n" > ${base}.count`,
    `echo "start $n $(date +%s%3N)" >> ${base}.log`,
    `if [ "$n" -eq ${on} ]; then ${fault}; fi`,
    `${real}; rc=$?`,
    `echo "end $n $(date +%s%3N)" >> ${base}.log`,
    'exit $rc',
    '',
  ].join('\n');
  await writeFile(`${base}.sh`, script);
  return { command: `sh ${base}.sh`, log: `${base}.log`, marker: `${base}.marker` };
}

/** The calls a faultyCommand log records: [call, start ms, end ms or undefined]. */
export async function readCalls(log: string): Promise<[number, number, number | undefined][]> {
  const lines = (await readFile(log, 'utf8').catch(() => '')).trim().split('\n');
  const calls = new Map<number, [number, number, number | undefined]>();
  for (const line of lines) {
    const [what, n, t] = line.split(' ');
    if (!n || !t) continue;
    const call = calls.get(Number(n)) ?? [Number(n), 0, undefined];
    if (what === 'start') call[1] = Number(t);
    else call[2] = Number(t);
    calls.set(Number(n), call);
  }
  return [...calls.values()].sort((a, b) => a[0] - b[0]);
}

/**
 * Kills the node's sshd processes (SIGKILL unless `signal` says otherwise): the session
 * processes serving connections, and the listener too with `listener`, but never the commands
 * they started, which carry on as they would after a network cut.
 */
export async function killSshd(
  node: FleetNode,
  opts: { listener: boolean; signal?: NodeJS.Signals },
): Promise<void> {
  const listener = Number((await readFile(node.sshdPidFile, 'utf8')).trim());
  for (const pid of await node.sshdPids()) {
    if (pid === listener && !opts.listener) continue;
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'sshd') process.kill(pid, opts.signal ?? 'SIGKILL');
  }
}

/** Restarts the node's sshd listener unless one runs. */
export async function ensureSshd(node: FleetNode): Promise<void> {
  const listener = Number((await readFile(node.sshdPidFile, 'utf8').catch(() => '0')).trim());
  const alive = listener > 0 && (await node.sshdPids()).includes(listener);
  if (!alive) await node.startSshd();
}

/**
 * Makes `dir` read-only with a bind mount over itself (root ignores permissions, not a read-only
 * mount). Returns the undo, which must run in a `finally`.
 */
export async function mountReadOnly(node: FleetNode, dir: string): Promise<() => Promise<void>> {
  const res = await node.sh(`mount --bind ${dir} ${dir} && mount -o remount,bind,ro ${dir}`);
  expect(res.code, res.stderr).toBe(0);
  return async () => {
    const un = await node.sh(`umount ${dir}`);
    expect(un.code, un.stderr).toBe(0);
  };
}

/** The shell that makes `dir` read-only in place (for a fault script on the node). */
export function remountReadOnlyScript(dir: string): string {
  return `mount --bind ${dir} ${dir} && mount -o remount,bind,ro ${dir}`;
}

/** Undoes every mount stacked on `dir`, if any (cleanup that must not fail when none is left). */
export async function unmountAll(node: FleetNode, dir: string): Promise<void> {
  const res = await node.sh(`while mountpoint -q ${dir}; do umount ${dir} || exit 1; done`);
  expect(res.code, res.stderr).toBe(0);
}

/** The shell that fills the file system of `dir` to the last byte (for a fault script). */
export function fillScript(dir: string): string {
  return `dd if=/dev/zero of=${dir}/.fill bs=1k count=4096 2>/dev/null; true`;
}

/**
 * Puts a small tmpfs (`sizeKb`) over `dir` holding a copy of its files, for "disk full" faults.
 * The undo copies the tmpfs's files back onto the directory underneath (so that what the runs
 * did is kept, minus the filler), unmounts, and must run in a `finally`.
 */
export async function mountSmallTmpfs(
  node: FleetNode,
  dir: string,
  sizeKb: number,
): Promise<() => Promise<void>> {
  const save = `${dir}.save`;
  const res = await node.sh(
    `rm -rf ${save} && cp -a ${dir} ${save} && mount -t tmpfs -o size=${sizeKb}k,mode=700 tmpfs ${dir} && cp -a ${save}/. ${dir}/`,
  );
  expect(res.code, res.stderr).toBe(0);
  return async () => {
    const un = await node.sh(
      `rm -rf ${save} && mkdir -m 700 ${save} && cp -a ${dir}/. ${save}/ && umount ${dir} && ` +
        `find ${dir} -mindepth 1 -delete && cp -a ${save}/. ${dir}/ && rm -f ${dir}/.fill && rm -rf ${save}`,
    );
    expect(un.code, un.stderr).toBe(0);
  };
}

/** Files in the node's key directory that no finished run may leave: scratch files and locks. */
export async function leftovers(node: FleetNode): Promise<string[]> {
  const files = await readdir(node.keyDir);
  return files.filter((f) => f.startsWith('.stekctl') || f === 'stekctl.lock');
}

import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { run, runShell } from './exec.js';
import {
  daemonsMentioning,
  killProcesses,
  processesMentioning,
  readPidFile,
  withDescendants,
} from './procs.js';
import type { ServerLayout } from './servers.js';
import { startSshdDaemon, type SshdLayout } from './sshd.js';
import type { FleetNode, ServerKind, ShOptions } from './types.js';
import { waitFor, waitForSsh, waitForTls } from './wait.js';

export interface NodePlan {
  name: string;
  pool: string;
  server: ServerKind;
  index: number;
  host: string;
  sshPort: number;
  tlsPort: number;
  dir: string;
  keyDir: string;
  servername: string;
  certPem: string;
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** The last lines written to `file` after byte `from`. */
async function tail(file: string, from: number, lines = 15): Promise<string> {
  try {
    const text = (await readFile(file)).subarray(from).toString('utf8');
    return text.trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Adds what a daemon logged meanwhile to an error: its own words are the fastest diagnosis. */
async function withLog<T>(what: string, log: string, act: () => Promise<T>): Promise<T> {
  const from = await sizeOf(log);
  try {
    return await act();
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    const logged = await tail(log, from);
    throw new Error(`${what}: ${reason}${logged ? `\n--- ${log}:\n${logged}` : ''}`, { cause: e });
  }
}

export function createNode(
  plan: NodePlan,
  server: ServerLayout,
  sshd: SshdLayout,
  readyTimeoutMs: number,
): FleetNode {
  const serverPidsNow = (): number[] => {
    const pid = readPidFile(server.pidFile, server.config);
    return daemonsMentioning(server.config, pid === undefined ? [] : [pid]);
  };
  const sshdPidsNow = (): number[] => {
    const pid = readPidFile(sshd.pidFile, sshd.config);
    return withDescendants([
      ...processesMentioning(sshd.config),
      ...(pid === undefined ? [] : [pid]),
    ]);
  };
  const serverAlive = (): boolean => serverPidsNow().length > 0;
  const waitServer = (): Promise<void> =>
    waitForTls(plan.host, plan.tlsPort, plan.servername, readyTimeoutMs, serverAlive);

  const node: FleetNode = {
    ...plan,
    displayName: `${plan.host}:${plan.sshPort}`,
    config: server.config,
    check: server.check,
    reload: server.reload,
    pidFile: server.pidFile,
    errorLog: server.errorLog,
    adminSocket: server.adminSocket,
    sshdPidFile: sshd.pidFile,
    hostKey: sshd.hostKey,

    sh(cmd: string, opts: ShOptions = {}) {
      return runShell(cmd, { cwd: opts.cwd ?? plan.dir, timeoutMs: opts.timeoutMs, env: opts.env });
    },

    async startSshd() {
      await withLog(`${plan.name} sshd`, sshd.log, async () => {
        await startSshdDaemon(sshd, plan.dir);
        await waitForSsh(plan.host, plan.sshPort, readyTimeoutMs, () => sshdPidsNow().length > 0);
      });
    },

    async stopSshd(opts: { sessions?: boolean } = {}) {
      const listener = readPidFile(sshd.pidFile, sshd.config);
      // Only sshd processes: their shells end on the hang-up. Killing the shells outright can
      // leave lock files of login scripts behind (pyenv's shim lock), which stall later logins.
      const pids =
        opts.sessions === false
          ? listener === undefined
            ? []
            : [listener]
          : sshdPidsNow().filter((pid) => commandName(pid) === 'sshd');
      await killProcesses(pids);
    },

    async startServer() {
      await withLog(`${plan.name} ${plan.server} start`, server.errorLog, async () => {
        const res = await run(server.start.file, server.start.args, {
          cwd: plan.dir,
          timeoutMs: 15_000,
        });
        if (res.code !== 0) {
          throw new Error(`exit ${res.code}: ${(res.stderr + res.stdout).trim()}`);
        }
        await waitServer();
      });
    },

    async stopServer() {
      // Every generation (HAProxy's old processes linger after -sf), not only the pid file's.
      await killProcesses(serverPidsNow());
    },

    async reloadServer() {
      await withLog(`${plan.name} ${plan.server} reload`, server.errorLog, async () => {
        const before = new Set(serverPidsNow());
        const res = await runShell(server.reload, { cwd: plan.dir, timeoutMs: 30_000 });
        if (res.code !== 0) {
          throw new Error(
            `${server.reload} exited ${res.code}: ${(res.stderr + res.stdout).trim()}`,
          );
        }
        // A reload answers before it takes effect: wait for a process of the new generation.
        const renewed = (): boolean => serverPidsNow().some((p) => !before.has(p));
        if (server.reloadStartsProcesses !== false)
          await waitFor('a new server generation', readyTimeoutMs, renewed);
        await waitServer();
      });
    },

    async serverPids() {
      return serverPidsNow();
    },

    async sshdPids() {
      return sshdPidsNow();
    },
  };
  return node;
}

function commandName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

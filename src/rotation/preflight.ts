import pLimit from 'p-limit';
import type { NodeSpec, PoolSpec } from '../inventory/types.js';
import { openSession } from '../remote/ssh-session.js';
import { quoteShell } from '../remote/shell.js';
import type { SessionMap } from '../fleet/inspect-pools.js';
import { adapterFor } from '../servers/index.js';
import { isPrivateDirMode, readNodeState, stateFromReadOutput } from '../servers/node-state.js';
import { buildReadScript } from '../servers/read-script.js';
import type { NodeState } from '../servers/types.js';
import {
  describeHolder,
  lockThenScript,
  parseLockOutput,
  staleReason,
  type LockHolder,
} from './lock.js';

export interface PreflightOptions {
  concurrency: number;
  acceptNewHostKey: boolean;
  /** Take the pool lock first (not for a dry run). */
  lock: { holder: LockHolder; breakLock: boolean } | undefined;
  now: Date;
}

export interface PreflightResult {
  pool: PoolSpec;
  states: Map<NodeSpec, NodeState>;
  /** Nodes that stop the rotation, with the reason. */
  failures: { node: string; reason: string }[];
  /** Nodes whose lock another run holds. */
  locked: { node: string; holder: string }[];
  /** Nodes where this run holds the lock (to release, whatever happens). */
  lockedByUs: NodeSpec[];
  /** Nodes whose retire transaction released the lock (moved out of lockedByUs). */
  released: NodeSpec[];
  /** The holder this run writes into its lock files; undefined for a dry run. */
  lockHolder: LockHolder | undefined;
  warnings: string[];
  /** Stale locks this run broke, one line per node: told whatever the run's outcome. */
  brokeLocks: string[];
}

/**
 * Read-only check of every node before anything is written: connect (host key verified), take the
 * lock, read the ring, run the config test. One command per node: the read runs in the command
 * that takes the lock, once the lock is held.
 */
export async function preflightPool(
  pool: PoolSpec,
  sessions: SessionMap,
  opts: PreflightOptions,
): Promise<PreflightResult> {
  const adapter = adapterFor(pool.server);
  const limit = pLimit(opts.concurrency);
  const result: PreflightResult = {
    pool,
    states: new Map(),
    failures: [],
    locked: [],
    lockedByUs: [],
    released: [],
    lockHolder: opts.lock?.holder,
    warnings: [],
    brokeLocks: [],
  };
  // The first node's lock decides between two runs started together: the one that takes it
  // locks the other nodes, the other one stops there. Otherwise each could take some nodes and
  // both would give up.
  const first = pool.nodes[0];
  let openGate: (firstHeld: boolean) => void = () => undefined;
  const gate = new Promise<boolean>((resolve) => (openGate = resolve));
  await Promise.all(
    pool.nodes.map((node) =>
      limit(async () => {
        try {
          let session = sessions.get(node);
          if (!session) {
            session = await openSession(node, { acceptNewHostKey: opts.acceptNewHostKey });
            sessions.set(node, session);
          }
          let state: NodeState;
          if (opts.lock) {
            if (node !== first && (await gate)) return;
            const exec: Exec = (cmd) => session.exec(cmd, { timeoutMs: readTimeoutMs });
            const read = buildReadScript(adapter, node, { runCheck: true });
            const lock = await takeLock(exec, node, opts.lock, opts.now, read);
            if (node === first) openGate(lock.status === 'held');
            if (lock.status === 'held') {
              result.locked.push({ node: node.name, holder: lock.holder });
              return;
            }
            if (lock.status === 'nodir') {
              result.failures.push({
                node: node.name,
                reason: `key directory ${node.keyDir} does not exist`,
              });
              return;
            }
            if (lock.status === 'error') {
              // A directory that takes no file (read-only, full) would fail every write later.
              result.failures.push({ node: node.name, reason: lock.message });
              return;
            }
            result.lockedByUs.push(node);
            if (lock.broke) {
              result.warnings.push(`${node.name}: broke a stale lock ${lock.broke}`);
              result.brokeLocks.push(
                `pool ${pool.name}, ${node.name}: broke a stale lock ${lock.broke}`,
              );
            }
            state = stateFromReadOutput(adapter, node, lock.res);
          } else {
            state = await readNodeState(session, adapter, node, { runCheck: true });
          }
          result.states.set(node, state);
          for (const reason of fatalProblems(node, state))
            result.failures.push({ node: node.name, reason });
          for (const w of minorProblems(state)) result.warnings.push(`${node.name}: ${w}`);
        } catch (err) {
          result.failures.push({
            node: node.name,
            reason: err instanceof Error ? err.message : String(err),
          });
        } finally {
          if (node === first) openGate(false);
        }
      }),
    ),
  );
  return result;
}

type ExecResult = { stdout: string; stderr: string; code: number | null };
type Exec = (cmd: string) => Promise<ExecResult>;

/** As long as a read of the node state may take (readNodeState's default). */
const readTimeoutMs = 60_000;

/**
 * Takes the lock and reads the node in the same command (`read` runs only once the lock is
 * held). A held lock that may be broken takes a second command, which breaks it and reads.
 */
async function takeLock(
  exec: Exec,
  node: NodeSpec,
  lock: { holder: LockHolder; breakLock: boolean },
  now: Date,
  read: string,
): Promise<
  | { status: 'ok'; broke?: string; res: ExecResult }
  | { status: 'nodir' }
  | { status: 'error'; message: string }
  | { status: 'held'; holder: string }
> {
  const run = (breakSeen: string | undefined) =>
    exec(`sh -c ${quoteShell(lockThenScript(node, lock.holder, breakSeen, read))}`);
  const res = await run(undefined);
  const first = parseLockOutput(res.stdout);
  if (!first) throw new Error(`could not take the lock in ${node.keyDir}`);
  if (first.status === 'ok') return { status: 'ok', res };
  if (first.status !== 'held') return first;
  const why = lock.breakLock ? 'broken with --break-lock' : staleReason(first.holder, now);
  if (!why) return { status: 'held', holder: describeHolder(first.holder) };
  const again = await run(first.raw);
  const second = parseLockOutput(again.stdout);
  if (second?.status === 'ok') return { status: 'ok', broke: `(${why})`, res: again };
  if (second?.status === 'error') return second;
  return {
    status: 'held',
    holder: describeHolder(second?.status === 'held' ? second.holder : undefined),
  };
}

/** What stops a rotation on this node. A ring entry whose file is gone is drift to repair, not a stop. */
export function fatalProblems(node: NodeSpec, state: NodeState): string[] {
  const out: string[] = [];
  if (!state.keyDir.exists) {
    out.push(
      `key directory ${node.keyDir} does not exist (create it with: install -d -m 700 ${node.keyDir})`,
    );
    return out;
  }
  if (!isPrivateDirMode(state.keyDir.mode)) {
    out.push(
      `key directory ${node.keyDir} has mode ${state.keyDir.mode}; it must be 700 (chmod 700 ${node.keyDir})`,
    );
  }
  if (!state.managedFile.exists) {
    out.push(
      `${state.managedFile.path} does not exist; create it empty and include it in the server config`,
    );
  }
  if (state.included === false) {
    out.push(`the server config ${node.config} does not include ${state.managedFile.path}`);
  }
  for (const p of state.foreignKeys) {
    out.push(
      `the server config names ticket key ${p} outside ${state.managedFile.path}; move that line into it so that stekctl adopts the key`,
    );
  }
  if (state.runtimeKeys === 'unreadable') {
    out.push(
      `runtimeApi is set but HAProxy's keys cannot be read through ${node.runtimeApi ?? 'the stats socket'} (socat installed? \`stats socket ... level admin\` in ${node.config}?)`,
    );
  }
  const repairable = state.ring.some((e) => e.problem !== undefined);
  if (state.check && !state.check.ok && !repairable) {
    out.push(
      `config test \`${node.check}\` fails: ${lastLines(state.check.output) || 'it printed nothing'}`,
    );
  }
  return out;
}

/** Problems the rotation repairs or that do not stop it: shown as warnings. */
function minorProblems(state: NodeState): string[] {
  // Keys in HAProxy's memory that differ from the file: the node's next step sets them from the
  // file (or reloads), so the rotation repairs it; the operator should still know.
  return state.problems.filter(
    (p) =>
      p.startsWith('key file') ||
      p.startsWith('refers to') ||
      p.startsWith("HAProxy's keys in memory"),
  );
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-2).join(' / ');
}

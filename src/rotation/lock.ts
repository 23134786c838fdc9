import { readFileSync, readlinkSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import type { NodeSpec } from '../inventory/types.js';
import { quoteShell } from '../remote/shell.js';
import { takeDirLock } from '../servers/dir-flock.js';
import { parseLockRecord } from '../servers/node-state.js';
import type { NodeState, RecordedLock } from '../servers/types.js';
import { printable } from '../servers/printable.js';

/** What a lock file on a node says about the run that holds it. */
export interface LockHolder {
  runId: string;
  host: string;
  pid: number;
  user: string;
  started: string;
  expires: string;
  /**
   * Which kernel boot and process namespace `pid` belongs to: two machines (or containers
   * sharing the host's network) may have the same host name, and a pid seen from one says
   * nothing about the other. Empty where /proc does not tell.
   */
  machine: string;
}

/** Lock lifetime beyond the overlap: long enough for any real run, short enough to recover. */
export const lockSlackMs = 30 * 60_000;

export function newLockHolder(runId: string, ttlMs: number, now: Date): LockHolder {
  return {
    runId,
    host: hostname(),
    pid: process.pid,
    user: safeUser(),
    started: now.toISOString(),
    expires: new Date(now.getTime() + ttlMs).toISOString(),
    machine: thisMachine(),
  };
}

let machine: string | undefined;

/** This process's kernel boot and pid namespace (Linux), or '' where /proc has neither. */
export function thisMachine(): string {
  if (machine === undefined) {
    try {
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      machine = `${boot} ${readlinkSync('/proc/self/ns/pid')}`;
    } catch {
      machine = '';
    }
  }
  return machine;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/**
 * Shell that takes the pool lock on a node: `<keyDir>/stekctl.lock`, put in place with a hard
 * link of a fully written file (link(2) fails if the name exists), so two runs from anywhere never
 * both get it, and a lock file is never seen half-written. Prints LOCK|ok, LOCK|held|<base64>, or
 * LOCK|error|<base64 message> when the directory takes no file (read-only, full): that is no
 * other run's lock, and must not be reported as one.
 */
export function acquireLockScript(
  node: NodeSpec,
  holder: LockHolder,
  breakSeen: string | undefined,
): string {
  return lockLines(node, holder, breakSeen, { ok: 'exit 0', no: 'exit 0' });
}

/**
 * One command that takes the lock and, only once it holds it, goes on with `next` (the read):
 * prints the lock's LOCK| line first, then what `next` prints. A node whose lock is held, or
 * whose directory takes no lock, runs nothing else. The lock is taken by a function of this
 * shell (not a subshell: a process fewer), which returns instead of exiting; the shell then goes
 * back to the directory it started in.
 */
export function lockThenScript(
  node: NodeSpec,
  holder: LockHolder,
  breakSeen: string | undefined,
  next: string,
): string {
  return [
    'stek_take_lock() {',
    lockLines(node, holder, breakSeen, { ok: 'return 0', no: 'return 1' }),
    '}',
    'stek_pwd=$PWD',
    'stek_take_lock || exit 0',
    'cd "$stek_pwd" 2>/dev/null || cd /',
    next,
  ].join('\n');
}

/** How long breaking a stale lock waits for a transaction still running in the directory. */
const breakWaitSeconds = 30;

function lockLines(
  node: NodeSpec,
  holder: LockHolder,
  breakSeen: string | undefined,
  end: { ok: string; no: string },
): string {
  const d = quoteShell(node.keyDir);
  const lines = [`cd ${d} 2>/dev/null || { echo "LOCK|nodir"; ${end.no}; }`];
  if (breakSeen !== undefined) {
    // Break only the lock we judged stale: if another run replaced it meanwhile, leave it. Two
    // runs breaking the same stale lock must not both win (the second's rm taking the first's
    // new lock): the check, the rm and the ln below hold the key directory's flock, which the
    // node-side transactions hold too, so an orphaned transaction of the stale run is waited for.
    end = { ok: `exec 8<&-; ${end.ok}`, no: `exec 8<&-; ${end.no}` };
    lines.push(
      'exec 8<.',
      `if ! ${takeDirLock(8, breakWaitSeconds)}; then echo "LOCK|held|$(base64 -w0 < stekctl.lock 2>/dev/null)"; ${end.no}; fi`,
      `[ "$(base64 -w0 < stekctl.lock 2>/dev/null)" = ${quoteShell(breakSeen)} ] && rm -f stekctl.lock`,
    );
  }
  const text = `${JSON.stringify(holder)}\n`;
  const write = `printf %s ${quoteShell(text)} > "$t"`;
  lines.push(
    't=.stekctl-lock.$$',
    // Written by the shell itself; only a write that failed runs again, to capture its message.
    'umask 077',
    `{ ${write}; } 2>/dev/null`,
    // Read back with the shell's read: a short write (full disk) leaves a different line.
    `stek_w=; IFS= read -r stek_w < "$t" 2>/dev/null; if [ "$stek_w" != ${quoteShell(text.trimEnd())} ]; then err=$( { ${write}; } 2>&1 ); rm -f "$t"; ` +
      `echo "LOCK|error|$(printf 'cannot write the lock file in %s (read-only or full?): %s' "$PWD" "\${err:-short write}" | base64 -w0)"; ${end.no}; fi`,
    `if ln "$t" stekctl.lock 2>/dev/null; then rm -f "$t"; echo "LOCK|ok"; ${end.ok}; fi`,
    'rm -f "$t"',
    `if [ -f stekctl.lock ]; then echo "LOCK|held|$(base64 -w0 < stekctl.lock 2>/dev/null)"; ` +
      `else echo "LOCK|error|$(printf 'cannot create the lock file in %s' "$PWD" | base64 -w0)"; fi`,
    end.no,
  );
  return lines.join('\n');
}

/**
 * Shell run in the key directory that sets `stek_rl` to the lock file's name where `runId` holds
 * the lock (empty elsewhere): a transaction's last rm then removes it with its own files.
 */
export function heldLockScript(runId: string): string {
  // The lock is one line of JSON: the shell's read and case stand in for a grep process.
  return `stek_rl=; stek_l=; { IFS= read -r stek_l < stekctl.lock; } 2>/dev/null; case "$stek_l" in *${quoteShell(`"runId":"${runId}"`)}*) stek_rl=stekctl.lock;; esac`;
}

export function releaseLockScript(node: NodeSpec, runId: string): string {
  return `cd ${quoteShell(node.keyDir)} 2>/dev/null && { ${heldLockScript(runId)}; [ -z "$stek_rl" ] || rm -f "$stek_rl"; }; echo "UNLOCK|ok"`;
}

export type LockResult =
  | { status: 'ok' }
  | { status: 'nodir' }
  | { status: 'error'; message: string }
  | { status: 'held'; raw: string; holder: LockHolder | undefined };

export function parseLockOutput(stdout: string): LockResult | undefined {
  const line = stdout.split('\n').find((l) => l.startsWith('LOCK|'));
  if (!line) return undefined;
  const [, status, raw] = line.split('|');
  if (status === 'ok') return { status: 'ok' };
  if (status === 'nodir') return { status: 'nodir' };
  if (status === 'error') {
    const message = printable(
      Buffer.from(raw ?? '', 'base64')
        .toString('utf8')
        .trim(),
    );
    return { status: 'error', message: message || 'cannot create the lock file' };
  }
  const text = Buffer.from(raw ?? '', 'base64').toString('utf8');
  // Its fields end up in messages: taken as printable text, whatever the file holds.
  const recorded = parseLockRecord(text);
  return { status: 'held', raw: raw ?? '', holder: recorded && holderOf(recorded) };
}

/** A lock file's record as a holder; a pid it lacks matches no process. */
export function holderOf(recorded: RecordedLock): LockHolder {
  return { ...recorded, pid: recorded.pid ?? Number.NaN };
}

/**
 * Whether a held lock may be broken, and why: its process is gone from this very machine (same
 * host name, boot and pid namespace), or it has expired. A lock file that cannot be read holds
 * until `--break-lock`: stekctl writes its locks whole, so such a file was put there by hand.
 */
export function staleReason(holder: LockHolder | undefined, now: Date): string | undefined {
  if (!holder) return undefined;
  if (holderGone(holder)) {
    return `left by process ${holder.pid} on this machine, which is no longer running`;
  }
  if (Date.parse(holder.expires) < now.getTime()) {
    return `left by ${holder.user}@${holder.host} (pid ${holder.pid}) and expired at ${holder.expires}`;
  }
  return undefined;
}

/** Whether the holder's process ran on this very machine and is no longer running. */
export function holderGone(holder: LockHolder): boolean {
  const here = holder.host === hostname() && holder.machine === thisMachine();
  return here && !processAlive(holder.pid);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function describeHolder(holder: LockHolder | undefined): string {
  return holder
    ? `${holder.user}@${holder.host} (pid ${holder.pid}, since ${holder.started}, until ${holder.expires})`
    : 'an unknown run';
}

/**
 * A dry run takes no lock, but reads it: what the real run would find there. Undefined when no
 * node of the pool holds one.
 */
export function dryRunLockWarning(states: Iterable<NodeState>, now: Date): string | undefined {
  const lock = [...states].find((st) => st.lock)?.lock;
  if (!lock) return undefined;
  const holder = holderOf(lock);
  const stale = staleReason(holder, now);
  if (stale) return `the pool's lock is stale (${stale}): the real run would break it`;
  const who = lock.runId ? describeHolder(holder) : 'a lock file stekctl cannot read';
  return `the pool is locked by ${who}: the real run would exit 4 until that lock is gone`;
}

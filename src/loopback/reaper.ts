import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killProcesses, killProcessesSync, processesUnder, readProcess } from './procs.js';

export const fleetPrefix = 'stekctl-fleet-';
export const scratchPrefix = 'stekctl-run-';
const ownerFile = 'owner';
/** A directory without an owner file younger than this may be a fleet being created right now. */
const unownedGraceMs = 60_000;

/** The parent of every fleet directory; the inventory accepts only plain path characters. */
export function fleetRoot(): string {
  const dir = tmpdir();
  return /^\/[A-Za-z0-9._/-]*$/.test(dir) ? dir : '/tmp';
}

/** Records this process (pid and start time, so a reused pid does not count) as the owner. */
export function writeOwner(dir: string): void {
  const me = readProcess(process.pid);
  writeFileSync(join(dir, ownerFile), `${process.pid} ${me?.startTime ?? ''}\n`);
}

function ownerAlive(dir: string): boolean {
  let text: string;
  try {
    text = readFileSync(join(dir, ownerFile), 'utf8');
  } catch {
    try {
      return Date.now() - statSync(dir).mtimeMs < unownedGraceMs;
    } catch {
      return false;
    }
  }
  const [pid, startTime] = text.trim().split(' ');
  const info = readProcess(Number(pid));
  return (
    info !== undefined && info.state !== 'Z' && (startTime === '' || info.startTime === startTime)
  );
}

export function listFleetDirs(): string[] {
  const root = fleetRoot();
  try {
    return readdirSync(root)
      .filter((n) => n.startsWith(fleetPrefix))
      .map((n) => join(root, n));
  } catch {
    return [];
  }
}

/** Subnets (`A.B`) claimed by fleets whose owner still runs. */
export function claimedSubnets(): Set<string> {
  const out = new Set<string>();
  for (const dir of listFleetDirs()) {
    if (!ownerAlive(dir)) continue;
    try {
      out.add(readFileSync(join(dir, 'subnet'), 'utf8').trim());
    } catch {
      // Not claimed yet.
    }
  }
  return out;
}

/**
 * Kills the processes of fleet directories whose owner process is gone and removes the
 * directories. Returns the directories it removed.
 */
export async function reapStaleFleets(): Promise<string[]> {
  const reaped: string[] = [];
  removeOldScratch();
  for (const dir of listFleetDirs()) {
    if (ownerAlive(dir)) continue;
    await killProcesses(processesUnder(dir));
    await rm(dir, { recursive: true, force: true });
    reaped.push(dir);
  }
  return reaped;
}

/** Output files of commands whose runner died mid-command; nothing runs for an hour. */
function removeOldScratch(): void {
  const root = fleetRoot();
  try {
    for (const name of readdirSync(root)) {
      if (!name.startsWith(scratchPrefix)) continue;
      const dir = join(root, name);
      if (Date.now() - statSync(dir).mtimeMs > 3_600_000)
        rmSync(dir, { recursive: true, force: true });
    }
  } catch {
    // Best effort: a scratch directory is a few bytes.
  }
}

/** Fleets of this process that are not stopped yet, for the last-chance cleanup. */
const live = new Map<string, () => number[]>();
let handlersInstalled = false;

function cleanupAllSync(): void {
  for (const [dir, knownPids] of live) {
    try {
      killProcessesSync([...new Set([...knownPids(), ...processesUnder(dir)])]);
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Exit paths must not throw; the next reapStaleFleets() gets what is left.
    }
  }
  live.clear();
}

function onSignal(sig: NodeJS.Signals): void {
  cleanupAllSync();
  // When nobody else listens, the default action (exit) is what the sender expected: re-raise.
  if (process.listenerCount(sig) === 1) {
    process.removeListener(sig, onSignal);
    process.kill(process.pid, sig);
  }
}

/** Registers a fleet so that an exit or a fatal signal of this process still tears it down. */
export function registerLive(dir: string, knownPids: () => number[]): void {
  live.set(dir, knownPids);
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
}

export function unregisterLive(dir: string): void {
  live.delete(dir);
}

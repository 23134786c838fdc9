import type { NodeSpec } from '../inventory/types.js';
import type { RemoteSession } from '../remote/ssh-session.js';
import { OperationError } from '../errors.js';
import { parseReadOutput } from './parse-state.js';
import { buildReadScript } from './read-script.js';
import { parseManifest } from './ring-entries.js';
import { printable } from './printable.js';
import type { NodeState, RawNodeState, RecordedLock, ServerAdapter } from './types.js';

/** Reads a node's key state with one read-only command. */
export async function readNodeState(
  session: RemoteSession,
  adapter: ServerAdapter,
  node: NodeSpec,
  opts: { runCheck: boolean; timeoutMs?: number },
): Promise<NodeState> {
  const script = buildReadScript(adapter, node, opts);
  const res = await session.exec(`sh -c ${quoteForSh(script)}`, {
    timeoutMs: opts.timeoutMs ?? 60_000,
  });
  return stateFromReadOutput(adapter, node, res);
}

/** The state from what the read script printed (alone, or after other records such as LOCK|). */
export function stateFromReadOutput(
  adapter: ServerAdapter,
  node: NodeSpec,
  res: { stdout: string; stderr: string; code: number | null },
): NodeState {
  const raw = parseReadOutput(res.stdout);
  if (!raw.complete) {
    const why = res.stderr.trim().split('\n').slice(-3).join(' ') || `exit code ${res.code}`;
    throw new OperationError(`could not read the key state of ${node.name}: ${why}`);
  }
  // The state is kept for the whole run. Its strings are cut from the output (key ids, file
  // names), and V8 keeps a substring's whole source alive: a copy holds its own strings, so
  // that 10,000 nodes do not keep 10,000 outputs.
  return structuredClone(interpretState(adapter, node, raw, Date.now() / 1000));
}

function quoteForSh(script: string): string {
  return `'${script.replaceAll("'", `'\\''`)}'`;
}

/** Turns raw records into the ring and the problems an operator must know about. Pure. */
export function interpretState(
  adapter: ServerAdapter,
  node: NodeSpec,
  raw: RawNodeState,
  nowSeconds: number,
): NodeState {
  const problems: string[] = [];
  const managedPath = `${node.keyDir}/${adapter.managedFileName}`;
  const managed = raw.files.find((f) => f.file === adapter.managedFileName);
  if (!raw.dir.exists) problems.push(`key directory ${node.keyDir} does not exist`);
  else if (!isPrivateDirMode(raw.dir.mode))
    problems.push(`key directory ${node.keyDir} has mode ${raw.dir.mode}, expected 700`);
  if (raw.dir.exists && !managed) problems.push(`${managedPath} does not exist`);
  if (raw.included === false)
    problems.push(`the server config (${node.config}) does not include ${managedPath}`);
  for (const f of raw.files) {
    if (f.keyId !== undefined && f.mode !== '600')
      problems.push(`key file ${node.keyDir}/${f.file} has mode ${f.mode}, expected 600`);
  }
  const ring = adapter.deriveRing(raw, node, nowSeconds);
  for (const e of ring) if (e.problem) problems.push(e.problem);
  for (const p of raw.foreignKeys)
    problems.push(`the server config names ticket key ${p} outside ${managedPath}`);
  if (raw.check && !raw.check.ok)
    problems.push(`config test failed: ${lastLine(raw.check.output) || 'it printed nothing'}`);
  const memoryProblem = runtimeKeysProblem(node, raw);
  if (memoryProblem) problems.push(memoryProblem);
  return {
    keyDir: { exists: raw.dir.exists, mode: raw.dir.mode, owner: raw.dir.owner },
    managedFile: { path: managedPath, exists: managed !== undefined, mode: managed?.mode },
    files: raw.files,
    ring,
    manifest: parseManifest(raw.manifestText),
    included: raw.included,
    foreignKeys: raw.foreignKeys,
    check: raw.check,
    ticketLifetime: raw.ticketLifetime,
    ...(raw.pidFile !== undefined ? { pidFile: raw.pidFile } : {}),
    ...(raw.runtimeKeys ? { runtimeKeys: raw.runtimeKeys } : {}),
    ...(raw.lockText !== undefined ? { lock: parseLockText(raw.lockText) } : {}),
    problems,
  };
}

/**
 * HAProxy with runtimeApi: the running process must hold the keys of the file's last three
 * lines, or what the ring says is not what the node does (someone set keys by hand, or edited
 * the file without a reload).
 */
/**
 * Whether a key directory's mode (stat's %a, octal) lets only its owner in. The setgid and
 * sticky bits give nobody access (GNU `chmod 700` even keeps a directory's setgid bit), so
 * 2700 passes as 700 does.
 */
export function isPrivateDirMode(mode: string | undefined): boolean {
  return mode !== undefined && /^[0-7]+$/.test(mode) && (parseInt(mode, 8) & 0o777) === 0o700;
}

function runtimeKeysProblem(node: NodeSpec, raw: RawNodeState): string | undefined {
  if (!raw.runtimeKeys) return undefined;
  if (raw.runtimeKeys === 'unreadable')
    return `cannot read HAProxy's keys in memory through ${node.runtimeApi ?? 'the stats socket'} (socat installed? stats socket ... level admin?)`;
  const file = (raw.keyLines ?? []).slice(-3).map((l) => l.keyId ?? '?');
  if (raw.runtimeKeys.join() === file.join()) return undefined;
  const short = (ids: string[]): string => ids.map((id) => id.slice(0, 12)).join(', ');
  return `HAProxy's keys in memory [${short(raw.runtimeKeys)}] differ from the last three lines of ${node.keyDir}/tickets.keys [${short(file)}]; a reload loads the file`;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

/**
 * The lock file as its run wrote it (stekctl's JSON). Another text there is still a lock, which
 * keeps every run out: it is reported with empty fields rather than dropped.
 */
export function parseLockText(text: string): RecordedLock {
  return parseLockRecord(text) ?? parseLockRecord('{}')!;
}

/**
 * The lock file's fields as printable text, whatever the file holds; undefined when it is not
 * JSON at all.
 */
export function parseLockRecord(text: string): RecordedLock | undefined {
  let j: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object') j = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const str = (k: string): string =>
    typeof j[k] === 'string' ? printable(j[k]).slice(0, 200) : '';
  return {
    runId: str('runId'),
    host: str('host'),
    pid: typeof j.pid === 'number' && Number.isInteger(j.pid) ? j.pid : undefined,
    user: str('user'),
    started: str('started'),
    expires: str('expires'),
    machine: str('machine'),
  };
}

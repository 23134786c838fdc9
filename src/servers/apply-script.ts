import type { NodeSpec } from '../inventory/types.js';
import { quoteShell } from '../remote/shell.js';
import {
  parseRuntimeDetail,
  runtimeApiLines,
  runtimeApiSetupLines,
  type RuntimeApiResult,
} from './haproxy-runtime.js';
import {
  adoptLines,
  assertSafeName,
  leftovers,
  lockWaitSeconds,
  ownFiles,
  restoreLines,
  writeLines,
} from './apply-writes.js';
import { takeDirLock } from './dir-flock.js';
import { printable } from './printable.js';
import type { ConfigDump, ServerAdapter } from './types.js';

/** How the managed file is written: literal text, or HAProxy's base64 lines of key files. */
export type ManagedContent =
  { kind: 'text'; text: string } | { kind: 'base64-lines'; files: string[] };

/**
 * One node-side transaction: everything a phase does on a node, in one command. Key bytes travel
 * on stdin (one base64 line per new key, in order) and never appear in the command line.
 */
export interface ApplySpec {
  /** New key files (basenames in keyDir) and their sizes, in the order of the stdin lines. */
  newKeys: { file: string; size: number }[];
  /** HAProxy: copy each key line of an existing tickets.keys into `<id>.key` before composing. */
  adoptKeyLines: boolean;
  /** The new managed file; undefined leaves it as it is. */
  managed: ManagedContent | undefined;
  /** stekctl.json, written with the managed file and restored with it. */
  manifest: string | undefined;
  check: boolean;
  reload: boolean;
  /** Basenames in keyDir removed once everything else succeeded. */
  deleteFiles: string[];
  /** How long to wait for the server to show a new generation of processes after a reload. */
  generationWaitMs: number;
  /**
   * The pid file as the node's read found it in the config ('' for none: the server's default),
   * so that the transaction need not look for it in its own dump; undefined: look.
   */
  pidFile?: string | undefined;
  /**
   * Shell run in keyDir once everything else succeeded, setting `stek_rl` to the pool lock's
   * file where this run holds it: the last rm removes it, and the transaction prints
   * `UNLOCK|ok`. The lock is released by the node's last command of the run instead of one more.
   */
  releaseLock?: string | undefined;
}

export type ApplyOutcome =
  | {
      ok: true;
      generationChanged: boolean | undefined;
      /** The old generation no longer accepts connections (ServerAdapter.drainedScript). */
      oldGenerationStopped?: boolean;
      detail: string;
      /** HAProxy with runtimeApi: whether the keys went in through the stats socket or a reload. */
      runtimeApi?: RuntimeApiResult;
      /**
       * Ms since the epoch when the reload command was issued: the node's clock where the node
       * printed it, else when its line reached stekctl.
       */
      reloadAt: number | undefined;
      /** The transaction released the pool lock (ApplySpec.releaseLock). */
      lockReleased?: boolean;
    }
  | {
      ok: false;
      step: 'setup' | 'write' | 'check' | 'reload' | 'not-taken' | 'runtime-api';
      message: string;
      /** Whether the node was put back as it was before the transaction. */
      restored: boolean;
    };

/** The line printed just before the reload command runs. */
export const reloadMark = 'RELOAD|';

export function buildApplyScript(adapter: ServerAdapter, node: NodeSpec, spec: ApplySpec): string {
  const managed = adapter.managedFileName;
  for (const n of [...spec.newKeys.map((k) => k.file), ...spec.deleteFiles, managed])
    assertSafeName(n);
  const dump = adapter.configDump?.(node);
  const L: string[] = [
    "trap '' HUP PIPE",
    'export LC_ALL=C PATH="$PATH:/usr/sbin:/sbin"',
    'umask 077',
    `d=${quoteShell(node.keyDir)}`,
    `m=${quoteShell(managed)}`,
    'say() { printf "%s|%s\\n" "$1" "$(printf %s "$2" | tail -c 3000 | base64 -w0)"; }',
    'keyname() { head -c 16 | od -An -tx1 -v | tr -d " \\n"; }',
    // In this shell, not in a subshell: the snippet sets stek_gen, and keeps what it found once
    // (the pid file) in stek_ variables for the next poll.
    `gen() { stek_gen=; { ${adapter.generationScript(node)}\n} 2>/dev/null; }`,
    'new=""',
    ...restoreLines(),
    'fail() { restore; say "FAIL-$1" "$2"; say RESTORED yes; exit 0; }',
    '[ -d "$d" ] && cd "$d" || { say FAIL-setup "key directory $d does not exist or cannot be entered"; say RESTORED yes; exit 0; }',
    // One transaction at a time per node: after a dropped connection the previous one may still
    // run (it ignores HUP), and the next run must not interleave with it. The lock is on the key
    // directory itself; check and reload run without the descriptor, so no daemon inherits it.
    'exec 9<.',
    `if ! ${takeDirLock(9, lockWaitSeconds)}; then say FAIL-setup "another stekctl transaction still runs in $d"; say RESTORED yes; exit 0; fi`,
    `for f in ${leftovers}; do if [ -e "$f" ] || [ -L "$f" ]; then rm -rf -- ${leftovers}; break; fi; done`,
  ];
  // HAProxy with a runtime API: the socket is checked before anything is written.
  const runtimeApi = spec.reload && adapter.kind === 'haproxy' ? node.runtimeApi : undefined;
  if (runtimeApi) L.push(...runtimeApiSetupLines(node, runtimeApi));
  if (spec.adoptKeyLines) L.push(...adoptLines());
  L.push(...writeLines(spec, managed));
  if (spec.check) L.push(...checkLines(node, dump));
  if (spec.reload) {
    const waitTenths = Math.max(1, Math.ceil(spec.generationWaitMs / 100));
    if (runtimeApi) L.push(...runtimeApiLines(node, waitTenths));
    L.push(
      'if [ "${stek_via:-}" != runtime-api ]; then',
      ...(spec.pidFile === undefined
        ? pidFileLines(adapter, node, dump)
        : spec.pidFile === ''
          ? []
          : [`stek_pf=${quoteShell(spec.pidFile)}`]),
      'gen; g0=$stek_gen',
      // Stamped as it arrives (ExecOptions.markAt): a `date` here would cost a process.
      `echo "${reloadMark}"`,
      `out=$( ( ${node.reload} ) 2>&1 9<&- ) || { stek_rc=$?; restore; ( ${node.reload} ) >/dev/null 2>&1 9<&-; say FAIL-reload "\${out:-${silentExit}}"; say RESTORED yes; exit 0; }`,
      'changed=unknown',
      'if [ -n "$g0" ]; then',
      '  changed=no; i=0',
      // Where the old generation is seen to stop (drainLines), the first nap also covers the
      // server's drain delay: the new generation and the drained old one are then usually seen
      // together after one sleep instead of two.
      `  nap=${firstGenerationNap(adapter)}`,
      `  while [ $i -lt ${waitTenths} ]; do gen; g=$stek_gen; if [ -n "$g" ] && [ "$g" != "$g0" ]; then changed=yes; break; fi; sleep $nap; nap=0.1; i=$((i+1)); done`,
      'fi',
      'if [ "$changed" = no ]; then',
      '  restore',
      `  ( ${node.reload} ) >/dev/null 2>&1 9<&-`,
      '  say FAIL-not-taken "the server did not load the new configuration (no new generation of processes after the reload)"',
      '  say RESTORED yes; exit 0',
      'fi',
      ...drainLines(adapter, node),
      'fi',
    );
  }
  // One rm for the retired files, the transaction's own files and the pool lock it releases.
  if (spec.releaseLock) L.push(spec.releaseLock);
  const lock = spec.releaseLock ? ' $stek_rl' : '';
  L.push(`rm -rf -- ${ownFiles}${lock} ${spec.deleteFiles.join(' ')}`.trimEnd());
  if (spec.releaseLock) L.push('echo "UNLOCK|ok"');
  const verdict = 'generation:${changed:-none} drained:${drained:-unknown}';
  // The verdict's words come from this script alone and need no encoding (DONE is OK in plain
  // text); the runtime API's detail quotes the server and goes through say.
  L.push(runtimeApi ? `say OK "${verdict} $stek_rt"` : `echo "DONE|${verdict}"`);
  return L.join('\n') + '\n';
}

/** Reads the records the apply script printed. A missing verdict means the command was cut. */
export function parseApplyOutput(
  stdout: string,
  stderr: string,
  code: number | null,
  /** When the reload line arrived (orchestrator clock), for a RELOAD line without a time. */
  markedAt?: number,
): ApplyOutcome {
  let outcome: ApplyOutcome | undefined;
  let restored = false;
  let reloadAt: number | undefined;
  let lockReleased = false;
  for (const line of stdout.split('\n')) {
    const bar = line.indexOf('|');
    if (bar < 0) continue;
    const tag = line.slice(0, bar);
    if (tag === 'UNLOCK') {
      lockReleased = line.slice(bar + 1) === 'ok';
      continue;
    }
    if (tag === 'RELOAD') {
      reloadAt = Number(line.slice(bar + 1)) || markedAt;
      continue;
    }
    const field = line.slice(bar + 1);
    const text = printable(
      (tag === 'DONE' ? field : Buffer.from(field, 'base64').toString('utf8')).trim(),
    );
    if (tag === 'OK' || tag === 'DONE') {
      const g = /generation:(\w+)/.exec(text)?.[1];
      const drained = /drained:(\w+)/.exec(text)?.[1];
      const runtimeApi = parseRuntimeDetail(text);
      outcome = {
        ok: true,
        generationChanged: g === 'yes' ? true : g === 'no' ? false : undefined,
        ...(drained === 'yes' ? { oldGenerationStopped: true } : {}),
        detail: text,
        reloadAt: undefined,
        ...(runtimeApi ? { runtimeApi } : {}),
      };
    } else if (tag.startsWith('FAIL-')) {
      const step = tag.slice(5) as Exclude<ApplyOutcome, { ok: true }>['step'];
      outcome = { ok: false, step, message: text, restored: false };
    } else if (tag === 'RESTORED') {
      restored = text === 'yes';
    }
  }
  if (outcome && !outcome.ok) return { ...outcome, restored };
  if (outcome) return { ...outcome, reloadAt, ...(lockReleased ? { lockReleased } : {}) };
  const why = stderr.trim().split('\n').slice(-2).join(' ') || `exit code ${code}`;
  return {
    ok: false,
    step: 'setup',
    message: `the node-side command did not finish: ${why}`,
    restored: false,
  };
}

/**
 * The config test. When the server's config dump is the same test (nginx -T for nginx -t), the
 * dump is taken instead, into .stekctl-dump in the key directory, so that the pid file is read
 * from it without dumping the config a second time.
 */
/** What a failed check or reload that printed nothing is reported as: its exit status at least. */
const silentExit = 'exited $stek_rc and printed nothing';

function checkLines(node: NodeSpec, dump: ConfigDump | undefined): string[] {
  const plain = `out=$( ( ${node.check} ) 2>&1 9<&- ) || { stek_rc=$?; fail check "\${out:-${silentExit}}"; }`;
  if (!dump?.isCheck) return [plain];
  // The dump goes to the key directory, which this transaction holds (flock) and cleans up
  // (restore, the last rm, the next transaction's first rm): no temporary directory to make.
  return [
    'if : > .stekctl-dump 2>/dev/null; then',
    `  out=$( ( ${dump.command} ) 2>&1 > .stekctl-dump 9<&- ) || { stek_rc=$?; fail check "\${out:-${silentExit}}"; }`,
    `else rm -f .stekctl-dump; ${plain}; fi`,
  ];
}

/** Finds the pid file once, in this shell, so that the polls of gen() do not look for it again. */
function pidFileLines(
  adapter: ServerAdapter,
  node: NodeSpec,
  dump: ConfigDump | undefined,
): string[] {
  const pid = adapter.pidFileScript?.(node);
  if (!pid || !dump) return [];
  const taken = `stek_pf=$( ( ${pid} ) < .stekctl-dump 2>/dev/null )`;
  const fresh = `stek_pf=$( ( ${dump.command} ) 2>/dev/null 9<&- | ( ${pid} ) 2>/dev/null )`;
  return [`if [ -s .stekctl-dump ]; then ${taken}; else ${fresh}; fi`];
}

function firstGenerationNap(adapter: ServerAdapter): string {
  if (!adapter.drainedScript) return '0.1';
  return ((100 + drainDelayMs(adapter)) / 1000).toFixed(2);
}

/** ServerAdapter.drainDelayMs, 20 ms where the adapter does not say. */
function drainDelayMs(adapter: ServerAdapter): number {
  return adapter.drainDelayMs ?? 20;
}

/**
 * After a reload that showed a new generation: waits (briefly) until no process of the old one
 * still accepts connections, where the server lets that be seen. Without this, the handshakes
 * that confirm the reload have to leave the old generation time to stop (nginx keeps its old
 * workers accepting for about 100 ms after the new ones start).
 */
function drainLines(adapter: ServerAdapter, node: NodeSpec): string[] {
  const drainedScript = adapter.drainedScript?.(node);
  if (!drainedScript) return [];
  const firstNap = (drainDelayMs(adapter) / 1000).toFixed(2);
  return [
    `drained_now() { ${drainedScript}
}`,
    'if [ "$changed" = yes ]; then',
    `  drained=no; i=0; nap=${firstNap}`,
    '  while [ $i -lt 50 ]; do if drained_now 2>/dev/null; then drained=yes; break; fi; sleep $nap; nap=0.02; i=$((i+1)); done',
    'fi',
  ];
}

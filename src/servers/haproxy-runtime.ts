import type { NodeSpec } from '../inventory/types.js';
import { quoteShell } from '../remote/shell.js';
import { lastThreeNamesAwk, runtimeNamesAwk } from './base64-key-lines.js';

/*
 * HAProxy's runtime API (the stats socket) changes the ticket keys of a running process without a
 * reload. HAProxy 2.6 keeps three keys per `tls-ticket-keys` file in memory, in the file's order:
 * previous, current (encrypts), next. `set ssl tls-key <file> <base64>` shifts them:
 * [p, c, n] -> [c, n, NEW], so the old next key encrypts from then on. `show tls-keys <file>` lists
 * the three in the same order. Neither touches the file: the transaction always writes the file
 * first, so that a later reload loads the same keys.
 */

/** How many `set ssl tls-key` commands bring the ring in memory to the target (both in file order). */
export function setsNeeded(memory: readonly string[], target: readonly string[]): 0 | 1 | 2 | 3 {
  const [, m1, m2] = memory;
  const [t0, t1] = target;
  if (memory.length === 3 && memory.join() === target.join()) return 0;
  if (m1 === t0 && m2 === t1) return 1;
  if (m2 === t0) return 2;
  return 3;
}

/**
 * The keys the node encrypts with between the first and the last `set`: each set makes the old
 * next key the current one, so after the first set the node encrypts with memory's next key, and
 * (three sets) after the second with the target's first key.
 */
export function transitKeys(memory: readonly string[], target: readonly string[]): string[] {
  const k = setsNeeded(memory, target);
  const m2 = memory[2];
  const t0 = target[0];
  if (k === 2) return m2 === undefined ? [] : [m2];
  if (k === 3) return [m2, t0].filter((id): id is string => id !== undefined);
  return [];
}

/**
 * Whether shifting keys in one by one keeps the pool's promise that no node encrypts with a key a
 * peer cannot decrypt. A phase gives every node the same ring before and the same ring after (a
 * drifted node aside), and peers switch at their own moment, so a key this node encrypts with for
 * a moment must be one every peer holds throughout: in the ring before and in the ring after.
 * Each peer's own intermediate rings are windows of the same sequence and hold such a key too. A
 * key only one of the two rings holds (a staged key being dropped, an old key being retired) could
 * be missing on a peer that is already past it, or not yet there: such a step takes a reload,
 * which goes from the old ring to the new one in one move.
 */
export function transitIsSafe(memory: readonly string[], target: readonly string[]): boolean {
  return transitKeys(memory, target).every((id) => memory.includes(id) && target.includes(id));
}

/** What a node reports about the runtime API in a transaction that succeeded. */
export type RuntimeApiResult =
  { via: 'runtime-api'; sets: number } | { via: 'reload'; reason: string };

/** The reference `show tls-keys` lists for the managed file: its path as the config names it. */
export function runtimeKeysRef(node: NodeSpec): string {
  return `${node.keyDir}/tickets.keys`;
}

/** Reads what the OK record says about the runtime API (see runtimeApiLines). */
export function parseRuntimeDetail(detail: string): RuntimeApiResult | undefined {
  const sets = /runtime-api:sets=(\d)/.exec(detail)?.[1];
  if (sets !== undefined) return { via: 'runtime-api', sets: Number(sets) };
  const reason = /runtime-api:reload (.*)$/.exec(detail)?.[1];
  if (reason !== undefined) return { via: 'reload', reason };
  return undefined;
}

/**
 * Shell functions and checks run before the transaction writes anything: a node without socat or
 * without a working socket fails here, untouched. Needs `say` of the apply script.
 */
export function runtimeApiSetupLines(node: NodeSpec, socket: string): string[] {
  const ref = runtimeKeysRef(node);
  const fail = (msg: string) => `{ say FAIL-setup "${msg}"; say RESTORED yes; exit 0; }`;
  return [
    'stek_via=""; stek_rt=""',
    `rt_sock=${quoteShell(socket)}`,
    `rt_ref=${quoteShell(ref)}`,
    // Commands on stdin, answers on stdout; key bytes only ever travel through pipes and variables.
    'rt_cli() { socat -t 5 - "UNIX-CONNECT:$rt_sock" 2>&1; }',
    // Answers without key lines (errors, the list of files) are safe to show.
    "rt_text() { awk '!($1 ~ /^[0-9]+\\.[0-9]+$/)' | tr '\\n' ' ' | head -c 300; }",
    // Key ids of the three keys in memory, in file order, or nothing when they cannot be read.
    'rt_mem() { rt_out=$(printf "show tls-keys %s\\n" "$rt_ref" | rt_cli); ' +
      `printf "%s\\n" "$rt_out" | awk ${quoteShell(runtimeNamesAwk)}; }`,
    // Key ids of the last three key lines of the managed file: what HAProxy loads from it.
    `rt_file() { awk ${quoteShell(lastThreeNamesAwk)} "$m"; }`,
    `command -v socat >/dev/null 2>&1 || ${fail('runtimeApi is set but socat is not installed on the node (apt-get install socat); nothing was changed')}`,
    `[ -S "$rt_sock" ] || ${fail('runtimeApi: $rt_sock is not a socket (stats socket ... level admin in the HAProxy config?); nothing was changed')}`,
    'rt_list=$(printf "show tls-keys\\n" | rt_cli)',
    `printf "%s\\n" "$rt_list" | grep -qF "($rt_ref)" || ${fail('runtimeApi: HAProxy on $rt_sock does not list $rt_ref under show tls-keys: $(printf %s "$rt_list" | rt_text); nothing was changed')}`,
  ];
}

/**
 * setsNeeded and transitIsSafe in shell, on `$1..$6` (memory then target key ids): sets `rt_k`
 * and, when a transit key is not in both rings, `rt_unsafe`.
 */
export function shiftPlanLines(): string[] {
  return [
    'if [ "$1 $2 $3" = "$4 $5 $6" ]; then rt_k=0',
    'elif [ "$2" = "$4" ] && [ "$3" = "$5" ]; then rt_k=1',
    'elif [ "$3" = "$4" ]; then rt_k=2',
    'else rt_k=3; fi',
    'case $rt_k in 2) rt_tr="$3";; 3) rt_tr="$3 $4";; *) rt_tr="";; esac',
    'rt_unsafe=""',
    'for rt_x in $rt_tr; do',
    '  case " $1 $2 $3 " in *" $rt_x "*) ;; *) rt_unsafe=$rt_x;; esac',
    '  case " $4 $5 $6 " in *" $rt_x "*) ;; *) rt_unsafe=$rt_x;; esac',
    'done',
  ];
}

/**
 * Replaces the reload: after the files are written and checked, brings the ring in memory to the
 * file's last three lines with the fewest sets, all in one connection, and reads it back. Sets
 * `stek_via=runtime-api` when that is done; leaves it empty (the reload follows) when shifting keys
 * in would not be safe (transitIsSafe). On an error or a mismatch after any set, the previous
 * files come back and the configured reload loads them, so memory equals the file again.
 */
export function runtimeApiLines(node: NodeSpec, waitTenths: number): string[] {
  const reload = `( ${node.reload} ) >/dev/null 2>&1 9<&-`;
  return [
    'rt_m=$(rt_mem); rt_t=$(rt_file)',
    'set -- $rt_m $rt_t',
    'if [ $# -ne 6 ]; then',
    '  restore; say FAIL-runtime-api "cannot read the keys in memory through $rt_sock ($(printf %s "$rt_out" | rt_text)) or in $m; nothing was changed"; say RESTORED yes; exit 0',
    'fi',
    ...shiftPlanLines(),
    'if [ -n "$rt_unsafe" ]; then',
    '  stek_rt="runtime-api:reload setting the keys one by one would make the node encrypt for a moment under $(printf %s "$rt_unsafe" | head -c 12), which is not in both the old and the new ring"',
    'else',
    '  echo "RELOAD|$(date +%s%3N)"',
    '  if [ $rt_k -gt 0 ]; then',
    // One line of commands separated by `;`: HAProxy runs them in order on one connection.
    `    rt_said=$(awk 'NF && $0 !~ /^#/' "$m" | tail -n $rt_k | awk -v r="$rt_ref" '{printf "%sset ssl tls-key %s %s", (NR>1 ? "; " : ""), r, $0} END {print ""}' | rt_cli | rt_text)`,
    '  fi',
    '  rt_now=$(rt_mem)',
    '  if [ "$rt_now" != "$rt_t" ]; then',
    '    restore; gen; g0=$stek_gen',
    `    ${reload}; rt_rc=$?`,
    '    i=0; while [ $i -lt ' +
      waitTenths +
      ' ]; do gen; g=$stek_gen; if [ -z "$g0" ] || { [ -n "$g" ] && [ "$g" != "$g0" ]; }; then break; fi; sleep 0.1; i=$((i+1)); done',
    // The reloaded process answers on the socket a moment later: memory must equal the file again.
    '    rt_back=no; i=0; while [ $i -lt 30 ]; do if [ "$(rt_mem)" = "$(rt_file)" ]; then rt_back=yes; break; fi; sleep 0.2; i=$((i+1)); done',
    '    say FAIL-runtime-api "the keys in memory did not become those of $m after $rt_k set(s) through $rt_sock (${rt_said:-no answer}); the previous files were put back and the configured reload $( [ $rt_rc -eq 0 ] && echo ran || echo failed)"',
    '    say RESTORED $rt_back; exit 0',
    '  fi',
    '  stek_via=runtime-api; stek_rt="runtime-api:sets=$rt_k"',
    'fi',
  ];
}

/**
 * For the read script: a `KR|ok|<ids>` record with the key ids in the running process, in file
 * order, or `KR|unreadable`. Key bytes stay on the node.
 */
export function runtimeKeysRecordLines(node: NodeSpec, socket: string): string[] {
  const sock = quoteShell(socket);
  const ref = quoteShell(runtimeKeysRef(node));
  return [
    `if command -v socat >/dev/null 2>&1 && [ -S ${sock} ]; then`,
    `  stek_rk=$(printf "show tls-keys %s\\n" ${ref} | socat -t 5 - UNIX-CONNECT:${sock} 2>/dev/null | ` +
      `awk ${quoteShell(runtimeNamesAwk)})`,
    '  if [ -n "$stek_rk" ]; then echo "KR|ok|$(echo $stek_rk)"; else echo "KR|unreadable"; fi',
    'else echo "KR|unreadable"; fi',
  ];
}

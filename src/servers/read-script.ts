import type { NodeSpec } from '../inventory/types.js';
import { quoteShell } from '../remote/shell.js';
import { keyRecordsAwk } from './base64-key-lines.js';
import { runtimeKeysRecordLines } from './haproxy-runtime.js';
import type { ServerAdapter, ServerFacts } from './types.js';

/**
 * The one read-only command stekctl runs on a node to learn its key state. It prints records, one
 * per line, `TAG|field|...`. Key files are only ever read for their first 16 bytes (the public key
 * name); key bytes never leave the node.
 */
export function buildReadScript(
  adapter: ServerAdapter,
  node: NodeSpec,
  opts: { runCheck: boolean },
): string {
  const d = quoteShell(node.keyDir);
  const directive = referenceDirective(adapter);
  const lines = [
    'export LC_ALL=C PATH="$PATH:/usr/sbin:/sbin"',
    keyidFunction,
    `d=${d}`,
    'echo "BEGIN|1"',
    // One stat for the directory and all its files: a process per file made most of the read's
    // cost. Names outside [A-Za-z0-9._-] are left out here, as the parser would drop them. The
    // shell itself goes into the directory and back (no subshell), and reads stat's lines from a
    // here-document (no pipeline): each process saved is several milliseconds on a small node.
    'if [ -d "$d" ]; then',
    '  stek_home=$PWD',
    '  if cd "$d" 2>/dev/null; then',
    '    set --',
    '    for f in * .[!.]*; do',
    '      [ -f "$f" ] || continue',
    `      case "$f" in ${unsafeName}) continue;; esac`,
    '      set -- "$@" "$f"',
    '    done',
    // -L: a key file may be a symlink (nginx follows it); what counts is the file it names.
    `    stek_st=$(stat -L -c '%n|%s|%a|%U|%Y' -- . "$@")`,
    "    while IFS='|' read -r n size mode owner mtime; do",
    '      [ -n "$n" ] || continue',
    '      if [ "$n" = . ]; then echo "D|$mode|$owner"; continue; fi',
    '      id=-; case "$size" in 48|80) keyid < "$n"; id=$stek_i;; esac',
    '      echo "F|$n|$size|$mode|$owner|$mtime|$id"',
    '    done <<STEK_EOF',
    '$stek_st',
    'STEK_EOF',
    '    cd "$stek_home" 2>/dev/null || cd /',
    '  else echo "D|$(stat -L -c "%a|%U" "$d")"; fi',
    'else echo "D|missing"; fi',
    textRecords('c', '"$d/tickets.conf"'),
    textRecords('m', '"$d/stekctl.json"'),
    textRecords('l', '"$d/stekctl.lock"'),
  ];
  if (directive) {
    // Key files the managed conf refers to, wherever they are (a hand-placed key may live outside keyDir).
    lines.push(
      'if [ -f "$d/tickets.conf" ]; then',
      // The shell reads the file itself: the directive, then its path up to a quote, `;` or
      // blank (no sed and no pipeline: two processes fewer).
      '  while IFS= read -r stek_ln || [ -n "$stek_ln" ]; do',
      '    set -f; set -- $stek_ln; set +f',
      `    [ "\${1:-}" = ${directive} ] || continue`,
      '    p=${2:-}; p=${p#\\"}; p=${p%%[\\";]*}',
      '    case "$p" in "$d"/*/*) ;; "$d"/*)',
      `      case "\${p#"$d"/}" in ${unsafeName}) ;; *) if [ -f "$p" ]; then echo "R|$p|="; continue; fi;; esac;;`,
      '    esac',
      '    if [ -f "$p" ]; then keyid < "$p"; echo "R|$p|$(stat -L -c "%s|%a" "$p")|$stek_i"; else echo "R|$p|missing"; fi',
      '  done < "$d/tickets.conf"',
      'fi',
    );
  } else {
    // HAProxy: one base64 key per line; each decoded (by one awk for the file) only to learn
    // its size and name.
    lines.push(
      'if [ -f "$d/tickets.keys" ]; then',
      '  echo "KM|$(stat -L -c %a "$d/tickets.keys")"',
      `  awk ${quoteShell(keyRecordsAwk)} < "$d/tickets.keys"`,
      'fi',
    );
  }
  if (adapter.kind === 'haproxy' && node.runtimeApi)
    lines.push(...runtimeKeysRecordLines(node, node.runtimeApi));
  lines.push(...serverRecords(adapter, node, opts.runCheck));
  lines.push('echo "END|1"');
  return lines.join('\n') + '\n';
}

/**
 * A text file, line by line, read by the shell itself (a base64 process costs more than the
 * shell's read of a small file): `C0|` (or `M0|`) when the file exists, `c|<line>` for each line,
 * and `c~|<rest>` for a last line without a newline, so that the parser rebuilds it exactly.
 */
function textRecords(tag: 'c' | 'm' | 'l', file: string): string {
  const first = tag.toUpperCase();
  return (
    `if [ -f ${file} ]; then echo "${first}0|"; stek_l=; ` +
    `while IFS= read -r stek_l; do printf '${tag}|%s\\n' "$stek_l"; done < ${file}; ` +
    `[ -z "$stek_l" ] || printf '${tag}~|%s\\n' "$stek_l"; fi`
  );
}

/** Case patterns for file names the F records leave out (see the parser's safe names). */
const unsafeName = `''|..*|*[!A-Za-z0-9._-]*`;

/**
 * keyid sets stek_i to a key file's 16-byte name in hex, from stdin: od reads those 16 bytes and
 * no more, and the shell joins its words in its own process (one process per key).
 */
const keyidFunction =
  'keyid() { stek_i=; for stek_b in $(od -An -tx1 -N16 -v); do stek_i=$stek_i$stek_b; done; }';

/**
 * The records that ask the server itself: include (I), foreign keys (N), lifetime (T) and the
 * config test (X). The config dump is taken once, into a shell variable (no temporary file, so a
 * read killed at any point leaves nothing behind), and fed to every snippet as a here-document;
 * when it is the config test too (nginx -T), its status and messages are the check's. The
 * include is read from the dump, which fails whenever the config test does (e.g. while a key
 * file the ring names is gone): "not included" is only said when the config test passes;
 * otherwise the include is unknown.
 */
function serverRecords(adapter: ServerAdapter, node: NodeSpec, runCheck: boolean): string[] {
  const dump = adapter.configDump?.(node);
  const lines: string[] = [];
  const check = `stek_co=$( ( ${node.check} ) 2>&1 ); stek_cr=$?`;
  if (dump?.isCheck) {
    // nginx -T writes the test's messages (warnings, "syntax is ok", the failure) to stderr
    // before it prints the first file of the dump, each with its own write: in one stream, what
    // comes before the first "# configuration file " line is the check's output.
    lines.push(
      `stek_d=$( ( ${dump.command} ) 2>&1 ); stek_cr=$?`,
      `stek_nl='\n'; stek_h='# configuration file '`,
      'case "$stek_d" in',
      '  "$stek_h"*) stek_co= ;;',
      '  *"$stek_nl$stek_h"*) stek_co=${stek_d%%"$stek_nl$stek_h"*}; stek_d=${stek_d#"$stek_co$stek_nl"} ;;',
      '  *) stek_co=$stek_d; stek_d= ;;',
      'esac',
      '[ "$stek_cr" = 0 ] || stek_d=',
    );
  } else if (dump) {
    lines.push(`stek_d=$( ( ${dump.command} ) 2>/dev/null ) || stek_d=`);
  }
  // A snippet statement with the dump on its stdin: a here-document when there is a dump (the
  // shell feeds it itself), else nothing, as a failed dump printed nothing.
  const withDump = (statement: string): string[] =>
    dump
      ? [
          `if [ -n "\${stek_d:-}" ]; then { ${statement}; } <<STEK_DUMP`,
          '$stek_d',
          'STEK_DUMP',
          `else { ${statement}; } </dev/null; fi`,
        ]
      : [`{ ${statement}; } </dev/null`];
  // The check runs at most once, in this shell (not a subshell), whichever record needs it first.
  lines.push(`stek_check() { [ -n "\${stek_cr:-}" ] && return 0; ${check}; }`);
  const notIncluded = 'stek_check; [ "$stek_cr" != 0 ] || echo "I|no"';
  if (adapter.factsScript !== undefined) {
    lines.push(
      ...withDump(`stek_f=$( ( ${adapter.factsScript(node)} ) 2>/dev/null )`),
      `case "$stek_f" in "I|yes"*) ;; *) ${notIncluded};; esac`,
      '[ -z "$stek_f" ] || printf "%s\\n" "$stek_f"',
    );
  } else {
    lines.push(...separateFacts(adapter, node, withDump, notIncluded));
  }
  if (runCheck) {
    lines.push(
      'stek_check',
      // A quiet check prints nothing: no pipeline to encode nothing.
      'if [ -n "$stek_co" ]; then echo "X|$stek_cr|$(printf %s "$stek_co" | tail -c 2000 | base64 -w0)"; else echo "X|$stek_cr|"; fi',
    );
  }
  return lines;
}

/** The include (I), foreign keys (N) and lifetime (T) records, one snippet each. */
function separateFacts(
  adapter: Extract<ServerFacts, { factsScript?: undefined }>,
  node: NodeSpec,
  withDump: (statement: string) => string[],
  notIncluded: string,
): string[] {
  return [
    'stek_fi=1',
    ...withDump(`( ${adapter.includeCheck(node)} ) >/dev/null 2>&1 && stek_fi=0`),
    `if [ "$stek_fi" = 0 ]; then echo "I|yes"; else ${notIncluded}; fi`,
    ...withDump(
      `( ${adapter.foreignKeysScript(node)} ) 2>/dev/null | while IFS= read -r p; do echo "N|$p"; done`,
    ),
    // The first line only; the parser keeps its letters and digits.
    ...withDump(
      `stek_lt=$( ( ${adapter.lifetimeScript(node)} ) 2>/dev/null | { IFS= read -r stek_l; printf %s "$stek_l"; } )`,
    ),
    'echo "T|$stek_lt"',
  ];
}

function referenceDirective(adapter: ServerAdapter): string | undefined {
  if (adapter.kind === 'nginx') return 'ssl_session_ticket_key';
  if (adapter.kind === 'apache') return 'SSLSessionTicketKeyFile';
  if (adapter.kind === 'node') return 'key';
  return undefined;
}

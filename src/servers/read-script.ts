import type { NodeSpec } from '../inventory/types.js';
import { quoteShell } from '../remote/shell.js';
import type { ServerAdapter } from './types.js';

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
    'keyname() { head -c 16 | od -An -tx1 -v | tr -d " \\n"; }',
    `d=${d}`,
    'echo "BEGIN|1"',
    'if [ -d "$d" ]; then',
    '  echo "D|$(stat -c "%a|%U" "$d")"',
    '  for f in "$d"/* "$d"/.[!.]*; do',
    '    [ -f "$f" ] || continue',
    '    s=$(stat -c %s "$f"); id=-',
    '    case "$s" in 48|80) id=$(keyname < "$f");; esac',
    '    echo "F|${f##*/}|$s|$(stat -c "%a|%U|%Y" "$f")|$id"',
    '  done',
    'else echo "D|missing"; fi',
    'if [ -f "$d/tickets.conf" ]; then echo "C|$(base64 -w0 < "$d/tickets.conf")"; fi',
    'if [ -f "$d/stekctl.json" ]; then echo "M|$(base64 -w0 < "$d/stekctl.json")"; fi',
  ];
  if (directive) {
    // Key files the managed conf refers to, wherever they are (a hand-placed key may live outside keyDir).
    lines.push(
      'if [ -f "$d/tickets.conf" ]; then',
      `  sed -n 's/^[[:space:]]*${directive}[[:space:]]\\{1,\\}"\\{0,1\\}\\([^";[:space:]]*\\).*/\\1/p' "$d/tickets.conf" | while IFS= read -r p; do`,
      '    if [ -f "$p" ]; then s=$(stat -c %s "$p"); echo "R|$p|$s|$(stat -c %a "$p")|$(keyname < "$p")"; else echo "R|$p|missing"; fi',
      '  done',
      'fi',
    );
  } else {
    // HAProxy: one base64 key per line; decode each only to learn its size and name.
    lines.push(
      'if [ -f "$d/tickets.keys" ]; then',
      '  echo "KM|$(stat -c %a "$d/tickets.keys")"',
      '  while IFS= read -r l || [ -n "$l" ]; do',
      '    case "$l" in ""|"#"*) continue;; esac',
      '    echo "K|$(printf %s "$l" | base64 -d 2>/dev/null | wc -c)|$(printf %s "$l" | base64 -d 2>/dev/null | keyname)"',
      '  done < "$d/tickets.keys"',
      'fi',
    );
  }
  // The include is read from the server's own config dump (nginx -T, apache2 DUMP_INCLUDES),
  // which fails whenever the config test does, e.g. while a key file the ring names is gone:
  // "not included" is only said when the config test passes; otherwise the include is unknown.
  lines.push(
    `if ( ${adapter.includeCheck(node)} ) >/dev/null 2>&1; then echo "I|yes"; ` +
      `elif ( ${node.check} ) >/dev/null 2>&1; then echo "I|no"; fi`,
    `( ${adapter.foreignKeysScript(node)} ) 2>/dev/null | while IFS= read -r p; do echo "N|$p"; done`,
    `echo "T|$( ( ${adapter.lifetimeScript(node)} ) 2>/dev/null | head -n 1 | tr -cd 'A-Za-z0-9')"`,
  );
  if (opts.runCheck) {
    lines.push(
      `out=$( ( ${node.check} ) 2>&1 ); rc=$?`,
      'echo "X|$rc|$(printf %s "$out" | tail -c 2000 | base64 -w0)"',
    );
  }
  lines.push('echo "END|1"');
  return lines.join('\n') + '\n';
}

function referenceDirective(adapter: ServerAdapter): string | undefined {
  if (adapter.kind === 'nginx') return 'ssl_session_ticket_key';
  if (adapter.kind === 'apache') return 'SSLSessionTicketKeyFile';
  if (adapter.kind === 'node') return 'key';
  return undefined;
}

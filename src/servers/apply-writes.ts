import { quoteShell } from '../remote/shell.js';
import type { ApplySpec } from './apply-script.js';

const safeName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * A transaction writes every new file into `.stekctl-next` under its final name, and saves what
 * it replaces into `.stekctl-prev` (hard links): one chmod, one ln and one mv then do for all the
 * files, where each file took its own before (a process costs several milliseconds on a small
 * node). Both directories are removed by the transaction's last rm.
 */
const nextDir = '.stekctl-next';
const prevDir = '.stekctl-prev';

/**
 * What a transaction leaves only when it was cut short, older versions' names included. The
 * first transaction after one removes them; there rarely are any, so they are looked for with
 * the shell's test before anything is started.
 */
export const leftovers = `${nextDir} ${prevDir} .stekctl-none .stekctl-dump .stekctl-adopt .stekctl-prev-manifest .stekctl-manifest .stekctl-new-*`;

/** Removed by the last rm of a transaction, and by a restore (the retire writes .stekctl-manifest). */
export const ownFiles = `${nextDir} ${prevDir} .stekctl-none .stekctl-dump .stekctl-manifest`;

/** How long a transaction waits for one still running on the node (a dropped connection's). */
export const lockWaitSeconds = 90;

export function assertSafeName(name: string): void {
  // Names come from key ids and fixed strings; this guards the script against any surprise.
  if (!safeName.test(name)) throw new Error(`unsafe file name in a node transaction: ${name}`);
}

/**
 * Puts the node back as it was: the saved files over the new ones, the new key files removed.
 * Only what this transaction saved (`$saved`) is put back, never an older transaction's file.
 */
export function restoreLines(): string[] {
  return [
    // The saved files are hard links: one still naming the same file as the original means the
    // original was never replaced, and mv refuses to move a file onto itself.
    'back() { if [ "$1" -ef "$2" ]; then rm -f "$1"; else mv -f "$1" "$2"; fi; }',
    'saved=""',
    'restore() {',
    `  for f in $saved; do back ${prevDir}/"$f" "$f"; done`,
    '  if [ -f .stekctl-none ]; then : > "$m"; fi',
    '  for f in $new; do rm -f -- "$f"; done',
    `  rm -rf -- ${ownFiles} .stekctl-adopt`,
    '}',
  ];
}

/** HAProxy: copies each key line of an existing tickets.keys into `<id>.key` before composing. */
export function adoptLines(): string[] {
  return [
    'if [ -f "$m" ]; then',
    // A CRLF file: HAProxy drops each line's CR, and so does the adoption.
    "  cr=$(printf '\\r')",
    '  while IFS= read -r l || [ -n "$l" ]; do',
    '    l=${l%"$cr"}',
    '    case "$l" in ""|"#"*) continue;; esac',
    '    printf %s "$l" | base64 -d > .stekctl-adopt 2>/dev/null',
    '    case "$(wc -c < .stekctl-adopt)" in 48|80)',
    '      id=$(keyname < .stekctl-adopt)',
    // A file adopted here is this transaction's own: a restore removes it along with the new
    // keys, as the restored file holds its key line again.
    '      if [ ! -f "$id.key" ]; then chmod 600 .stekctl-adopt && mv -f .stekctl-adopt "$id.key" || fail write "cannot adopt a key of $m"; new="$new $id.key"; fi;;',
    '    esac',
    '  done < "$m"',
    '  rm -f .stekctl-adopt',
    'fi',
  ];
}

/**
 * Writes the new key files, the managed file and the manifest into `.stekctl-next`, saves what
 * they replace, and moves them in place with one mv: the key files first, so that the managed
 * file never names a key file not yet there. Every write replaces names, never contents.
 */
export function writeLines(spec: ApplySpec, managed: string): string[] {
  const names: string[] = spec.newKeys.map((k) => k.file);
  if (spec.managed) names.push(managed);
  if (spec.manifest !== undefined) names.push('stekctl.json');
  // Saved as hard links, which take no space: a copy cut short on a full disk would otherwise
  // be "restored" over the intact original. The manifest needs no saving when nothing can fail
  // after it (the retire: no check, no reload).
  const save = spec.managed ? ['"$m"'] : [];
  if (spec.manifest !== undefined && (spec.check || spec.reload)) save.push('stekctl.json');
  if (names.length === 0) return [];
  if (spec.manifest !== undefined && names.length === 1 && save.length === 0) {
    // The retire's manifest alone: one file, nothing to save, no secret in it.
    return [
      `printf %s ${quoteShell(spec.manifest)} > .stekctl-manifest && mv -f .stekctl-manifest stekctl.json || fail write "cannot write stekctl.json in $d"`,
    ];
  }
  const dirs = save.length > 0 ? `${nextDir} ${prevDir}` : nextDir;
  const L: string[] = [`stek_e=$(mkdir ${dirs} 2>&1) || fail write "cannot write in $d: $stek_e"`];
  for (const k of spec.newKeys) {
    // The line's length is checked first: a line cut short on a 4-character boundary would
    // decode without error into a shorter key. Only a write that failed runs a second time,
    // to capture base64's message (a full disk) without a command substitution every time.
    const write = `printf %s "$line" | base64 -d > ${nextDir}/${k.file}`;
    L.push(
      'IFS= read -r line || fail write "no key material for the new key"',
      `[ \${#line} = ${Math.ceil(k.size / 3) * 4} ] || fail write "the key material for ${k.file} was cut short"`,
      `{ ${write}; } 2>/dev/null || { err=$( { ${write}; } 2>&1 ); fail write "cannot write ${k.file} in $d: \${err:-short write (disk full?)}"; }`,
      // Only a file this transaction creates is removed by a restore.
      `[ -e ${k.file} ] || new="$new ${k.file}"`,
    );
  }
  L.push('line=""');
  if (spec.managed?.kind === 'text') {
    L.push(
      `printf %s ${quoteShell(spec.managed.text)} > ${nextDir}/${managed} || fail write "cannot write $m in $d"`,
    );
  } else if (spec.managed) {
    for (const f of spec.managed.files) assertSafeName(f);
    // A key file new in this transaction is still in .stekctl-next.
    L.push(
      `( for f in ${spec.managed.files.join(' ')}; do if [ -f ${nextDir}/"$f" ]; then f=${nextDir}/"$f"; fi; base64 -w0 < "$f" && echo || exit 1; done ) > ${nextDir}/${managed} || fail write "cannot compose $m in $d"`,
    );
  }
  if (spec.manifest !== undefined) {
    L.push(
      `printf %s ${quoteShell(spec.manifest)} > ${nextDir}/stekctl.json || fail write "cannot write stekctl.json in $d"`,
      // A node's first record: a restore removes it, as it removes the new key files.
      '[ -e stekctl.json ] || new="$new stekctl.json"',
    );
  }
  if (spec.managed) {
    L.push('if [ ! -f "$m" ]; then : > .stekctl-none || fail write "cannot write in $d"; fi');
  }
  if (save.length > 0) {
    L.push(
      `set --; for f in ${save.join(' ')}; do if [ -f "$f" ]; then set -- "$@" "$f"; fi; done`,
      `if [ $# -gt 0 ]; then ln -f -- "$@" ${prevDir}/ 2>/dev/null || cp -p -- "$@" ${prevDir}/ || fail write "cannot save $* in $d"; saved="$*"; fi`,
    );
  }
  // One chmod for every file (a default ACL on the directory can outweigh the umask), one mv:
  // the key files first, so that the managed file never names a key file not yet in place.
  const moved = names.map((n) => `${nextDir}/${n}`).join(' ');
  L.push(
    `chmod 600 -- ${moved} && mv -f -- ${moved} . || fail write "cannot put ${names.join(', ')} in place in $d"`,
  );
  return L;
}

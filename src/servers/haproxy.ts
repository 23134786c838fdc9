import { quoteShell } from '../remote/shell.js';
import { childPidsOf } from './process-children.js';
import { ageOf, parseManifest } from './ring-entries.js';
import type { RingEntry, ServerAdapter } from './types.js';

/**
 * HAProxy: `tls-ticket-keys <keyDir>/tickets.keys` on the bind line, one base64 key per line. Only
 * the last three lines count: previous, current, next; the penultimate encrypts, all three decrypt.
 */
export const haproxyAdapter: ServerAdapter = {
  kind: 'haproxy',
  keySizes: [48, 80],
  managedFileName: 'tickets.keys',
  includeCheck(node) {
    const want = `tls-ticket-keys ${node.keyDir}/tickets.keys`;
    return (
      `awk -v p=${quoteShell(want)} '{sub(/#.*/,""); gsub(/[[:space:]]+/," "); ` +
      `if (index($0" ", p" ")) f=1} END{exit !f}' ${quoteShell(node.config)}`
    );
  },
  foreignKeysScript(node) {
    const managed = `${node.keyDir}/tickets.keys`;
    return (
      `awk -v m=${quoteShell(managed)} '{sub(/#.*/,""); ` +
      `for (i=1;i<NF;i++) if ($i=="tls-ticket-keys" && $(i+1)!=m) print $(i+1)}' ${quoteShell(node.config)}`
    );
  },
  deriveRing(raw, node, now) {
    const lines = raw.keyLines ?? [];
    const manifest = parseManifest(raw.manifestText);
    const mtime = raw.files.find((f) => f.file === 'tickets.keys')?.mtime;
    const n = lines.length;
    // Encrypting key first, as for every kind: current, next, previous.
    const slots: [number, RingEntry['role']][] = [
      [n - 2, 'encrypt'],
      [n - 1, 'next'],
      [n - 3, 'decrypt'],
    ];
    // A size of -1: the line is not base64 (see base64-key-lines.ts).
    const sizes = new Set(lines.filter((l) => l.size === 48 || l.size === 80).map((l) => l.size));
    // What is wrong with the file as a whole is said once, on its encrypting entry.
    const fileProblems: string[] = [];
    if (n < 3) fileProblems.push(`${node.keyDir}/tickets.keys has ${n} keys; HAProxy needs 3`);
    if (sizes.size > 1) fileProblems.push('keys of different sizes in one file');
    return slots
      .filter(([i]) => i >= 0)
      .map(([i, role]) => {
        const line = lines[i];
        const problems = role === 'encrypt' ? [...fileProblems] : [];
        if (line && line.size !== 48 && line.size !== 80)
          problems.push(
            `line ${i + 1} is not a 48- or 80-byte key${line.size < 0 ? ' (not base64)' : ''}`,
          );
        return {
          keyId: line?.keyId,
          source: `${node.keyDir}/tickets.keys:${i + 1}`,
          role,
          size: line && line.size >= 0 ? line.size : undefined,
          mode: raw.keyLinesMode,
          ageSeconds: ageOf(line?.keyId, manifest, mtime, now),
          problem: problems.length > 0 ? problems.join('; ') : undefined,
        };
      });
  },
  includeLine(node) {
    return `bind ... ssl crt ... tls-ticket-keys ${node.keyDir}/tickets.keys`;
  },
  keyLayout: 'haproxy',
  decryptOnly: true,
  renderManaged(node, ring) {
    if (!ring) throw new Error(`HAProxy cannot start without keys in ${node.keyDir}/tickets.keys`);
    // Lines: previous, current (encrypts), next. A staged key takes the next slot; empty slots
    // repeat a key the ring already holds, since HAProxy needs three lines.
    const previous = ring.decrypt[0] ?? ring.encrypt;
    const next = ring.staged ?? ring.decrypt[1] ?? previous;
    return {
      kind: 'base64-lines',
      files: [previous, ring.encrypt, next].map((k) => basename(k.path)),
    };
  },
  generationScript(node) {
    // Reloads start a new process (-sf) or new workers under a master (-W): either way the pids change.
    const pidFromReload = /(?:^|\s)-p\s+(\S+)/.exec(node.reload)?.[1];
    const fallback = quoteShell(pidFromReload ?? '/run/haproxy.pid');
    return (
      `[ -n "\${stek_pf:-}" ] || stek_pf=$(awk '$1=="pidfile"{print $2; exit}' ${quoteShell(node.config)}); [ -n "$stek_pf" ] || stek_pf=${fallback}; ` +
      `stek_gen=$(for stek_p in $(cat "$stek_pf"); do echo "$stek_p"; ${childPidsOf('"$stek_p"')}; done | ` +
      `awk '{ for (i = 1; i <= NF; i++) print $i }' | sort -n | tr '\\n' ,)`
    );
  },
  lifetimeScript(node) {
    // tune.ssl.lifetime is the session timeout OpenSSL gives tickets too (their lifetime hint,
    // and how old a ticket it accepts); 300 s when the config does not set it.
    return (
      `awk '$1 == "tune.ssl.lifetime" { print $2; found = 1; exit } ` +
      `END { if (!found) print 300 }' ${quoteShell(node.config)}`
    );
  },
};

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

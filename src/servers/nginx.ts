import type { NodeSpec } from '../inventory/types.js';
import { quoteShell } from '../remote/shell.js';
import { directivePaths, fileRingEntries } from './ring-entries.js';
import type { ServerAdapter } from './types.js';

const directive = 'ssl_session_ticket_key';

/**
 * nginx: `ssl_session_ticket_key FILE;` repeated in <keyDir>/tickets.conf. The first key encrypts,
 * every listed key decrypts, so a staged key is simply appended and promoted by moving it first.
 */
export const nginxAdapter: ServerAdapter = {
  kind: 'nginx',
  keySizes: [48, 80],
  managedFileName: 'tickets.conf',
  includeCheck(node) {
    // `nginx -T` prints every file it read under a header; the managed file must be among them.
    const header = `# configuration file ${node.keyDir}/tickets.conf:`;
    return `nginx -T -c ${quoteShell(node.config)} 2>/dev/null | grep -qxF ${quoteShell(header)}`;
  },
  foreignKeysScript(node) {
    const managed = `${node.keyDir}/tickets.conf`;
    return (
      `nginx -T -c ${quoteShell(node.config)} 2>/dev/null | awk -v m=${quoteShell(managed)} ` +
      `'/^# configuration file /{f=$4; sub(/:$/,"",f); next} f!=m && $1=="${directive}" {p=$2; sub(/;$/,"",p); print p}'`
    );
  },
  deriveRing(raw, _node, now) {
    return fileRingEntries(
      raw,
      directivePaths(raw.conf, directive),
      (i) => (i === 0 ? 'encrypt' : 'decrypt'),
      now,
    );
  },
  includeLine(node: NodeSpec) {
    return `include ${node.keyDir}/tickets.conf;   # in http {} or the default server`;
  },
  keyLayout: 'nginx',
  decryptOnly: true,
  renderManaged(_node, ring) {
    if (!ring) return { kind: 'text', text: '' };
    // The first key encrypts; every listed key decrypts. A staged key goes last.
    const keys = [ring.encrypt, ...ring.decrypt, ...(ring.staged ? [ring.staged] : [])];
    const lines = keys.map((k) => `${directive} ${k.path};`);
    return { kind: 'text', text: `# managed by stekctl; do not edit\n${lines.join('\n')}\n` };
  },
  generationScript(node) {
    // The master keeps its pid across reloads; its workers are replaced when a config is taken.
    return (
      `[ -n "\${stek_pf:-}" ] || stek_pf=$(nginx -T -c ${quoteShell(node.config)} 2>/dev/null | awk '$1=="pid"{p=$2; sub(/;$/,"",p); print p; exit}'); ` +
      `[ -n "$stek_pf" ] || stek_pf=/run/nginx.pid; stek_mp=$(cat "$stek_pf") && ps -o pid= --ppid "$stek_mp" | sort -n | tr -d ' ' | tr '\\n' ,`
    );
  },
  lifetimeScript(node) {
    return `nginx -T -c ${quoteShell(node.config)} 2>/dev/null | awk '$1=="ssl_session_timeout"{v=$2; sub(/;$/,"",v); print v; exit}'`;
  },
};

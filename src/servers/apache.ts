import { quoteShell } from '../remote/shell.js';
import { directivePaths, fileRingEntries } from './ring-entries.js';
import type { ServerAdapter } from './types.js';

const directive = 'SSLSessionTicketKeyFile';

/** `apache2ctl -f CONF -t -D DUMP_INCLUDES` lists every config file Apache read, one per line. */
function dumpIncludes(config: string): string {
  return `apache2ctl -f ${quoteShell(config)} -t -D DUMP_INCLUDES 2>/dev/null`;
}

/**
 * Apache mod_ssl: `SSLSessionTicketKeyFile` holds exactly one key, which both encrypts and decrypts.
 * There is no decrypt-only slot: a staged key is a file in keyDir that no directive names yet.
 */
export const apacheAdapter: ServerAdapter = {
  kind: 'apache',
  keySizes: [48],
  managedFileName: 'tickets.conf',
  includeCheck(node) {
    const managed = `${node.keyDir}/tickets.conf`;
    return `${dumpIncludes(node.config)} | awk -v p=${quoteShell(managed)} '$NF==p{f=1} END{exit !f}'`;
  },
  foreignKeysScript(node) {
    const managed = `${node.keyDir}/tickets.conf`;
    return (
      `${dumpIncludes(node.config)} | awk '$NF ~ /^\\//{print $NF}' | while IFS= read -r f; do ` +
      `[ "$f" = ${quoteShell(managed)} ] || sed -n 's/^[[:space:]]*${directive}[[:space:]]\\{1,\\}"\\{0,1\\}\\([^"[:space:]]*\\).*/\\1/p' "$f"; done`
    );
  },
  deriveRing(raw, _node, now) {
    return fileRingEntries(raw, directivePaths(raw.conf, directive), () => 'encrypt', now);
  },
  includeLine(node) {
    return `Include ${node.keyDir}/tickets.conf   # in every TLS <VirtualHost> of the pool`;
  },
  keyLayout: 'apache',
  decryptOnly: false,
  renderManaged(_node, ring) {
    if (!ring) return { kind: 'text', text: '' };
    return {
      kind: 'text',
      text: `# managed by stekctl; do not edit\n${directive} ${ring.encrypt.path}\n`,
    };
  },
  generationScript(node) {
    // A graceful restart keeps the parent and replaces its children.
    return (
      `[ -n "\${stek_pf:-}" ] || stek_pf=$(apache2ctl -f ${quoteShell(node.config)} -t -D DUMP_RUN_CFG 2>/dev/null | sed -n 's/^PidFile: "\\(.*\\)"$/\\1/p'); ` +
      `stek_mp=$(cat "$stek_pf") && ps -o pid= --ppid "$stek_mp" | sort -n | tr -d ' ' | tr '\\n' ,`
    );
  },
  lifetimeScript(node) {
    return `${dumpIncludes(node.config)} | awk '$NF ~ /^\\//{print $NF}' | xargs -r awk 'tolower($1)=="sslsessioncachetimeout"{print $2; exit}'`;
  },
};

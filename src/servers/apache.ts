import { quoteShell } from '../remote/shell.js';
import { childrenScript } from './process-children.js';
import { directivePaths, fileRingEntries } from './ring-entries.js';
import type { ServerAdapter } from './types.js';

const directive = 'SSLSessionTicketKeyFile';

/**
 * The files of the dump's listing of includes, from stdin: lines `  (*) /path` or `  (12) /path`.
 * The run config that follows (PidFile, ErrorLog...) is not a list of files.
 */
const listed = `$1 ~ /^[(][0-9*]+[)]$/`;
const includedFiles = `awk '${listed} && $NF ~ /^\\//{print $NF}'`;

/**
 * Apache mod_ssl: `SSLSessionTicketKeyFile` holds exactly one key, which both encrypts and decrypts.
 * There is no decrypt-only slot: a staged key is a file in keyDir that no directive names yet.
 */
export const apacheAdapter: ServerAdapter = {
  kind: 'apache',
  keySizes: [48],
  managedFileName: 'tickets.conf',
  configDump(node) {
    // The listing of included files. Its stderr is not what `apache2ctl -t` prints (no "Syntax
    // OK"; the failure goes to stdout), so the check still runs on its own.
    return {
      command: `${apacheBinary(node.check)} -f ${quoteShell(node.config)} -t -D DUMP_INCLUDES -D DUMP_RUN_CFG`,
      isCheck: false,
    };
  },
  includeCheck(node) {
    const managed = `${node.keyDir}/tickets.conf`;
    return `awk -v p=${quoteShell(managed)} '${listed} && $NF==p{f=1} END{exit !f}'`;
  },
  foreignKeysScript(node) {
    const managed = `${node.keyDir}/tickets.conf`;
    return (
      `${includedFiles} | while IFS= read -r f; do ` +
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
  pidFileScript() {
    return `sed -n 's/^PidFile: "\\(.*\\)"$/\\1/p'`;
  },
  generationScript() {
    // A graceful restart keeps the parent and replaces its children.
    return childrenScript();
  },
  lifetimeScript() {
    // The first line counts: the first SSLSessionCacheTimeout of the included files, else
    // mod_ssl's default of 300 s.
    return `${includedFiles} | xargs -r awk 'tolower($1)=="sslsessioncachetimeout"{print $2; exit}'; echo 300`;
  },
};

/**
 * The program that lists the includes: the one the node's check runs when it is Apache's own
 * (Red Hat's `httpd` or `apachectl`, a build under /usr/local), else Debian's `apache2ctl`,
 * which sets the environment its `apache2` needs.
 */
export function apacheBinary(check: string): string {
  const [bin] = check.trim().split(/\s+/);
  return bin !== undefined &&
    /^(?:\/[A-Za-z0-9._/-]*\/)?(?:apache2ctl|apachectl|httpd|apache2)$/.test(bin)
    ? bin
    : 'apache2ctl';
}

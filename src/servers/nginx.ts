import type { NodeSpec } from '../inventory/types.js';
import { quoteShell } from '../remote/shell.js';
import { childrenScript } from './process-children.js';
import { directivePaths, fileRingEntries } from './ring-entries.js';
import type { ConfigDump, ServerAdapter } from './types.js';

const directive = 'ssl_session_ticket_key';

/**
 * nginx: `ssl_session_ticket_key FILE;` repeated in <keyDir>/tickets.conf. The first key encrypts,
 * every listed key decrypts, so a staged key is simply appended and promoted by moving it first.
 */
export const nginxAdapter: ServerAdapter = {
  kind: 'nginx',
  keySizes: [48, 80],
  managedFileName: 'tickets.conf',
  configDump: nginxDump,
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
  pidFileScript() {
    return `awk '$1=="pid"{p=$2; sub(/;$/,"",p); gsub(/["\\047]/,"",p); print p; exit}'`;
  },
  generationScript() {
    // The master keeps its pid across reloads; its workers are replaced when a config is taken.
    return `[ -n "\${stek_pf:-}" ] || stek_pf=/run/nginx.pid\n${childrenScript()}`;
  },
  drainedScript() {
    // The master tells the old workers to quit about 100 ms after the new ones start; a worker
    // sets its title to "worker process is shutting down" as it closes its listening sockets.
    return [
      'stek_busy=',
      'for stek_o in $g0; do',
      // No newline ends a cmdline: read returns 1 at EOF but keeps what it read.
      '  stek_cl=; read -r stek_cl < "/proc/$stek_o/cmdline"',
      '  case "$stek_cl" in *"worker process is shutting down"*) ;; *"worker process"*) stek_busy=1;; esac',
      'done',
      '[ -z "$stek_busy" ]',
    ].join('\n');
  },
  // ngx_master_process_cycle: on a reload the master starts the new workers, sleeps 100 ms,
  // then tells the old ones to shut down; the new ones were seen after they started.
  drainDelayMs: 100,
  factsScript(node) {
    // The dump prints every file nginx read under a header: the managed file must be among them
    // (I), and ticket keys named in any other file fight with it (N). The first
    // ssl_session_timeout (T; nginx's default is 5m) and pid (P) anywhere, paths unquoted (nginx
    // takes "..." and '...'). A failed nginx -T prints nothing: then no P
    // record, and each transaction looks for the pid file in its own dump (pidFileScript).
    const managed = `${node.keyDir}/tickets.conf`;
    return (
      `awk -v m=${quoteShell(managed)} -v h=${quoteShell(`# configuration file ${managed}:`)} '` +
      `$0==h{inc=1} /^# configuration file /{f=$4; sub(/:$/,"",f); next} ` +
      `f!=m && $1=="${directive}"{p=$2; sub(/;$/,"",p); gsub(/["\\047]/,"",p); n[++k]=p} ` +
      `!tf && $1=="ssl_session_timeout"{t=$2; sub(/;$/,"",t); tf=1} ` +
      `!pf && $1=="pid"{pid=$2; sub(/;$/,"",pid); gsub(/["\\047]/,"",pid); pf=1} ` +
      `END{if (inc) print "I|yes"; for (i=1;i<=k;i++) print "N|" n[i]; if (tf) print "T|" t; else if (NR) print "T|5m"; if (NR) print "P|" pid}'`
    );
  },
};

/** Where Debian's and nginx.org's packages keep the main config, which `nginx -t` then tests. */
const packagedConfig = '/etc/nginx/nginx.conf';

/**
 * `nginx -T` runs the same config test as `nginx -t`, with the same exit status and messages on
 * stderr, and then prints every config file it read (never the key or certificate files). When
 * the node's check is `nginx -t` of the node's config (with or without -q and -c), the dump
 * stands for the check; otherwise the check runs on its own and the dump reads the node's config.
 */
function nginxDump(node: NodeSpec): ConfigDump {
  const words = node.check.trim().split(/\s+/);
  const [bin, ...args] = words;
  let test = false;
  let quiet = false;
  let config: string | undefined;
  let plain = bin !== undefined && /^(?:\/[A-Za-z0-9._/-]*\/)?nginx$/.test(bin);
  for (let i = 0; plain && i < args.length; i++) {
    const a = args[i];
    if (a === '-t' && !test) test = true;
    else if (a === '-q' && !quiet) quiet = true;
    else if (a === '-c' && config === undefined && args[i + 1] !== undefined) config = args[++i];
    else plain = false;
  }
  const sameConfig = config === undefined ? node.config === packagedConfig : config === node.config;
  if (bin && plain && test && sameConfig) {
    const c = config === undefined ? '' : ` -c ${quoteShell(config)}`;
    return { command: `${bin} -T${quiet ? ' -q' : ''}${c}`, isCheck: true };
  }
  return { command: `nginx -T -c ${quoteShell(node.config)}`, isCheck: false };
}

import { keyDirective, managedFileName, renderManagedFile } from '../node/managed-file.js';
import { quoteShell } from '../remote/shell.js';
import { directivePaths, fileRingEntries } from './ring-entries.js';
import type { RingEntry, ServerAdapter } from './types.js';

/**
 * Node.js (tls.createServer, https.createServer, cluster workers): a process holds exactly one
 * 48-byte key, set with server.setTicketKeys(). There is no server config to rewrite; the
 * managed file `<keyDir>/tickets.conf` names the key file (`key <path>`), and every process reads
 * it through `useTicketKeys` from 'stekctl/node', which watches the directory. So, as for Apache,
 * all nodes switch together and a staged key is a file that the managed file does not name yet.
 *
 * There is no process generation to wait for: the key is in use when the servers issue tickets
 * under it, which the rotation confirms with handshakes. `reload` defaults to `true` (nothing to
 * do while useTicketKeys watches); a service that reads the key only at start sets it to a
 * signal or `systemctl reload app`.
 */
export const nodeAdapter: ServerAdapter = {
  kind: 'node',
  keySizes: [48],
  managedFileName,
  includeCheck(node) {
    // No config file names the managed file: the application does, in code. It counts as
    // included once the file exists.
    return `[ -f ${quoteShell(`${node.keyDir}/${managedFileName}`)} ]`;
  },
  foreignKeysScript() {
    return 'true';
  },
  deriveRing(raw, node, now) {
    // The first `key` line is the one key every process uses; it encrypts and decrypts.
    const paths = directivePaths(raw.conf, keyDirective);
    const entries = fileRingEntries(raw, paths.slice(0, 1), () => 'encrypt', now);
    const managed = `${node.keyDir}/${managedFileName}`;
    return entries.map((e) => withNodeProblems(e, paths.length, managed));
  },
  includeLine(node) {
    return `useTicketKeys(server, { keyDir: '${node.keyDir}' })   // from 'stekctl/node', in every process that serves TLS`;
  },
  keyLayout: 'node',
  decryptOnly: false,
  renderManaged(_node, ring) {
    if (!ring) return { kind: 'text', text: '' };
    return { kind: 'text', text: renderManagedFile(ring.encrypt.path) };
  },
  generationScript() {
    // Leaves stek_gen empty: the transaction then skips its wait for new processes.
    return ':';
  },
  lifetimeScript() {
    // Node's default sessionTimeout; an application that changes it knows better.
    return 'echo 300';
  },
};

/** Node.js reads one 48-byte key: a longer key or a second `key` line is a mistake to show. */
function withNodeProblems(entry: RingEntry, lines: number, managed: string): RingEntry {
  const problems = entry.problem ? [entry.problem] : [];
  if (lines > 1) problems.push(`${managed} names ${lines} keys; Node.js uses only the first`);
  if (entry.size === 80)
    problems.push(`${entry.source} is an 80-byte key; Node.js takes 48-byte keys only`);
  return { ...entry, problem: problems.length > 0 ? problems.join('; ') : undefined };
}

import { isAbsolute, join } from 'node:path';

/**
 * The managed file of a Node.js pool: `<keyDir>/tickets.conf`, which stekctl rewrites atomically
 * when it switches keys. One directive names the 48-byte key file the servers use:
 *
 *   # managed by stekctl; do not edit
 *   key /etc/stekctl/node-tickets/0f1e2d3c4b5a69788796a5b4c3d2e1f0.key
 *
 * Node.js holds exactly one ticket key, so only the first `key` line counts. An empty file (or
 * one without a `key` line) names no key yet: the servers keep the key they started with.
 */
export const managedFileName = 'tickets.conf';
export const keyDirective = 'key';

/** The managed file naming `keyPath` (absolute), as stekctl writes it. */
export function renderManagedFile(keyPath: string): string {
  return `# managed by stekctl; do not edit\n${keyDirective} ${keyPath}\n`;
}

/** Every key file the managed file names, in order, resolved against keyDir. */
export function parseManagedFile(text: string, keyDir: string): string[] {
  const paths: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^key\s+"?([^"\s]+)"?\s*$/.exec(line);
    if (!m?.[1]) continue;
    paths.push(isAbsolute(m[1]) ? m[1] : join(keyDir, m[1]));
  }
  return paths;
}

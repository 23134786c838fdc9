import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadSshConfig, type SshConfig } from './ssh-config.js';

interface Loaded {
  config: SshConfig;
  /** The files read (includes too) and the files whose appearance would change the config. */
  watched: string[];
  signature: string;
}

/** The last read per choice of config, reused while none of its files changed. */
const loads = new Map<string, Promise<Loaded>>();

/**
 * The client config every connection resolves its node with (loadSshConfig), read and parsed
 * once and handed out again while every file it read, and every root file it would read, keeps
 * its size and mtime. A fleet of thousands would otherwise parse the operator's config once per
 * login. A changed file is read again, as before a reconnect after a long overlap.
 */
export async function loadSharedSshConfig(
  choice: string | undefined,
  home: string = homedir(),
): Promise<SshConfig> {
  const key = `${choice ?? ''}\0${home}`;
  const pending = loads.get(key);
  if (pending !== undefined) {
    const loaded = await pending.catch(() => undefined);
    if (loaded !== undefined && signatureOf(loaded.watched) === loaded.signature) {
      return loaded.config;
    }
    if (loads.get(key) !== pending) return loadSharedSshConfig(choice, home);
  }
  const load = readConfig(choice, home);
  loads.set(key, load);
  try {
    return (await load).config;
  } catch (err) {
    if (loads.get(key) === load) loads.delete(key);
    throw err;
  }
}

async function readConfig(choice: string | undefined, home: string): Promise<Loaded> {
  const roots =
    choice === 'none'
      ? []
      : choice !== undefined
        ? [choice]
        : [join(home, '.ssh', 'config'), '/etc/ssh/ssh_config'];
  const before = signatureOf(roots);
  const config = await loadSshConfig(choice, home);
  const watched = [...new Set([...roots, ...config.files])];
  const signature = signatureOf(watched);
  // A root changed while it was read: hand this read out once, read again next time.
  const settled = signatureOf(roots) === before;
  return { config, watched, signature: settled ? signature : '' };
}

/**
 * Size and mtime of each file, "missing" for one that is not there. Synchronous on purpose: it
 * runs on every login, and a stat of a local file takes microseconds on this thread, against a
 * thread-pool round trip (and an Error built for every absent file) with fs/promises.
 */
function signatureOf(files: string[]): string {
  return files
    .map((file) => {
      try {
        const info = statSync(file, { throwIfNoEntry: false });
        return info ? `${info.mtimeMs}:${info.size}` : 'missing';
      } catch {
        return 'missing';
      }
    })
    .join('|');
}

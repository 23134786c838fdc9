import { stat } from 'node:fs/promises';
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
    if (loaded !== undefined && (await signatureOf(loaded.watched)) === loaded.signature) {
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
  const before = await signatureOf(roots);
  const config = await loadSshConfig(choice, home);
  const watched = [...new Set([...roots, ...config.files])];
  const signature = await signatureOf(watched);
  // A root changed while it was read: hand this read out once, read again next time.
  const settled = (await signatureOf(roots)) === before;
  return { config, watched, signature: settled ? signature : '' };
}

async function signatureOf(files: string[]): Promise<string> {
  const parts = await Promise.all(
    files.map(async (file) => {
      try {
        const info = await stat(file);
        return `${info.mtimeMs}:${info.size}`;
      } catch {
        return 'missing';
      }
    }),
  );
  return parts.join('|');
}

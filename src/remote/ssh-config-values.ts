/**
 * How ssh_config values are read: `~` paths, Include globs, %-tokens, ${VARIABLES}, ports and
 * ProxyJump entries, with ssh's rules and errors that name the file.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { matchGlob } from './host-patterns.js';
import { SshConfigError } from './ssh-config-error.js';

/** `~` and `~/x` (the home directory); `~user` is refused rather than guessed. */
export function expandTilde(path: string, home: string, file: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  if (path.startsWith('~'))
    throw new SshConfigError(file, `${path}: ~user paths are not supported`);
  return path;
}

/** Sorted matches of a glob over the file system (`*` and `?` per path part), as glob(3). */
export async function expandGlob(pattern: string): Promise<string[]> {
  if (!/[*?]/.test(pattern)) return [pattern];
  const parts = pattern.split('/');
  let paths = [parts[0] === '' ? '/' : (parts[0] ?? '')];
  for (const part of parts.slice(1)) {
    if (part === '') continue;
    const next: string[] = [];
    for (const base of paths) {
      if (!/[*?]/.test(part)) {
        next.push(join(base, part));
        continue;
      }
      const names = await readdir(base).catch(() => [] as string[]);
      for (const name of names.sort()) {
        // As in glob(3), a leading dot must be matched explicitly.
        if (name.startsWith('.') && !part.startsWith('.')) continue;
        if (matchGlob(name, part)) next.push(join(base, name));
      }
    }
    paths = next;
  }
  return paths;
}

/** `[user@]host[:port]`, `[user@][v6addr]:port` or `ssh://[user@]host[:port]`. */
export function parseJumpSpec(
  spec: string,
  file: string,
): { user: string | undefined; host: string; port: number | undefined } {
  const bad = (): SshConfigError =>
    new SshConfigError(file, `ProxyJump entry "${spec}" is not [user@]host[:port]`);
  let rest = spec;
  if (/^ssh:\/\//i.test(rest)) rest = rest.slice(6).replace(/\/$/, '');
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (user === '') throw bad();
  }
  let host = rest;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(rest);
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    [host = '', portText] = rest.split(':');
  }
  if (host === '' || /[\s/]/.test(host)) throw bad();
  const port = portText === undefined ? undefined : parsePort(portText, file, 'ProxyJump');
  return { user, host, port };
}

export function parsePort(text: string, file: string, keyword: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new SshConfigError(file, `${keyword} "${text}" is not a port number (1-65535)`);
  }
  return port;
}

/** `%%` and the given `%x` tokens; any other token is an error, as in ssh. */
export function expandTokens(
  value: string,
  tokens: Record<string, string>,
  file: string,
  keyword: string,
): string {
  return value.replace(/%(.?)/g, (all, key: string) => {
    if (key === '%') return '%';
    const token = Object.hasOwn(tokens, key) ? tokens[key] : undefined;
    if (token === undefined) {
      throw new SshConfigError(file, `${keyword} "${value}": unsupported token ${all}`);
    }
    return token;
  });
}

/** `${NAME}` from the environment; an unset variable is an error, as in ssh. */
export function expandVariables(value: string, vars: NodeJS.ProcessEnv, file: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_all, name: string) => {
    const found = vars[name];
    if (found === undefined) {
      throw new SshConfigError(file, `"${value}": environment variable ${name} is not set`);
    }
    return found;
  });
}

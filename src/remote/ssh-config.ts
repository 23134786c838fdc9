/**
 * The OpenSSH client configuration (ssh_config(5)), read and evaluated the way ssh(1) does
 * (readconf.c): files are read in order, `Host` and `Match` blocks switch the lines below them on
 * or off, and for every keyword the first value obtained wins (IdentityFile accumulates).
 *
 * The `ssh-config` package tokenizes the files; evaluation is done here because its own
 * `compute()` follows no `Include`, runs `Match exec` commands through a shell and matches `?`
 * as "zero or one character".
 *
 * Supported: Host (patterns, `!negation`), Match (all, host, originalhost, user, localuser,
 * final; negated with `!`), Include (globs, relative to ~/.ssh or /etc/ssh, depth 16).
 * `Match exec`, `canonical`, `tagged`, `localnetwork` and unknown criteria never match: stekctl
 * runs no local commands from the config and does not canonicalize host names. `Match final`
 * blocks are applied in the single pass (ssh applies them in a second one).
 */
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { LineType, parse, type Line } from 'ssh-config';
import { matchGlob } from './host-patterns.js';
import { SshConfigError } from './ssh-config-error.js';
import { expandGlob, expandTilde } from './ssh-config-values.js';
import { describeFsError } from './ssh-auth.js';

export { SshConfigError };

/** One line of a config, with the block it opens or the files it includes. */
export type Entry =
  | { kind: 'option'; keyword: string; args: string[]; file: string }
  | { kind: 'host'; patterns: string[]; body: Entry[] }
  | { kind: 'match'; criteria: string[]; body: Entry[]; file: string }
  | { kind: 'include'; files: Entry[][] };

export interface SshConfig {
  /** Every file read, includes too, in reading order. */
  readonly files: string[];
  /** One list per top-level file: each starts with every line switched on. */
  readonly roots: readonly Entry[][];
}

/** The options one host obtains; values are as written, before %-token expansion. */
export interface HostOptions {
  /** Keyword (lower case) -> the first value obtained, and the file that set it. */
  first: Map<string, Setting>;
  /** Every IdentityFile, in order. */
  identityFiles: Setting[];
  /** Whichever of ProxyJump and ProxyCommand came first (ssh ignores the later one). */
  proxy: { kind: 'jump' | 'command'; value: string; file: string } | undefined;
}

export interface Setting {
  value: string;
  file: string;
}

export interface LookupContext {
  /** A user fixed before the config is read (the inventory's), as `ssh -l` does. */
  user?: string | undefined;
  localUser: string;
}

const systemConfig = '/etc/ssh/ssh_config';
const maxIncludeDepth = 16;

/**
 * Reads the config stekctl honours. `choice` undefined: ~/.ssh/config then /etc/ssh/ssh_config,
 * each skipped when missing. 'none': no config at all (as `ssh -F none`). Otherwise that one
 * file, which must exist (as `ssh -F FILE`: the system file is then not read).
 */
export async function loadSshConfig(
  choice: string | undefined,
  home: string = homedir(),
): Promise<SshConfig> {
  const files: string[] = [];
  const roots: Entry[][] = [];
  const userDir = join(home, '.ssh');
  const state = (baseDir: string, checkPerm: boolean): ReadState => ({
    home,
    baseDir,
    depth: 0,
    files,
    checkPerm,
  });
  if (choice === 'none') return { files, roots };
  if (choice !== undefined) {
    roots.push(await readConfigFile(choice, state(userDir, false), true));
    return { files, roots };
  }
  roots.push(await readConfigFile(join(userDir, 'config'), state(userDir, true), false));
  roots.push(await readConfigFile(systemConfig, state('/etc/ssh', false), false));
  return { files, roots };
}

/** Parses config text (for tests and for files already read). */
export function parseSshConfigText(text: string, file = '(text)'): SshConfig {
  return { files: [file], roots: [toEntries(parseText(text, file), file)] };
}

interface ReadState {
  home: string;
  /** Where relative Include paths start. */
  baseDir: string;
  depth: number;
  files: string[];
  /** Refuse files others could have written, as ssh does for ~/.ssh/config and includes. */
  checkPerm: boolean;
}

async function readConfigFile(file: string, state: ReadState, required: boolean): Promise<Entry[]> {
  let text: string;
  let info: Stats;
  try {
    info = await stat(file);
    if (info.isDirectory()) throw Object.assign(new Error('directory'), { code: 'EISDIR' });
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new SshConfigError(file, `cannot read it: ${describeFsError(err)}`);
  }
  const uid = process.getuid?.();
  const foreign = uid !== undefined && info.uid !== 0 && info.uid !== uid;
  if (state.checkPerm && (foreign || (info.mode & 0o022) !== 0)) {
    // The config decides where connections go: one that others may write is not trusted.
    throw new SshConfigError(
      file,
      'bad owner or permissions: it must be owned by you (or root) and writable only by its owner',
      `chmod go-w ${file}`,
    );
  }
  state.files.push(file);
  return expandIncludes(toEntries(parseText(text, file), file), state, file);
}

function parseText(text: string, file: string): Line[] {
  try {
    return parse(text);
  } catch (err) {
    throw new SshConfigError(file, err instanceof Error ? err.message : String(err));
  }
}

function argsOf(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value];
  if (Array.isArray(value)) return value.map((v: { val: string }) => v.val);
  return [];
}

function toEntries(lines: readonly Line[], file: string): Entry[] {
  const entries: Entry[] = [];
  for (const line of lines) {
    if (line.type !== LineType.DIRECTIVE || line.param === '') continue;
    const keyword = line.param.toLowerCase();
    const args = argsOf(line.value);
    const body = 'config' in line ? toEntries(line.config, file) : [];
    if (keyword === 'host') entries.push({ kind: 'host', patterns: args, body });
    else if (keyword === 'match') entries.push({ kind: 'match', criteria: args, body, file });
    else entries.push({ kind: 'option', keyword, args, file });
  }
  return entries;
}

/** Replaces each `Include` with the entries of the files it names, read now. */
async function expandIncludes(entries: Entry[], state: ReadState, file: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const entry of entries) {
    if (entry.kind === 'host' || entry.kind === 'match') {
      out.push({ ...entry, body: await expandIncludes(entry.body, state, file) });
    } else if (entry.kind === 'option' && entry.keyword === 'include') {
      if (state.depth >= maxIncludeDepth) {
        throw new SshConfigError(file, `Include nested more than ${maxIncludeDepth} deep`);
      }
      const files: Entry[][] = [];
      for (const pattern of entry.args) {
        const path = expandTilde(pattern, state.home, file);
        const absolute = isAbsolute(path) ? path : join(state.baseDir, path);
        for (const match of await expandGlob(absolute)) {
          const inner = { ...state, depth: state.depth + 1, checkPerm: true };
          files.push(await readConfigFile(match, inner, false));
        }
      }
      out.push({ kind: 'include', files });
    } else {
      out.push(entry);
    }
  }
  return out;
}

/**
 * Evaluates the config for `host` (the name as written: an alias or an address), as ssh does
 * for its destination: first obtained value wins, IdentityFile accumulates.
 */
export function lookupHost(config: SshConfig, host: string, ctx: LookupContext): HostOptions {
  const result: HostOptions = { first: new Map(), identityFiles: [], proxy: undefined };
  const original = host.toLowerCase();
  const apply = (entry: Extract<Entry, { kind: 'option' }>): void => {
    const value = entry.args.join(' ');
    if (entry.keyword === 'identityfile') {
      if (value !== '') result.identityFiles.push({ value, file: entry.file });
      return;
    }
    if (entry.keyword === 'proxyjump' || entry.keyword === 'proxycommand') {
      const kind = entry.keyword === 'proxyjump' ? 'jump' : 'command';
      result.proxy ??= { kind, value, file: entry.file };
      return;
    }
    if (!result.first.has(entry.keyword))
      result.first.set(entry.keyword, { value, file: entry.file });
  };
  const currentHost = (): string =>
    (result.first.get('hostname')?.value ?? host).replaceAll('%h', host).toLowerCase();
  const currentUser = (): string => ctx.user ?? result.first.get('user')?.value ?? ctx.localUser;
  const walk = (entries: readonly Entry[], active: boolean): void => {
    for (const entry of entries) {
      if (entry.kind === 'option') {
        if (active) apply(entry);
      } else if (entry.kind === 'host') {
        walk(entry.body, matchHostLine(entry.patterns, original));
      } else if (entry.kind === 'match') {
        const matched = matchCriteria(entry.criteria, entry.file, {
          host: currentHost(),
          originalHost: original,
          user: currentUser(),
          localUser: ctx.localUser,
        });
        walk(entry.body, matched);
      } else if (active) {
        // An included file starts with the lines of its includer's block switched on.
        for (const file of entry.files) walk(file, true);
      }
    }
  };
  if (ctx.user !== undefined) result.first.set('user', { value: ctx.user, file: '(inventory)' });
  for (const root of config.roots) walk(root, true);
  return result;
}

/** A `Host` line: any pattern matches and no `!pattern` does. Patterns are whole words. */
function matchHostLine(patterns: string[], host: string): boolean {
  let matched = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (!matchGlob(host, pattern)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** A comma-separated pattern list (Match arguments), with `!negation`. */
export function matchPatternList(list: string, value: string, ignoreCase: boolean): boolean {
  const subject = ignoreCase ? value.toLowerCase() : value;
  let matched = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const body = negated ? raw.slice(1) : raw;
    const pattern = ignoreCase ? body.toLowerCase() : body;
    if (pattern === '' || !matchGlob(subject, pattern)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

interface MatchSubject {
  host: string;
  originalHost: string;
  user: string;
  localUser: string;
}

function matchCriteria(criteria: string[], file: string, subject: MatchSubject): boolean {
  let all = true;
  for (let i = 0; i < criteria.length; i++) {
    const raw = criteria[i] ?? '';
    const negated = raw.startsWith('!');
    const name = (negated ? raw.slice(1) : raw).toLowerCase();
    let result: boolean;
    if (name === 'all' || name === 'final') {
      result = true;
    } else if (name === 'canonical') {
      result = false;
    } else {
      const arg = criteria[++i];
      if (arg === undefined) throw new SshConfigError(file, `Match ${raw}: missing argument`);
      if (name === 'host') result = matchPatternList(arg, subject.host, true);
      else if (name === 'originalhost') result = matchPatternList(arg, subject.originalHost, true);
      else if (name === 'user') result = matchPatternList(arg, subject.user, false);
      else if (name === 'localuser') result = matchPatternList(arg, subject.localUser, false);
      else result = false;
    }
    if (negated) result = !result;
    // Every criterion is checked (for syntax) even once the result is known.
    all &&= result;
  }
  return all;
}

/**
 * Where and how stekctl logs in to a node, resolved in one place from the inventory and the
 * OpenSSH client config.
 *
 * Precedence: a setting the inventory wrote (node, pool or defaults) wins over the ssh config,
 * which wins over stekctl's defaults (current user, port 22, ssh-agent and ~/.ssh keys). The
 * inventory `host` is what `Host` patterns match, as the destination of `ssh HOST` is.
 *
 * Host keys are always checked against the node's knownHosts file, under the name ssh uses:
 * the HostName it connects to with the port (`[host]:port` unless 22), or HostKeyAlias when set.
 * A node written as alias `web-2` with `HostName 10.0.0.12` is thus checked as `10.0.0.12`.
 * Jump hosts are checked the same way, in the same file. UserKnownHostsFile and
 * StrictHostKeyChecking are ignored: stekctl is always strict (--accept-new aside).
 */
import { homedir, hostname, userInfo } from 'node:os';
import type { NodeSpec, PoolSpec, SshConfigurableField } from '../inventory/types.js';
import { formatHostPort } from './errors.js';
import { stripBrackets } from './host-patterns.js';
import {
  loadSshConfig,
  lookupHost,
  SshConfigError,
  type HostOptions,
  type SshConfig,
} from './ssh-config.js';
import {
  expandTilde,
  expandTokens,
  expandVariables,
  parseJumpSpec,
  parsePort,
} from './ssh-config-values.js';

/** One SSH server to log in to: a jump host or the node itself. */
export interface SshEndpoint {
  /** The name as written: the inventory host or a ProxyJump entry. */
  alias: string;
  /** How messages name it: the alias, with the address when they differ. */
  label: string;
  /** Where to connect (HostName, else the alias). */
  host: string;
  port: number;
  user: string;
  /** Private key files to offer, in order. */
  identityFiles: string[];
  /** The inventory named the key file: unreadable is then an error, not a skip. */
  identityRequired: boolean;
  /** IdentitiesOnly: the agent is used only for encrypted identity files. */
  identitiesOnly: boolean;
  /** ssh-agent socket; undefined means no agent. */
  agent: string | undefined;
  /** The host and port known_hosts lists the key under. */
  hostKey: { host: string; port: number };
  connectTimeoutMs: number;
}

export interface SshTarget extends SshEndpoint {
  /** Jump hosts in connection order: the first is dialled directly, the node through the last. */
  jumps: SshEndpoint[];
  knownHosts: string;
}

export interface SshEnvironment {
  home: string;
  localUser: string;
  localHost: string;
  vars: NodeJS.ProcessEnv;
}

/** Deeper chains are almost surely a loop between ProxyJump lines. */
const maxJumps = 8;

export function currentSshEnvironment(): SshEnvironment {
  let localUser: string;
  try {
    localUser = userInfo().username;
  } catch {
    localUser = process.env['USER'] ?? process.env['LOGNAME'] ?? '';
  }
  return { home: homedir(), localUser, localHost: hostname(), vars: process.env };
}

/** Resolves the node's login: address, user, port, keys, agent and jump hosts. */
export function resolveSshTarget(
  node: NodeSpec,
  config: SshConfig,
  env: SshEnvironment = currentSshEnvironment(),
): SshTarget {
  const set = (field: SshConfigurableField): boolean =>
    node.ssh.explicit === undefined || node.ssh.explicit.includes(field);
  const alias = stripBrackets(node.host);
  const fixedUser = set('user') ? node.ssh.user : undefined;
  const opts = lookupHost(config, alias, { user: fixedUser, localUser: env.localUser });
  const host = hostNameOf(opts, alias);
  const user = fixedUser ?? opts.first.get('user')?.value ?? node.ssh.user;
  const port = set('port') ? node.ssh.port : (portOf(opts) ?? node.ssh.port);
  const inventoryKey = set('identityFile') ? node.ssh.identityFile : undefined;
  const endpoint: SshEndpoint = {
    alias,
    label: labelOf(alias, host, port),
    host,
    port,
    user,
    identityFiles:
      inventoryKey !== undefined
        ? [inventoryKey]
        : identityFilesOf(opts, { alias, host, port, user }, env),
    identityRequired: inventoryKey !== undefined,
    identitiesOnly: yesNo(opts, 'identitiesonly') ?? false,
    agent: agentOf(opts, env),
    hostKey: hostKeyOf(opts, host, port),
    connectTimeoutMs: set('connectTimeout')
      ? node.ssh.connectTimeoutMs
      : (timeoutOf(opts) ?? node.ssh.connectTimeoutMs),
  };
  const context: HopContext = { config, env, node, inventoryKey };
  return { ...endpoint, jumps: jumpsOf(opts, alias, context, 0), knownHosts: node.ssh.knownHosts };
}

/**
 * Makes every node honour `file` (a path, or 'none'; undefined keeps ~/.ssh/config and
 * /etc/ssh/ssh_config) and resolves each node once, so that an unreadable config, a bad value
 * or an unsupported ProxyCommand is reported before any node is contacted. A node whose probe
 * host defaulted to its (alias) host is probed at the HostName instead, when reached directly.
 * Throws SshConfigError (a UsageError, exit 2).
 */
export async function useSshConfig(
  pools: readonly PoolSpec[],
  file: string | undefined,
  env: SshEnvironment = currentSshEnvironment(),
): Promise<void> {
  const config = await loadSshConfig(file, env.home);
  for (const pool of pools) {
    for (const node of pool.nodes) {
      if (file !== undefined) node.ssh.configFile = file;
      const target = resolveSshTarget(node, config, env);
      // A node written as an ssh alias is probed where ssh connects, unless probe.host says
      // otherwise: the alias itself is usually no DNS name.
      if (node.probe.host === node.host && target.jumps.length === 0) {
        node.probe.host = target.host;
      }
    }
  }
}

interface HopContext {
  config: SshConfig;
  env: SshEnvironment;
  node: NodeSpec;
  /** Offered to jump hosts after their own keys: operators often use one key everywhere. */
  inventoryKey: string | undefined;
}

/**
 * The jump chain of a host, as ssh builds it: `ProxyJump a,b` reaches the node through b, b
 * through a, and a through a's own ProxyJump (if any); b's own ProxyJump is overridden.
 */
function jumpsOf(opts: HostOptions, name: string, ctx: HopContext, depth: number): SshEndpoint[] {
  const proxy = opts.proxy;
  if (proxy === undefined || proxy.value.toLowerCase() === 'none') return [];
  if (proxy.kind === 'command') {
    throw new SshConfigError(
      proxy.file,
      `${name}: ProxyCommand is not supported (stekctl runs no local commands)`,
      'Use ProxyJump [user@]host[:port] for bastions, or ProxyCommand none for this host.',
    );
  }
  if (depth >= maxJumps) {
    throw new SshConfigError(
      proxy.file,
      `${name}: ProxyJump chain is longer than ${maxJumps} hops; do two hosts jump through each other?`,
    );
  }
  const specs = proxy.value.split(',').map((s) => s.trim());
  const hops = specs.map((spec) => resolveHop(spec, proxy.file, ctx));
  const first = hops[0];
  if (first === undefined) return [];
  const before = jumpsOf(first.opts, first.endpoint.alias, ctx, depth + 1);
  const chain = [...before, ...hops.map((h) => h.endpoint)];
  if (chain.length > maxJumps) {
    throw new SshConfigError(proxy.file, `${name}: more than ${maxJumps} jump hosts`);
  }
  return chain;
}

function resolveHop(
  spec: string,
  file: string,
  ctx: HopContext,
): { endpoint: SshEndpoint; opts: HostOptions } {
  const parsed = parseJumpSpec(spec, file);
  const { env } = ctx;
  const opts = lookupHost(ctx.config, parsed.host, { user: parsed.user, localUser: env.localUser });
  const host = hostNameOf(opts, parsed.host);
  const user = parsed.user ?? opts.first.get('user')?.value ?? env.localUser;
  const port = parsed.port ?? portOf(opts) ?? 22;
  const own = identityFilesOf(opts, { alias: parsed.host, host, port, user }, env);
  const extra = ctx.inventoryKey !== undefined && !own.includes(ctx.inventoryKey);
  const endpoint: SshEndpoint = {
    alias: parsed.host,
    label: `jump host ${labelOf(parsed.host, host, port)}`,
    host,
    port,
    user,
    identityFiles: extra ? [...own, ctx.inventoryKey as string] : own,
    identityRequired: false,
    identitiesOnly: yesNo(opts, 'identitiesonly') ?? false,
    agent: agentOf(opts, env),
    hostKey: hostKeyOf(opts, host, port),
    connectTimeoutMs: timeoutOf(opts) ?? ctx.node.ssh.connectTimeoutMs,
  };
  return { endpoint, opts };
}

function hostNameOf(opts: HostOptions, alias: string): string {
  const setting = opts.first.get('hostname');
  if (setting === undefined) return alias;
  return stripBrackets(expandTokens(setting.value, { h: alias }, setting.file, 'HostName'));
}

function portOf(opts: HostOptions): number | undefined {
  const setting = opts.first.get('port');
  return setting === undefined ? undefined : parsePort(setting.value, setting.file, 'Port');
}

/** ConnectTimeout in seconds, or with an s/m/h suffix as ssh's time format allows. */
function timeoutOf(opts: HostOptions): number | undefined {
  const setting = opts.first.get('connecttimeout');
  if (setting === undefined) return undefined;
  const match = /^(\d{1,6})([smh]?)$/i.exec(setting.value);
  const seconds =
    match === null
      ? NaN
      : Number(match[1]) * ({ '': 1, s: 1, m: 60, h: 3600 }[match[2]?.toLowerCase() ?? ''] ?? 1);
  if (!(seconds > 0)) {
    throw new SshConfigError(setting.file, `ConnectTimeout "${setting.value}" is not a duration`);
  }
  return seconds * 1000;
}

function yesNo(opts: HostOptions, keyword: string): boolean | undefined {
  const value = opts.first.get(keyword)?.value.toLowerCase();
  return value === undefined ? undefined : value === 'yes' || value === 'true';
}

function hostKeyOf(opts: HostOptions, host: string, port: number): { host: string; port: number } {
  // ssh records keys under HostKeyAlias alone, without the port (sshconnect.c).
  const alias = opts.first.get('hostkeyalias')?.value;
  return alias !== undefined ? { host: alias, port: 22 } : { host, port };
}

function labelOf(alias: string, host: string, port: number): string {
  const where = formatHostPort(host, port);
  return alias.toLowerCase() === host.toLowerCase() ? where : `${alias} (${where})`;
}

/** IdentityAgent: a socket path, `SSH_AUTH_SOCK`, `$VARIABLE` (holding a path) or `none`. */
function agentOf(opts: HostOptions, env: SshEnvironment): string | undefined {
  const variable = (name: string): string | undefined => env.vars[name] || undefined;
  const setting = opts.first.get('identityagent');
  if (setting === undefined) return variable('SSH_AUTH_SOCK');
  const value = setting.value;
  if (value.toLowerCase() === 'none') return undefined;
  if (value === 'SSH_AUTH_SOCK') return variable('SSH_AUTH_SOCK');
  if (/^\$[A-Za-z_][A-Za-z0-9_]*$/.test(value)) return variable(value.slice(1));
  return expandTilde(expandVariables(value, env.vars, setting.file), env.home, setting.file);
}

function identityFilesOf(
  opts: HostOptions,
  login: { alias: string; host: string; port: number; user: string },
  env: SshEnvironment,
): string[] {
  const tokens: Record<string, string> = {
    d: env.home,
    h: login.host,
    k: opts.first.get('hostkeyalias')?.value ?? login.alias,
    L: env.localHost.split('.')[0] ?? env.localHost,
    l: env.localHost,
    n: login.alias,
    p: String(login.port),
    r: login.user,
    u: env.localUser,
    i: String(process.getuid?.() ?? ''),
  };
  const files: string[] = [];
  for (const { value, file } of opts.identityFiles) {
    const path = expandTilde(
      expandTokens(expandVariables(value, env.vars, file), tokens, file, 'IdentityFile'),
      env.home,
      file,
    );
    if (!files.includes(path)) files.push(path);
  }
  return files;
}

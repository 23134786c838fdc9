import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { checkUser, FieldInvalid } from './field-checks.js';
import type { ProblemList } from './problems.js';
import type { Layer, Setting } from './read-layers.js';
import { serverDefaults } from './server-defaults.js';
import type {
  NodeSpec,
  PoolSpec,
  ProbeSettings,
  ServerKind,
  SshConfigurableField,
  SshSettings,
  TlsVersion,
} from './types.js';

/** A node as read: its own layer plus where it was declared. */
export interface NodeRead {
  host: string;
  layer: Layer;
  line: number | undefined;
  field: string;
}

export interface PoolRead {
  name: string;
  layer: Layer;
  nodes: NodeRead[];
  line: number | undefined;
  field: string;
}

const defaultOverlapMs = 60_000;
const defaultRetain = 1;
const defaultConnectTimeoutMs = 10_000;
const defaultReconnectAfterMs = 5 * 60_000;
const defaultProbeTimeoutMs = 5_000;
const defaultMatrixMax = 8;
const defaultVersions: readonly TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];

/** The most specific setting wins: layers are given node first, defaults last. */
function pick<T>(layers: readonly Layer[], key: string): Setting<T> | undefined {
  for (const layer of layers) {
    const setting = layer.get(key);
    if (setting) return setting as Setting<T>;
  }
  return undefined;
}

function value<T>(layers: readonly Layer[], key: string, fallback: T): T {
  return pick<T>(layers, key)?.value ?? fallback;
}

/** Merges defaults, pool and node settings (per field) into a PoolSpec, or adds problems. */
export function resolvePool(
  pool: PoolRead,
  defaults: Layer,
  problems: ProblemList,
  defaultUser: () => string,
): PoolSpec | undefined {
  const poolLayers = [pool.layer, defaults];
  // A server that was written but invalid is already reported.
  if (poolLayers.some((layer) => layer.get('server') === null)) return undefined;
  const server = pick<ServerKind>(poolLayers, 'server');
  if (!server) {
    problems.add(
      pool.line,
      `${pool.field}.server`,
      'missing; set nginx, apache, haproxy or node (here or under defaults)',
    );
    return undefined;
  }
  const kind = server.value;
  const keySize = pick<48 | 80>(poolLayers, 'keySize');
  if ((kind === 'apache' || kind === 'node') && keySize?.value === 80) {
    problems.add(keySize.line, keySize.field, `${kind} supports only 48-byte ticket keys`);
    return undefined;
  }
  checkUniqueHosts(pool, problems);
  if (kind !== 'haproxy') checkNoRuntimeApi(pool, kind, problems);
  return {
    name: pool.name,
    server: kind,
    keySize: keySize?.value ?? (kind === 'haproxy' ? 80 : 48),
    overlapMs: value(poolLayers, 'overlap', defaultOverlapMs),
    retain: value(poolLayers, 'retain', defaultRetain),
    nodes: pool.nodes.map((node) =>
      resolveNode(kind, node, [node.layer, ...poolLayers], defaultUser),
    ),
    line: pool.line,
  };
}

/**
 * The runtime API is HAProxy's: on another pool or its nodes it is a mistake worth stopping for.
 * Under defaults it only reaches the haproxy pools.
 */
function checkNoRuntimeApi(pool: PoolRead, kind: ServerKind, problems: ProblemList): void {
  for (const layer of [pool.layer, ...pool.nodes.map((n) => n.layer)]) {
    const setting = layer.get('runtimeApi');
    if (setting && setting.value !== false)
      problems.add(
        setting.line,
        setting.field,
        `applies to haproxy pools only (HAProxy's stats socket); this pool's server is ${kind}`,
      );
  }
}

function checkUniqueHosts(pool: PoolRead, problems: ProblemList): void {
  const seen = new Map<string, number>();
  pool.nodes.forEach((node, index) => {
    const host = node.host.toLowerCase();
    const first = seen.get(host);
    if (first === undefined) seen.set(host, index);
    else
      problems.add(
        node.line,
        `${node.field}.host`,
        `host ${node.host} is already listed as nodes[${first}]`,
      );
  });
}

function resolveNode(
  kind: ServerKind,
  node: NodeRead,
  layers: Layer[],
  defaultUser: () => string,
): NodeSpec {
  const base = serverDefaults[kind];
  return {
    name: node.host,
    host: node.host,
    ssh: resolveSsh(layers, defaultUser),
    keyDir: value(layers, 'keyDir', base.keyDir),
    reload: value(layers, 'reload', base.reload),
    check: value(layers, 'check', base.check),
    config: value(layers, 'config', base.config),
    ...runtimeApiOf(kind, layers),
    probe: resolveProbe(node.host, layers),
    line: node.line,
  };
}

function runtimeApiOf(kind: ServerKind, layers: Layer[]): { runtimeApi?: string } {
  const socket = value<string | false>(layers, 'runtimeApi', false);
  return kind === 'haproxy' && socket !== false ? { runtimeApi: socket } : {};
}

const configurableSsh: readonly SshConfigurableField[] = [
  'user',
  'port',
  'identityFile',
  'connectTimeout',
];

function resolveSsh(layers: Layer[], defaultUser: () => string): SshSettings {
  return {
    user: pick<string>(layers, 'ssh.user')?.value ?? defaultUser(),
    port: value(layers, 'ssh.port', 22),
    identityFile: pick<string>(layers, 'ssh.identityFile')?.value,
    knownHosts: value(layers, 'ssh.knownHosts', join(homedir(), '.ssh', 'known_hosts')),
    sudo: value(layers, 'ssh.sudo', false),
    connectTimeoutMs: value(layers, 'ssh.connectTimeout', defaultConnectTimeoutMs),
    reconnectAfterMs: value(layers, 'ssh.reconnectAfter', defaultReconnectAfterMs),
    explicit: configurableSsh.filter((field) => pick(layers, `ssh.${field}`) !== undefined),
  };
}

function resolveProbe(host: string, layers: Layer[]): ProbeSettings {
  return {
    host: value(layers, 'probe.host', host),
    port: value(layers, 'probe.port', 443),
    servername: pick<string>(layers, 'probe.servername')?.value,
    versions: [...value(layers, 'probe.versions', defaultVersions)],
    matrixMax: value(layers, 'probe.matrixMax', defaultMatrixMax),
    ca: pick<string>(layers, 'probe.ca')?.value,
    timeoutMs: value(layers, 'probe.timeout', defaultProbeTimeoutMs),
    via: value<'direct' | 'ssh'>(layers, 'probe.via', 'direct'),
  };
}

/**
 * The login of whoever runs stekctl, looked up once and only when some node needs it, and
 * checked like a configured user.
 */
export function lookUpCurrentUser(problems: ProblemList): () => string {
  let user: string | undefined;
  return () => {
    if (user !== undefined) return user;
    let name: string | undefined;
    try {
      name = userInfo().username;
    } catch {
      // Some containers run under a uid without a passwd entry.
      name = process.env['USER'] ?? process.env['LOGNAME'];
    }
    try {
      user = checkUser(name);
    } catch (error) {
      if (!(error instanceof FieldInvalid)) throw error;
      user = '';
      problems.add(
        undefined,
        'defaults.ssh.user',
        `not set, and the current user cannot be used: ${error.message}`,
      );
    }
    return user;
  };
}

/**
 * Logs in to a node, directly or through ProxyJump hosts. Each jump host is a full SSH login of
 * its own (host key checked against the node's knownHosts, its own user and keys); the next
 * server is reached through a `direct-tcpip` channel the jump host opens, as `ssh -W` does, so
 * the node sees the connection coming from the jump host.
 */
import type { Duplex } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import { describeConnectFailure } from './connect-failure.js';
import { ConnectError, formatHostPort } from './errors.js';
import {
  createHostKeyVerifier,
  hostKeyAlgorithmOrder,
  readKnownHosts,
} from './host-key-verifier.js';
import { knownKeyTypes } from './known-hosts.js';
import { planLoginAuth } from './ssh-auth.js';
import type { SshEndpoint, SshTarget } from './ssh-target.js';
import type { Ssh2Client } from './ssh2-types.js';

/** Dead connections (a node that vanished without closing TCP) are noticed within ~20 s. */
const keepaliveIntervalMs = 5_000;
const keepaliveCountMax = 3;

export interface ConnectedTarget {
  /** The logged-in connection to the node. */
  client: Ssh2Client;
  /** The jump host connections, in connection order; the node's traffic runs through them. */
  hops: Ssh2Client[];
}

export interface ConnectOptions {
  acceptNewHostKey: boolean;
  signal?: AbortSignal | undefined;
}

/**
 * Connects through every jump host, then to the node. On any failure, whatever was connected
 * is dropped and the error names the server that failed (HostKeyError, ConnectError).
 */
export async function connectTarget(
  node: string,
  target: SshTarget,
  opts: ConnectOptions,
): Promise<ConnectedTarget> {
  const chain = [...target.jumps, target];
  const clients: Ssh2Client[] = [];
  const live = new Set<NodeSSH>();
  let aborted = false;
  const where = formatHostPort(target.host, target.port);
  const cancelled = (): ConnectError =>
    new ConnectError(node, `connecting to ${where} was cancelled`);
  const onAbort = (): void => {
    aborted = true;
    for (const ssh of live) (ssh.connection as Ssh2Client | null)?.destroy();
  };
  if (opts.signal?.aborted) throw cancelled();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (const [index, endpoint] of chain.entries()) {
      const previous = index > 0 ? chain[index - 1] : undefined;
      const label = previous ? `${endpoint.label} through ${previous.alias}` : endpoint.label;
      const through = clients[index - 1];
      const sock =
        previous && through
          ? await openForward(node, through, previous, endpoint, label)
          : undefined;
      if (aborted) throw cancelled();
      const ssh = new NodeSSH();
      live.add(ssh);
      try {
        clients.push(await logIn(node, ssh, endpoint, label, target.knownHosts, sock, opts));
      } catch (err) {
        if (aborted) throw cancelled();
        throw err;
      }
    }
  } catch (err) {
    for (const ssh of live) ssh.dispose();
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const client = clients.pop() as Ssh2Client;
  return { client, hops: clients };
}

async function logIn(
  node: string,
  ssh: NodeSSH,
  endpoint: SshEndpoint,
  label: string,
  knownHostsFile: string,
  sock: Duplex | undefined,
  opts: ConnectOptions,
): Promise<Ssh2Client> {
  // Read for every server: a jump host recorded with --accept-new may be the next one too.
  const knownText = await readKnownHosts(node, knownHostsFile);
  const auth = await planLoginAuth({
    node,
    where: label,
    user: endpoint.user,
    identityFiles: endpoint.identityFiles,
    identityRequired: endpoint.identityRequired,
    identitiesOnly: endpoint.identitiesOnly,
    agent: endpoint.agent,
  });
  const keyName = endpoint.hostKey;
  const verifier = createHostKeyVerifier({
    node,
    host: keyName.host,
    port: keyName.port,
    label,
    address: { host: endpoint.host, port: endpoint.port },
    file: knownHostsFile,
    text: knownText,
    acceptNew: opts.acceptNewHostKey,
  });
  const serverHostKey = hostKeyAlgorithmOrder(knownKeyTypes(knownText, keyName.host, keyName.port));
  try {
    const connecting = ssh.connect({
      host: endpoint.host,
      port: endpoint.port,
      ...(sock ? { sock } : {}),
      username: endpoint.user,
      readyTimeout: endpoint.connectTimeoutMs,
      keepaliveInterval: keepaliveIntervalMs,
      keepaliveCountMax,
      // Without `hostHash`, ssh2 hands the verifier the raw key blob.
      hostVerifier: verifier.verify,
      ...(serverHostKey ? { algorithms: { serverHostKey } } : {}),
      ...auth.config,
    });
    // Without TCP_NODELAY, the end of a command's input waits for the server's delayed ACK of
    // the input itself (40 ms on Linux) on every transaction that sends a key. node-ssh has
    // created the client and its socket by now; libuv applies the flag once the socket opens.
    (ssh.connection as Ssh2Client | null)?.setNoDelay(true);
    await connecting;
  } catch (err) {
    ssh.dispose();
    if (verifier.refusal) throw verifier.refusal;
    throw describeConnectFailure(err, {
      node,
      host: endpoint.host,
      port: endpoint.port,
      user: endpoint.user,
      timeoutMs: endpoint.connectTimeoutMs,
      tried: auth.tried,
      identityFile: auth.identityFile,
      label,
    });
  }
  const client = ssh.connection as Ssh2Client;
  // After login, failures also end the socket; the listener keeps them from being unhandled.
  client.on('error', () => undefined);
  return client;
}

/** Asks the jump host for a channel to the next server, as `ssh -W host:port` does. */
function openForward(
  node: string,
  through: Ssh2Client,
  jump: SshEndpoint,
  next: SshEndpoint,
  label: string,
): Promise<Duplex> {
  const timeoutMs = next.connectTimeoutMs;
  const fail = (cause: string): ConnectError =>
    new ConnectError(
      node,
      `cannot connect to ${label}: jump host ${jump.alias} ${cause}`,
      `Check that ${jump.alias} can reach ${formatHostPort(next.host, next.port)} and that its sshd allows TCP forwarding (AllowTcpForwarding).`,
    );
  return new Promise<Duplex>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(fail(`opened no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      through.forwardOut('127.0.0.1', 0, next.host, next.port, (err, stream) => {
        clearTimeout(timer);
        if (settled) {
          stream?.destroy();
          return;
        }
        settled = true;
        if (err) reject(fail(`could not open a connection (${err.message})`));
        else resolve(stream);
      });
    } catch (err) {
      clearTimeout(timer);
      settled = true;
      reject(fail(`closed its connection (${err instanceof Error ? err.message : String(err)})`));
    }
  });
}

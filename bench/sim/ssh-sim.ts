import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { unwrapShC } from './shell-words.js';
import {
  planCommand,
  type CommandKind,
  type KeyStore,
  type ServiceTimes,
  type SimNode,
} from './node-model.js';

/** The parts of ssh2's server API used here (ssh2 ships no type declarations). */
interface ParsedKey {
  verify(data: Buffer, signature: Buffer, hashAlgo?: string): boolean | Error;
  getPublicSSH(): Buffer;
}
interface AuthContext {
  method: string;
  key?: { algo: string; data: Buffer };
  signature?: Buffer;
  blob?: Buffer;
  hashAlgo?: string;
  accept(): void;
  reject(methods?: string[]): void;
}
interface ServerChannel extends Duplex {
  exit(code: number): void;
}
interface ServerClient extends EventEmitter {
  _sock?: Socket;
  end(): void;
}
interface Ssh2Server extends EventEmitter {
  injectSocket(socket: Socket): void;
}
interface Ssh2Module {
  Server: new (cfg: { hostKeys: string[] }) => Ssh2Server;
  utils: { parseKey(data: string | Buffer): ParsedKey | ParsedKey[] | Error };
}

const require = createRequire(import.meta.url);
const ssh2 = require('ssh2') as Ssh2Module;

export const commandKinds: CommandKind[] = ['lock', 'read', 'apply', 'unlock', 'other'];

export interface SshSimOptions {
  hostKeyPem: string;
  /** The one client key allowed in, `ssh-ed25519 AAAA...`. */
  clientPublicKey: string;
  port: number;
  /** Round trip added to each command's answer; a login costs two. */
  latencyMs: number;
  times: ServiceTimes;
  keys: KeyStore;
}

/** What the simulator saw, for the report. Times are ms since the epoch. */
export interface SshSimRecord {
  connections: number[];
  commands: { node: number; kind: number; start: number; end: number }[];
  maxInFlight: number;
}

function parseOne(data: string | Buffer): ParsedKey {
  const parsed = ssh2.utils.parseKey(data);
  if (parsed instanceof Error) throw parsed;
  return Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
}

/**
 * Plays sshd for many nodes in one process: one ssh2 server fed by a listener per node address,
 * each login checked (signature verified as sshd does), each command answered by the node model
 * after the configured latency and service time.
 */
export class SshSim {
  readonly #opts: SshSimOptions;
  readonly #server: Ssh2Server;
  readonly #allowed: ParsedKey;
  readonly #nodeOf = new WeakMap<Socket, SimNode>();
  readonly #listeners: Server[] = [];
  readonly record: SshSimRecord;
  #inFlight = 0;
  /** Index of the first node this process plays. */
  #base = 0;

  constructor(opts: SshSimOptions, nodeCount: number) {
    this.#opts = opts;
    this.#allowed = parseOne(opts.clientPublicKey);
    this.#server = new ssh2.Server({ hostKeys: [opts.hostKeyPem] });
    this.#server.on('connection', (client: ServerClient) => this.#accept(client));
    this.#server.on('error', () => undefined);
    this.record = {
      connections: new Array<number>(nodeCount).fill(0),
      commands: [],
      maxInFlight: 0,
    };
  }

  #accept(client: ServerClient): void {
    const sock = client._sock;
    const node = sock ? this.#nodeOf.get(sock) : undefined;
    client.on('error', () => undefined);
    if (!node) {
      client.end();
      return;
    }
    const slot = node.index - this.#base;
    this.record.connections[slot] = (this.record.connections[slot] ?? 0) + 1;
    client.on('authentication', (ctx: AuthContext) => this.#authenticate(ctx));
    client.on('ready', () => {
      client.on('session', (accept: () => EventEmitter) => {
        const session = accept();
        session.on(
          'exec',
          (acceptExec: () => ServerChannel, _reject: unknown, info: { command: string }) => {
            this.#exec(node, acceptExec(), info.command);
          },
        );
      });
    });
  }

  #authenticate(ctx: AuthContext): void {
    if (ctx.method !== 'publickey' || !ctx.key) {
      ctx.reject(['publickey']);
      return;
    }
    if (!ctx.key.data.equals(this.#allowed.getPublicSSH())) {
      ctx.reject(['publickey']);
      return;
    }
    if (ctx.signature && ctx.blob) {
      const ok = this.#allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo);
      if (ok !== true) {
        ctx.reject(['publickey']);
        return;
      }
    }
    ctx.accept();
  }

  #exec(node: SimNode, channel: ServerChannel, command: string): void {
    const start = Date.now();
    this.#inFlight += 1;
    this.record.maxInFlight = Math.max(this.record.maxInFlight, this.#inFlight);
    channel.on('error', () => undefined);
    const stdin: Buffer[] = [];
    channel.on('data', (chunk: Buffer) => stdin.push(chunk));
    const plan = planCommand(node, unwrapShC(command), this.#opts.keys, this.#opts.times);
    let answered = false;
    const answer = (): void => {
      if (answered) return;
      answered = true;
      const input = Buffer.concat(stdin);
      const { stdout, code } = plan.run(input);
      input.fill(0);
      for (const b of stdin) b.fill(0);
      this.#inFlight -= 1;
      this.record.commands.push({
        node: node.index,
        kind: commandKinds.indexOf(plan.kind),
        start,
        end: Date.now(),
      });
      if (stdout) channel.write(stdout);
      channel.exit(code);
      channel.end();
    };
    // The command starts once its input is complete (stekctl always closes stdin).
    channel.once('end', () => setTimeout(answer, this.#opts.latencyMs + plan.serviceMs));
  }

  /** Listens for `nodes` (a contiguous slice starting at nodes[0].index). */
  async listen(nodes: SimNode[]): Promise<void> {
    this.#base = nodes[0]?.index ?? 0;
    const login = 2 * this.#opts.latencyMs;
    await Promise.all(
      nodes.map(
        (node) =>
          new Promise<void>((resolve, reject) => {
            const srv = createNetServer((socket) => {
              this.#nodeOf.set(socket, node);
              socket.setNoDelay(true);
              if (login > 0) setTimeout(() => this.#server.injectSocket(socket), login);
              else this.#server.injectSocket(socket);
            });
            srv.once('error', reject);
            srv.listen({ host: node.host, port: this.#opts.port, backlog: 1024 }, () => {
              srv.off('error', reject);
              resolve();
            });
            this.#listeners.push(srv);
          }),
      ),
    );
  }

  close(): void {
    for (const s of this.#listeners) s.close();
  }
}

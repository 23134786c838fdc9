import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { offeredKeyName } from './client-hello.js';
import type { KeyStore, SimNode } from './node-model.js';

export interface TlsSimOptions {
  certPem: string;
  keyPem: string;
  port: number;
  keys: KeyStore;
  /** Called at the start and the end of every probe connection. */
  onConnection: (node: SimNode, delta: 1 | -1) => void;
}

/** nginx's 48-byte layout (name, AES, HMAC) to Node's (name, HMAC, AES). */
function toNodeLayout(nginx: Buffer): Buffer {
  return Buffer.concat([nginx.subarray(0, 16), nginx.subarray(32, 48), nginx.subarray(16, 32)]);
}

/**
 * The socket as a plain stream that starts with the bytes already read: TLS over a native socket
 * reads from the handle and would miss them (unshift does not reach it).
 */
function replay(socket: Socket, first: Buffer): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, done) {
      socket.write(chunk, done);
    },
    final(done) {
      socket.end();
      done();
    },
    destroy(err, done) {
      socket.destroy();
      done(err);
    },
  });
  stream.push(first);
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  return stream;
}

const response = 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n';

/**
 * Each node's TLS endpoint. Node's TLS server holds one ticket key, so a server per key is kept,
 * and each connection goes to the server of the key its ticket names when that key is in the
 * node's live ring, else to the server of the node's encrypting key: the same answers as nginx
 * with a ring of keys (the first encrypts, all decrypt).
 */
export class TlsSim {
  readonly #opts: TlsSimOptions;
  readonly #servers = new Map<string, TlsServer>();
  readonly #listeners: Server[] = [];

  constructor(opts: TlsSimOptions) {
    this.#opts = opts;
  }

  #serverFor(keyId: string): TlsServer | undefined {
    let server = this.#servers.get(keyId);
    if (server) return server;
    const bytes = this.#opts.keys.get(keyId);
    if (!bytes || bytes.length !== 48) return undefined;
    server = createTlsServer({
      cert: this.#opts.certPem,
      key: this.#opts.keyPem,
      ticketKeys: toNodeLayout(bytes),
      // One context for every key, as nodes sharing a certificate have.
      sessionIdContext: 'stekctl-sim',
      minVersion: 'TLSv1.2',
    });
    server.on('secureConnection', (tlsSocket) => {
      tlsSocket.on('error', () => undefined);
      tlsSocket.once('data', () => tlsSocket.end(response));
    });
    server.on('tlsClientError', () => undefined);
    this.#servers.set(keyId, server);
    return server;
  }

  #route(node: SimNode, socket: Socket): void {
    socket.on('error', () => undefined);
    this.#opts.onConnection(node, 1);
    socket.once('close', () => this.#opts.onConnection(node, -1));
    socket.once('data', (first: Buffer) => {
      socket.pause();
      const offered = offeredKeyName(first);
      const keyId =
        offered !== undefined && node.liveRing.includes(offered) ? offered : node.liveRing[0];
      const server = keyId === undefined ? undefined : this.#serverFor(keyId);
      if (!server) {
        socket.destroy();
        return;
      }
      server.emit('connection', replay(socket, first));
    });
  }

  listen(node: SimNode): Promise<void> {
    return new Promise((resolve, reject) => {
      const srv = createNetServer((socket) => this.#route(node, socket));
      srv.once('error', reject);
      srv.listen({ host: node.host, port: this.#opts.port, backlog: 1024 }, () => {
        srv.off('error', reject);
        resolve();
      });
      this.#listeners.push(srv);
    });
  }

  close(): void {
    for (const s of this.#listeners) s.close();
  }
}

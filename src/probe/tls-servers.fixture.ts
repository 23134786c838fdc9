/**
 * In-process TLS servers on loopback for the probe tests. Not part of the library: only
 * *.test.ts files import this module.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { ProbeTarget } from './probe-target.js';

export interface TestCertificate {
  certPath: string;
  cert: string;
  key: string;
  /** Like nginx, the session-id context follows the certificate. */
  sessionIdContext: string;
}

/** A self-signed P-256 certificate for localhost / 127.0.0.1, made by the openssl binary. */
export function makeCertificate(dir: string, name: string): TestCertificate {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.crt`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const cert = readFileSync(certPath, 'utf8');
  const sessionIdContext = createHash('sha256').update(cert).digest('hex').slice(0, 32);
  return { certPath, cert, key: readFileSync(keyPath, 'utf8'), sessionIdContext };
}

export interface TestServer {
  port: number;
  server: tls.Server;
  close(): Promise<void>;
}

export interface TestServerOptions {
  ticketKeys?: Buffer;
  secureOptions?: number;
  /** The loopback address to listen on; 127.0.0.1 unless said. */
  host?: string;
}

function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

/** A TLS server that answers any request with an empty 200 and closes, like an HTTP server would. */
export async function startTlsServer(
  cert: TestCertificate,
  opts: TestServerOptions = {},
): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(
    {
      cert: cert.cert,
      key: cert.key,
      sessionIdContext: cert.sessionIdContext,
      ticketKeys: opts.ticketKeys ?? randomBytes(48),
      secureOptions: opts.secureOptions,
      minVersion: 'TLSv1.2',
    },
    (socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    },
  );
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  const port = await listen(server, opts.host);
  return { port, server, close: closer(server, sockets) };
}

/** Accepts TCP connections and never says a word. */
export async function startSilentServer(
  opts: { hangUp?: boolean } = {},
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    // With hangUp, every connection is ended at once, as by a proxy without a backend.
    if (opts.hangUp) s.end();
  });
  const port = await listen(server);
  return { port, close: closer(server, sockets) };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function findClosedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export function makeTarget(
  node: string,
  port: number,
  extra: Partial<ProbeTarget> = {},
): ProbeTarget {
  return {
    node,
    host: '127.0.0.1',
    port,
    servername: undefined,
    ca: undefined,
    timeoutMs: 2000,
    ...extra,
  };
}

/** The public key id of a Node.js ticket key: its first 16 bytes. */
export function keyIdOf(ticketKeys: Buffer): string {
  return ticketKeys.subarray(0, 16).toString('hex');
}

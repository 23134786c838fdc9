/**
 * A TLS client and server pair for the tests of useTicketKeys. Not part of the library: only
 * *.test.ts files import this module.
 */
import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { readKeyId, readSessionTicket } from '../probe/session-ticket.js';
import type { TestCertificate } from '../probe/tls-servers.fixture.js';
import { renderManagedFile } from './managed-file.js';

export type Version = 'TLSv1.2' | 'TLSv1.3';

export interface Handshake {
  reused: boolean;
  /** The session to offer next time (holds the ticket). */
  session: Buffer | undefined;
  /** Id of the key the ticket is under: the ticket's first 16 bytes, hex. */
  ticketKeyId: string | undefined;
}

/** One connection at exactly `version`; waits for the TLS 1.3 ticket that follows the handshake. */
export function handshake(port: number, version: Version, session?: Buffer): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    let reused = false;
    let got: Buffer | undefined;
    let done = false;
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      session,
      rejectUnauthorized: false,
      minVersion: version,
      maxVersion: version,
    });
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const s = got ?? socket.getSession();
      socket.destroy();
      resolve({ reused, session: s, ticketKeyId: readKeyId(s && readSessionTicket(s)?.ticket) });
    };
    const timer = setTimeout(finish, 3000);
    socket.on('secureConnect', () => {
      reused = socket.isSessionReused();
      if (version === 'TLSv1.2') finish();
    });
    socket.on('session', (s: Buffer) => {
      got = s;
      finish();
    });
    socket.on('data', () => undefined);
    // The server closes after its greeting; a TLS 1.3 ticket, if any, came before that.
    socket.on('end', finish);
    socket.on('error', (e) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(e);
      }
    });
  });
}

export interface Served {
  server: tls.Server;
  port: number;
}

export async function serve(cert: TestCertificate, options: tls.TlsOptions = {}): Promise<Served> {
  const server = tls.createServer({
    cert: cert.cert,
    key: cert.key,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    sessionIdContext: 'stekctl-test',
    ...options,
  });
  server.on('secureConnection', (socket) => {
    socket.on('error', () => undefined);
    socket.end('ok\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port };
}

export function closeServer(server: tls.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Writes a key file and points the managed file at it, each by rename, as stekctl does. */
export async function switchKey(keyDir: string, key: Buffer, at = keyDir): Promise<string> {
  const file = join(at, `${key.subarray(0, 16).toString('hex')}.key`);
  await atomicWrite(file, key);
  await atomicWrite(join(keyDir, 'tickets.conf'), renderManagedFile(file));
  return key.subarray(0, 16).toString('hex');
}

export async function atomicWrite(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, path);
}

/** Polls until `check` holds, or fails after `ms`: timing on a busy machine is not a sleep. */
export async function waitUntil(what: string, ms: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Checks the node layout and the key-id-from-ticket idea against a real TLS stack: Node's
 * server (OpenSSL) encrypts tickets with a key we render, and we read the ticket back.
 */
import { execFileSync } from 'node:child_process';
import { createDecipheriv, createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderKey } from './layouts.js';
import { generateKey, keyIdOf, type TicketKey } from './ticket-key.js';

interface Handshake {
  ticket: Buffer | undefined;
  session: Buffer | undefined;
  reused: boolean;
}

let dir = '';
let cert: { key: Buffer; cert: Buffer };
const servers: Server[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stek-node-layout-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=test',
      '-days',
      '1',
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ],
    { stdio: 'ignore' },
  );
  cert = { key: readFileSync(keyPath), cert: readFileSync(certPath) };
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(dir, { recursive: true, force: true });
});

async function startServer(key: TicketKey): Promise<number> {
  const ticketKeys = renderKey('node', key);
  const server = createServer({
    ...cert,
    ticketKeys,
    // Fixed, so that two servers accept each other's sessions (the default depends on argv).
    sessionIdContext: 'stek-test',
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
  });
  ticketKeys.fill(0);
  server.on('secureConnection', (socket) => socket.end());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('server has no port');
  }
  return address.port;
}

function handshake(port: number, session?: Buffer): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      {
        host: '127.0.0.1',
        port,
        session,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
      },
      () => {
        resolve({
          ticket: socket.getTLSTicket(),
          session: socket.getSession(),
          reused: socket.isSessionReused(),
        });
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

/** Verifies and decrypts a ticket (name | IV | AES-CBC ciphertext | HMAC-SHA256) offline. */
function openTicket(key: TicketKey, ticket: Buffer): Buffer {
  const body = ticket.subarray(0, ticket.length - 32);
  const mac = ticket.subarray(ticket.length - 32);
  const expectedMac = createHmac('sha256', key.hmac).update(body).digest();
  if (!expectedMac.equals(mac)) {
    throw new Error('ticket HMAC does not match the key');
  }
  const cipher = key.size === 48 ? 'aes-128-cbc' : 'aes-256-cbc';
  const decipher = createDecipheriv(cipher, key.aes, ticket.subarray(16, 32));
  return Buffer.concat([
    decipher.update(ticket.subarray(32, ticket.length - 32)),
    decipher.final(),
  ]);
}

describe('node layout against a real TLS server', () => {
  it('tickets carry the key id, verify with its parts, and resume on a second server', async () => {
    const key = generateKey(48);
    const first = await startServer(key);
    const second = await startServer(key);
    const stranger = await startServer(generateKey(48));

    const full = await handshake(first);
    expect(full.reused).toBe(false);
    expect(full.ticket).toBeDefined();
    expect(full.session).toBeDefined();
    const ticket = full.ticket!;
    expect(keyIdOf(ticket)).toBe(keyIdOf(key));

    // The HMAC and AES parts sit where the node layout says: the ticket authenticates with
    // key.hmac and decrypts with key.aes into a DER-encoded SSL_SESSION (a SEQUENCE, 0x30).
    const plain = openTicket(key, ticket);
    expect(plain[0]).toBe(0x30);

    const resumed = await handshake(second, full.session);
    expect(resumed.reused).toBe(true);

    // A server with another key must not resume: the check above can fail.
    const refused = await handshake(stranger, full.session);
    expect(refused.reused).toBe(false);
  });
});

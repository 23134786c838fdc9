import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TlsVersion } from '../inventory/types.js';
import { makeCertificate, makeTarget, type TestCertificate } from './tls-servers.fixture.js';
import { takeTicket } from './tls-probe.js';

let dir: string;
let cert: TestCertificate;
let server: tls.Server;
let port: number;
/** When the server saw each connection close, ms since the epoch. */
const closedAt: number[] = [];
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stekctl-close-'));
  cert = makeCertificate(dir, 'close');
  // Never answers nor closes, and keeps its side open when the client's ends (half-open): it
  // writes twice more, 50 and 100 ms later, which a client that freed its socket answers with a
  // reset, while one that still waits for the server's close reads them and stays connected.
  server = tls.createServer({
    allowHalfOpen: true,
    cert: cert.cert,
    key: cert.key,
    sessionIdContext: cert.sessionIdContext,
    ticketKeys: randomBytes(48),
    minVersion: 'TLSv1.2',
  });
  server.on('secureConnection', (s) => {
    s.on('error', () => undefined);
    s.on('end', () => {
      // The first write draws the reset, the second fails on it.
      setTimeout(() => s.write('late'), 50);
      setTimeout(() => s.write('later'), 100);
    });
    s.resume();
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => {
      closedAt.push(Date.now());
      sockets.delete(s);
    });
  });
  server.on('tlsClientError', () => undefined);
  port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('a probe connection once its tickets are in', () => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as TlsVersion[]) {
    it(`${version}: keeps the ticket and is closed at once, without waiting for the server`, async () => {
      const before = closedAt.length;
      const sample = await takeTicket(makeTarget('n1', port), version);
      const done = Date.now();
      expect(sample.keyId).toMatch(/^[0-9a-f]{32}$/);
      expect(sample.session).toBeDefined();
      await new Promise((r) => setTimeout(r, 500));
      expect(closedAt.length).toBe(before + 1);
      // The grace period the connection no longer gets was a full second.
      expect((closedAt[before] ?? Infinity) - done).toBeLessThan(400);
    });
  }
});

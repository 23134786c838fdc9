import { constants, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificate, type TestCertificate } from '../probe/tls-servers.fixture.js';
import { closeServer, handshake, serve } from './tls-client.fixture.js';
import { defaultSessionIdContext, findTicketTraps } from './traps.js';
import { useTicketKeys } from './use-ticket-keys.js';

let root = '';
let cert: TestCertificate;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'stek-traps-'));
  cert = makeCertificate(root, 'node');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('findTicketTraps', () => {
  it('names tickets switched off and a session-id context left to its default', () => {
    const off = createServer({ secureOptions: constants.SSL_OP_NO_TICKET, sessionIdContext: 'x' });
    expect(findTicketTraps(off)).toEqual([expect.stringMatching(/SSL_OP_NO_TICKET/)]);
    const implicit = createServer({});
    expect(findTicketTraps(implicit)).toEqual([
      expect.stringMatching(/sessionIdContext is not set/),
    ]);
    expect(findTicketTraps(createServer({ sessionIdContext: 'shop' }))).toEqual([]);
  });

  it('computes the context Node derives from the process arguments', () => {
    const implicit = createServer({}) as unknown as { sessionIdContext: string };
    expect(implicit.sessionIdContext).toBe(defaultSessionIdContext());
    expect(defaultSessionIdContext(['node', '/srv/a/app.js'])).not.toBe(
      defaultSessionIdContext(['node', '/srv/b/app.js']),
    );
  });

  it('is reported through onWarning when the key is loaded', () => {
    const warnings: string[] = [];
    const server = createServer({ secureOptions: constants.SSL_OP_NO_TICKET });
    const watch = useTicketKeys(server, {
      keyDir: join(root, 'none'),
      onWarning: (m) => warnings.push(m),
    });
    watch.close();
    expect(warnings).toHaveLength(2);
  });

  it('really matters: the same key, another session-id context, no resumption', async () => {
    const ticketKeys = randomBytes(48);
    const a = await serve(cert, { ticketKeys, sessionIdContext: 'node-a' });
    const b = await serve(cert, { ticketKeys, sessionIdContext: 'node-b' });
    const c = await serve(cert, { ticketKeys, sessionIdContext: 'node-a' });
    try {
      for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
        const full = await handshake(a.port, v);
        expect((await handshake(c.port, v, full.session)).reused).toBe(true);
        expect((await handshake(b.port, v, full.session)).reused).toBe(false);
      }
      const off = await serve(cert, { ticketKeys, secureOptions: constants.SSL_OP_NO_TICKET });
      try {
        expect((await handshake(off.port, 'TLSv1.2')).ticketKeyId).toBeUndefined();
      } finally {
        await closeServer(off.server);
      }
    } finally {
      await Promise.all([a, b, c].map((s) => closeServer(s.server)));
    }
  });
});

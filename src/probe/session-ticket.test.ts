import { describe, expect, it } from 'vitest';
import {
  minStatelessTicketLength,
  readKeyId,
  readSessionTicket,
  sessionFor,
} from './session-ticket.js';

function der(tag: number, body: Buffer): Buffer {
  const len = body.length;
  const head = len < 128 ? Buffer.from([tag, len]) : Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  return Buffer.concat([head, body]);
}

const ticket = Buffer.alloc(160, 7);
ticket.write('00112233445566778899aabbccddeeff', 'hex');
const session = der(
  0x30,
  Buffer.concat([
    der(0x02, Buffer.from([1])),
    der(0x04, Buffer.from([0x13, 0x02])),
    der(0xa9, der(0x02, Buffer.from([0x1c, 0x20]))),
    der(0xaa, der(0x04, ticket)),
  ]),
);

describe('readSessionTicket', () => {
  it('finds the ticket and its lifetime hint', () => {
    const found = readSessionTicket(session);
    expect(found?.lifetimeHint).toBe(7200);
    expect(found?.ticket.equals(ticket)).toBe(true);
    expect(readKeyId(found?.ticket)).toBe('00112233445566778899aabbccddeeff');
  });

  it('returns undefined for sessions without a ticket and for garbage', () => {
    expect(readSessionTicket(der(0x30, der(0x02, Buffer.from([1]))))).toBeUndefined();
    expect(readSessionTicket(Buffer.from([0x30, 0x84, 0xff]))).toBeUndefined();
    expect(readSessionTicket(Buffer.alloc(0))).toBeUndefined();
  });

  it('names no key for stateful references', () => {
    expect(readKeyId(Buffer.alloc(32, 1))).toBeUndefined();
    expect(readKeyId(Buffer.alloc(minStatelessTicketLength, 1))).toBe('01'.repeat(16));
  });
});

describe('sessions as Node 22.23 and 24.17 hand them out', () => {
  const prefix = Buffer.from('\0nodejs:tls:session:1\0', 'latin1');
  const wrap = (identity: string, der: Buffer): Buffer => {
    const name = Buffer.from(identity);
    return Buffer.concat([prefix, Buffer.from([name.length >> 8, name.length & 0xff]), name, der]);
  };

  it('reads the ticket behind the identity the session is bound to', () => {
    const found = readSessionTicket(wrap('web.example', session));
    expect(found?.ticket.equals(ticket)).toBe(true);
    expect(found?.lifetimeHint).toBe(7200);
  });

  it('binds a session to the identity it is offered on, and leaves bare DER alone', () => {
    expect(
      sessionFor(wrap('10.0.0.1', session), '10.0.0.2').equals(wrap('10.0.0.2', session)),
    ).toBe(true);
    const same = wrap('web.example', session);
    expect(sessionFor(same, 'web.example')).toBe(same);
    expect(sessionFor(session, '10.0.0.2')).toBe(session);
    const cut = wrap('10.0.0.1', session).subarray(0, prefix.length + 3);
    expect(sessionFor(cut, '10.0.0.2')).toBe(cut);
  });
});

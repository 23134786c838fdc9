import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { generateKey, isKeyId, keyIdOf, TicketKey, zeroKey } from './ticket-key.js';

/** Every textual form a secret could take if it leaked. */
function secretForms(buf: Buffer): string[] {
  return [
    buf.toString('hex'),
    buf.toString('hex').toUpperCase(),
    buf.toString('base64'),
    buf.toString('base64url'),
    // A fragment is enough to count as a leak.
    buf.subarray(0, 8).toString('hex'),
    buf.subarray(0, 9).toString('base64'),
  ];
}

describe('generateKey', () => {
  it.each([48, 80] as const)('makes %i-byte keys with the right part lengths', (size) => {
    const key = generateKey(size);
    const secret = size === 48 ? 16 : 32;
    expect(key.size).toBe(size);
    expect(key.name.length).toBe(16);
    expect(key.aes.length).toBe(secret);
    expect(key.hmac.length).toBe(secret);
  });

  it('gives distinct names and secrets on every call', () => {
    const a = generateKey(80);
    const b = generateKey(80);
    expect(a.id).not.toBe(b.id);
    expect(a.aes.equals(b.aes)).toBe(false);
    expect(a.hmac.equals(b.hmac)).toBe(false);
    expect(a.aes.equals(a.hmac)).toBe(false);
  });

  it('rejects other sizes', () => {
    expect(() => generateKey(64 as 48)).toThrow(/48 or 80/);
  });
});

describe('TicketKey', () => {
  it('rejects parts of the wrong length without echoing them', () => {
    const aes = Buffer.alloc(32, 0x22);
    expect(() => new TicketKey(48, Buffer.alloc(16), aes, Buffer.alloc(16))).toThrow(
      'ticket key AES key must be 16 bytes, got 32 bytes',
    );
    expect(() => new TicketKey(80, Buffer.alloc(15), aes, aes)).toThrow(/name must be 16/);
  });

  it.each([48, 80] as const)('never shows its %i-byte secrets when printed', (size) => {
    const key = generateKey(size);
    const printed = [
      JSON.stringify(key),
      JSON.stringify({ nested: [key] }),
      inspect(key),
      inspect({ nested: [key] }, { depth: 10, showHidden: true }),
      String(key),
      `${key}`,
      JSON.stringify({ ...key }),
      inspect({ ...key }),
    ];
    const forms = [...secretForms(key.aes), ...secretForms(key.hmac)];
    for (const text of printed) {
      for (const form of forms) {
        expect(text.includes(form)).toBe(false);
      }
    }
    expect(JSON.stringify(key)).toBe(`{"id":"${key.id}"}`);
    expect(inspect(key)).toBe(`[TicketKey ${key.id}]`);
    expect(String(key)).toBe(`[TicketKey ${key.id}]`);
  });
});

describe('keyIdOf', () => {
  const name = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

  it('is the name in lowercase hex', () => {
    const key = new TicketKey(48, Buffer.from(name), Buffer.alloc(16), Buffer.alloc(16));
    expect(keyIdOf(key)).toBe('00112233445566778899aabbccddeeff');
    expect(key.id).toBe(keyIdOf(key));
  });

  it('reads the first 16 bytes of a buffer such as a ticket', () => {
    const ticket = Buffer.concat([
      name,
      Buffer.alloc(16, 1),
      Buffer.alloc(64, 2),
      Buffer.alloc(32),
    ]);
    expect(keyIdOf(ticket)).toBe('00112233445566778899aabbccddeeff');
  });

  it('refuses a buffer shorter than a name', () => {
    expect(() => keyIdOf(Buffer.alloc(15))).toThrow(/at least 16 bytes, got 15 bytes/);
  });
});

describe('isKeyId', () => {
  it('accepts exactly 32 lowercase hex digits', () => {
    expect(isKeyId(generateKey(48).id)).toBe(true);
    expect(isKeyId('0'.repeat(32))).toBe(true);
    expect(isKeyId('A'.repeat(32))).toBe(false);
    expect(isKeyId('0'.repeat(31))).toBe(false);
    expect(isKeyId('0'.repeat(33))).toBe(false);
    expect(isKeyId(`${'0'.repeat(31)}g`)).toBe(false);
    expect(isKeyId(`${'0'.repeat(32)}\n`)).toBe(false);
  });
});

describe('zeroKey', () => {
  it('fills every part with zeros in place', () => {
    const key = generateKey(80);
    const { name, aes, hmac } = key;
    zeroKey(key);
    for (const buf of [name, aes, hmac]) {
      expect(buf.equals(Buffer.alloc(buf.length))).toBe(true);
    }
  });
});

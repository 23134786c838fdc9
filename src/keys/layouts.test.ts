import { describe, expect, it } from 'vitest';
import {
  keyLayouts,
  layoutSizesOf,
  parseHaproxyLine,
  parseKey,
  renderHaproxyLine,
  renderKey,
  type KeyLayout,
} from './layouts.js';
import { generateKey, TicketKey, type KeySize } from './ticket-key.js';

/** A key whose parts are recognisable by their byte value: name 0x11, AES 0x22, HMAC 0x33. */
function markedKey(size: KeySize): TicketKey {
  const secret = size === 48 ? 16 : 32;
  return new TicketKey(
    size,
    Buffer.alloc(16, 0x11),
    Buffer.alloc(secret, 0x22),
    Buffer.alloc(secret, 0x33),
  );
}

const name = Buffer.alloc(16, 0x11);
const aes = (n: number) => Buffer.alloc(n, 0x22);
const hmac = (n: number) => Buffer.alloc(n, 0x33);

/** The layout table, written out byte for byte. */
const expected: { layout: KeyLayout; size: KeySize; bytes: Buffer }[] = [
  { layout: 'nginx', size: 48, bytes: Buffer.concat([name, aes(16), hmac(16)]) },
  { layout: 'nginx', size: 80, bytes: Buffer.concat([name, hmac(32), aes(32)]) },
  { layout: 'apache', size: 48, bytes: Buffer.concat([name, hmac(16), aes(16)]) },
  { layout: 'haproxy', size: 48, bytes: Buffer.concat([name, aes(16), hmac(16)]) },
  { layout: 'haproxy', size: 80, bytes: Buffer.concat([name, aes(32), hmac(32)]) },
  { layout: 'node', size: 48, bytes: Buffer.concat([name, hmac(16), aes(16)]) },
];

function sameKey(a: TicketKey, b: TicketKey): boolean {
  return a.size === b.size && a.name.equals(b.name) && a.aes.equals(b.aes) && a.hmac.equals(b.hmac);
}

describe('renderKey / parseKey', () => {
  it.each(expected)('$layout $size puts each part where the server reads it', (row) => {
    const rendered = renderKey(row.layout, markedKey(row.size));
    expect(rendered.toString('hex')).toBe(row.bytes.toString('hex'));
  });

  it.each(expected)('$layout $size parses its own bytes back to the parts', (row) => {
    const parsed = parseKey(row.layout, row.bytes);
    expect(sameKey(parsed, markedKey(row.size))).toBe(true);
  });

  it.each(expected)('$layout $size round-trips a random key', (row) => {
    const key = generateKey(row.size);
    const bytes = renderKey(row.layout, key);
    expect(bytes.length).toBe(row.size);
    expect(sameKey(parseKey(row.layout, bytes), key)).toBe(true);
  });

  it('nginx 80 and haproxy 80 order AES and HMAC differently', () => {
    const key = markedKey(80);
    const nginx = renderKey('nginx', key);
    const haproxy = renderKey('haproxy', key);
    expect(nginx.equals(haproxy)).toBe(false);
    expect(nginx.subarray(16, 48).equals(hmac(32))).toBe(true);
    expect(haproxy.subarray(16, 48).equals(aes(32))).toBe(true);
    // Read in the other layout, the same bytes give a key with AES and HMAC swapped.
    const misread = parseKey('haproxy', nginx);
    expect(misread.aes.equals(key.hmac)).toBe(true);
    expect(misread.hmac.equals(key.aes)).toBe(true);
  });

  it('nginx 48 and apache 48 differ as well, while nginx 48 equals haproxy 48', () => {
    const key = markedKey(48);
    expect(renderKey('nginx', key).equals(renderKey('apache', key))).toBe(false);
    expect(renderKey('nginx', key).equals(renderKey('haproxy', key))).toBe(true);
    expect(renderKey('apache', key).equals(renderKey('node', key))).toBe(true);
  });

  it('copies parts, so zeroing the input does not change the parsed key', () => {
    const bytes = Buffer.from(expected[0]!.bytes);
    const key = parseKey('nginx', bytes);
    bytes.fill(0);
    expect(sameKey(key, markedKey(48))).toBe(true);
  });

  it.each(['apache', 'node'] as const)('%s refuses 80-byte keys', (layout) => {
    expect(() => renderKey(layout, markedKey(80))).toThrow(
      `${layout} keys must be 48 bytes, got 80 bytes`,
    );
    expect(() => parseKey(layout, expected[1]!.bytes)).toThrow(/must be 48 bytes, got 80/);
  });

  it.each(keyLayouts)('%s refuses other lengths without echoing the bytes', (layout) => {
    const bytes = Buffer.alloc(64, 0xab);
    let message = '';
    try {
      parseKey(layout, bytes);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(
      new RegExp(`^${layout} keys must be (48|48 or 80) bytes, got 64 bytes$`),
    );
    expect(message).not.toMatch(/abab|q6ur/i);
  });

  it('knows which sizes each layout holds', () => {
    expect(layoutSizesOf('nginx')).toEqual([48, 80]);
    expect(layoutSizesOf('haproxy')).toEqual([48, 80]);
    expect(layoutSizesOf('apache')).toEqual([48]);
    expect(layoutSizesOf('node')).toEqual([48]);
  });
});

describe('HAProxy lines', () => {
  it.each([48, 80] as const)('%i-byte key: base64 of the haproxy layout, no newline', (size) => {
    const key = markedKey(size);
    const line = renderHaproxyLine(key);
    expect(line).not.toMatch(/\s/);
    expect(Buffer.from(line, 'base64').equals(renderKey('haproxy', key))).toBe(true);
    expect(sameKey(parseHaproxyLine(line), key)).toBe(true);
    expect(sameKey(parseHaproxyLine(`  ${line}\r\n`), key)).toBe(true);
  });

  it('matches a fixed vector', () => {
    const line = renderHaproxyLine(markedKey(48));
    expect(line).toBe('ERERERERERERERERERERESIiIiIiIiIiIiIiIiIiIiIzMzMzMzMzMzMzMzMzMzMz');
  });

  it('rejects lines that are not strict base64 of 48 or 80 bytes', () => {
    const good = renderHaproxyLine(generateKey(80));
    expect(() => parseHaproxyLine('')).toThrow('haproxy key line is not valid base64');
    expect(() => parseHaproxyLine(`${good.slice(0, 10)}*${good.slice(11)}`)).toThrow(
      'haproxy key line is not valid base64',
    );
    expect(() => parseHaproxyLine(good.slice(0, -1))).toThrow(/not valid base64/);
    expect(() => parseHaproxyLine(Buffer.alloc(64).toString('base64'))).toThrow(
      'haproxy keys must be 48 or 80 bytes, got 64 bytes',
    );
  });
});

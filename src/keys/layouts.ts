import { keyNameLength, secretLengthOf, TicketKey, type KeySize } from './ticket-key.js';

/** Which server's byte order a rendered key follows. */
export type KeyLayout = 'nginx' | 'apache' | 'haproxy' | 'node';
export const keyLayouts: readonly KeyLayout[] = ['nginx', 'apache', 'haproxy', 'node'];

type Part = 'name' | 'aes' | 'hmac';

/**
 * Part order after the name, per layout and size. nginx 80 and HAProxy 80 differ (HMAC first vs
 * AES first): a file in the wrong layout loads without complaint and silently breaks resumption
 * across servers, so this table is the single place that knows the orders.
 */
const partOrders: Record<KeyLayout, Partial<Record<KeySize, readonly Part[]>>> = {
  nginx: { 48: ['name', 'aes', 'hmac'], 80: ['name', 'hmac', 'aes'] },
  apache: { 48: ['name', 'hmac', 'aes'] },
  haproxy: { 48: ['name', 'aes', 'hmac'], 80: ['name', 'aes', 'hmac'] },
  node: { 48: ['name', 'hmac', 'aes'] },
};

/** The key sizes a layout can hold: apache and node take 48-byte keys only. */
export function layoutSizesOf(layout: KeyLayout): KeySize[] {
  const orders = partOrders[layout];
  if (orders === undefined) {
    throw new Error(`unknown key layout ${JSON.stringify(layout)}`);
  }
  return ([48, 80] as const).filter((size) => orders[size] !== undefined);
}

function partOrderOf(layout: KeyLayout, size: number): readonly Part[] {
  const sizes = layoutSizesOf(layout);
  const order = (partOrders[layout] as Partial<Record<number, readonly Part[]>>)[size];
  if (order === undefined) {
    throw new Error(`${layout} keys must be ${sizes.join(' or ')} bytes, got ${size} bytes`);
  }
  return order;
}

function partLengthOf(part: Part, size: KeySize): number {
  return part === 'name' ? keyNameLength : secretLengthOf(size);
}

/** The key's bytes as the given server reads them. The caller should zero the result after use. */
export function renderKey(layout: KeyLayout, key: TicketKey): Buffer {
  const order = partOrderOf(layout, key.size);
  const out = Buffer.alloc(key.size);
  let offset = 0;
  for (const part of order) {
    offset += key[part].copy(out, offset);
  }
  return out;
}

/**
 * Reads a key in the given server's layout; its length decides the size. The parts are copied,
 * so the caller may zero `bytes` afterwards.
 */
export function parseKey(layout: KeyLayout, bytes: Buffer): TicketKey {
  if (!Buffer.isBuffer(bytes)) {
    throw new Error(`${layout} key must be a Buffer`);
  }
  const order = partOrderOf(layout, bytes.length);
  const size = bytes.length as KeySize;
  const parts: Record<Part, Buffer> = {
    name: Buffer.alloc(0),
    aes: Buffer.alloc(0),
    hmac: Buffer.alloc(0),
  };
  let offset = 0;
  for (const part of order) {
    const length = partLengthOf(part, size);
    // Buffer.alloc + copy, not subarray: the key must not alias the caller's buffer.
    const copy = Buffer.alloc(length);
    bytes.copy(copy, 0, offset, offset + length);
    parts[part] = copy;
    offset += length;
  }
  return new TicketKey(size, parts.name, parts.aes, parts.hmac);
}

/** One line of an HAProxy tls-ticket-keys file: base64, no newline. */
export function renderHaproxyLine(key: TicketKey): string {
  const raw = renderKey('haproxy', key);
  try {
    return raw.toString('base64');
  } finally {
    raw.fill(0);
  }
}

const base64Pattern = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Reads one line of an HAProxy tls-ticket-keys file. Surrounding whitespace is ignored;
 * anything that is not strict base64 of 48 or 80 bytes is rejected, because Buffer.from()
 * would otherwise skip bad characters and yield a different key without a word.
 */
export function parseHaproxyLine(line: string): TicketKey {
  const text = typeof line === 'string' ? line.trim() : '';
  if (!base64Pattern.test(text) || text.length % 4 !== 0) {
    throw new Error('haproxy key line is not valid base64');
  }
  const raw = Buffer.from(text, 'base64');
  try {
    return parseKey('haproxy', raw);
  } finally {
    raw.fill(0);
  }
}

import { randomFillSync } from 'node:crypto';
import { inspect } from 'node:util';

export type KeySize = 48 | 80;
export const keySizes: readonly KeySize[] = [48, 80];

/** Bytes of a key's name, which is also the first 16 bytes of every ticket it encrypts. */
export const keyNameLength = 16;

/** Length of the AES key and of the HMAC key inside a key of the given size. */
export function secretLengthOf(size: KeySize): 16 | 32 {
  return size === 48 ? 16 : 32;
}

export function isKeySize(n: unknown): n is KeySize {
  return n === 48 || n === 80;
}

/**
 * One session ticket key in canonical form, independent of any server's byte order.
 * The AES and HMAC parts live in private fields behind getters, so spreading, JSON.stringify,
 * util.inspect, String() and test-runner diffs only ever show the public id.
 */
export class TicketKey {
  readonly size: KeySize;
  readonly #name: Buffer;
  readonly #aes: Buffer;
  readonly #hmac: Buffer;

  /** Takes ownership of the buffers: zeroKey() clears them, so do not share them. */
  constructor(size: KeySize, name: Buffer, aes: Buffer, hmac: Buffer) {
    if (!isKeySize(size)) {
      throw new Error(`ticket key size must be 48 or 80 bytes, got ${String(size)}`);
    }
    const secretLength = secretLengthOf(size);
    checkLength('name', name, keyNameLength);
    checkLength('AES key', aes, secretLength);
    checkLength('HMAC key', hmac, secretLength);
    this.size = size;
    this.#name = name;
    this.#aes = aes;
    this.#hmac = hmac;
  }

  get name(): Buffer {
    return this.#name;
  }

  get aes(): Buffer {
    return this.#aes;
  }

  get hmac(): Buffer {
    return this.#hmac;
  }

  /** The name in lowercase hex: public, it travels in clear at the start of every ticket. */
  get id(): string {
    return this.#name.toString('hex');
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }

  toString(): string {
    return `[TicketKey ${this.id}]`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

function checkLength(part: string, buf: Buffer, expected: number): void {
  if (!Buffer.isBuffer(buf) || buf.length !== expected) {
    const got = Buffer.isBuffer(buf) ? `${buf.length} bytes` : typeof buf;
    throw new Error(`ticket key ${part} must be ${expected} bytes, got ${got}`);
  }
}

/**
 * Fills a fresh, unpooled buffer from the system CSPRNG. Buffer.alloc (not allocUnsafe) keeps
 * key bytes out of Node's shared small-buffer pool.
 */
function randomBuffer(length: number): Buffer {
  return randomFillSync(Buffer.alloc(length));
}

/** A new key from the system CSPRNG; the name is random too, so ids do not collide. */
export function generateKey(size: KeySize): TicketKey {
  if (!isKeySize(size)) {
    throw new Error(`ticket key size must be 48 or 80 bytes, got ${String(size)}`);
  }
  const secretLength = secretLengthOf(size);
  return new TicketKey(
    size,
    randomBuffer(keyNameLength),
    randomBuffer(secretLength),
    randomBuffer(secretLength),
  );
}

/**
 * The key id: the 16-byte name in lowercase hex. For a Buffer it is taken from the first 16
 * bytes, which works on a rendered key file of any layout and on a ticket seen on the wire
 * (name(16) | IV(16) | ciphertext | HMAC(32)).
 */
export function keyIdOf(key: TicketKey | Buffer): string {
  if (key instanceof TicketKey) {
    return key.id;
  }
  if (!Buffer.isBuffer(key) || key.length < keyNameLength) {
    const got = Buffer.isBuffer(key) ? `${key.length} bytes` : typeof key;
    throw new Error(`a key id needs at least ${keyNameLength} bytes, got ${got}`);
  }
  return key.subarray(0, keyNameLength).toString('hex');
}

const keyIdPattern = /^[0-9a-f]{32}$/;

/** True for a key id exactly as keyIdOf() writes it: 32 lowercase hex digits. */
export function isKeyId(s: string): boolean {
  return typeof s === 'string' && keyIdPattern.test(s);
}

/** Overwrites every part of the key with zeros, so the secret does not linger in memory. */
export function zeroKey(key: TicketKey): void {
  key.name.fill(0);
  key.aes.fill(0);
  key.hmac.fill(0);
}

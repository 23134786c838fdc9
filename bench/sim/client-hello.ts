/**
 * Finds the ticket a client offers in its ClientHello: TLS 1.2's session_ticket extension or
 * the first TLS 1.3 pre_shared_key identity. The first 16 bytes of a ticket name its key, which
 * is all the simulated server needs to pick the key that decrypts it.
 */

const extSessionTicket = 35;
const extPreSharedKey = 41;

/** Key name (hex) of the offered ticket, or undefined when none is offered or parsing fails. */
export function offeredKeyName(record: Buffer): string | undefined {
  try {
    return findTicket(record);
  } catch {
    return undefined;
  }
}

function findTicket(b: Buffer): string | undefined {
  // Record header (5) then the handshake header (4): ClientHello is type 1.
  if (b.length < 9 || b[0] !== 0x16 || b[5] !== 0x01) return undefined;
  let p = 9 + 2 + 32;
  p += 1 + (b[p] as number); // session id
  p += 2 + b.readUInt16BE(p); // cipher suites
  p += 1 + (b[p] as number); // compression methods
  const extEnd = p + 2 + b.readUInt16BE(p);
  p += 2;
  while (p + 4 <= extEnd && p + 4 <= b.length) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const data = b.subarray(p + 4, p + 4 + len);
    if (type === extSessionTicket && data.length >= 16) {
      return data.subarray(0, 16).toString('hex');
    }
    if (type === extPreSharedKey && data.length >= 4) {
      const idLen = data.readUInt16BE(2);
      if (idLen >= 16 && data.length >= 4 + 16) return data.subarray(4, 20).toString('hex');
    }
    p += 4 + len;
  }
  return undefined;
}

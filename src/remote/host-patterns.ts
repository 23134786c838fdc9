import { createHmac, randomBytes } from 'node:crypto';

/**
 * The name OpenSSH looks a host up by in known_hosts: the lower-cased host for port 22,
 * `[host]:port` otherwise. Only this one name is looked up (CheckHostIP is off by default since
 * OpenSSH 8.5, and stekctl never checks the address separately).
 */
export function knownHostsName(host: string, port: number): string {
  const bare = stripBrackets(host).toLowerCase();
  return port === 22 ? bare : `[${bare}]:${port}`;
}

/** `[::1]` -> `::1`: inventories may write IPv6 literals either way. */
export function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

const hashMagic = '|1|';

/** `|1|salt|hmac` for `name`, HMAC-SHA1 keyed with a 20-byte salt, as `ssh-keygen -H` writes. */
export function hashHostName(name: string, salt: Buffer = randomBytes(20)): string {
  const mac = createHmac('sha1', salt).update(name).digest('base64');
  return `${hashMagic}${salt.toString('base64')}|${mac}`;
}

/**
 * Does a known_hosts host field match `name`? Returns undefined when the field is malformed
 * (a bad hash), which OpenSSH treats as an invalid line.
 *
 * Plain fields are comma-separated patterns with `*` and `?`; a matching `!pattern` rejects
 * the line whatever else matches. Matching ignores case, as OpenSSH lower-cases both sides.
 */
export function matchHostField(field: string, name: string): boolean | undefined {
  if (field.startsWith('|')) return matchHashed(field, name);
  const lname = name.toLowerCase();
  let positive = false;
  for (const raw of field.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (pattern === '' || !matchGlob(lname, pattern)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

function matchHashed(field: string, name: string): boolean | undefined {
  const salt = saltOfHashedField(field);
  if (salt === undefined) return undefined;
  // OpenSSH compares the encoded strings, so any other spelling of the same bytes fails too.
  return hashHostName(name.toLowerCase(), salt) === field;
}

/** The 20-byte salt of a `|1|salt|hmac` field, or undefined when the field is malformed. */
export function saltOfHashedField(field: string): Buffer | undefined {
  if (!field.startsWith(hashMagic)) return undefined;
  const rest = field.slice(hashMagic.length);
  const bar = rest.indexOf('|');
  if (bar <= 0) return undefined;
  const salt = Buffer.from(rest.slice(0, bar), 'base64');
  return salt.length === 20 ? salt : undefined;
}

/** Shell-style match of the whole string: `*` any run of characters, `?` exactly one. */
export function matchGlob(s: string, pattern: string): boolean {
  let si = 0;
  let pi = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    const p = pattern[pi];
    if (p === '*') {
      starP = pi++;
      starS = si;
    } else if (p !== undefined && (p === '?' || p === s[si])) {
      si++;
      pi++;
    } else if (starP >= 0) {
      pi = starP + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (pattern[pi] === '*') pi++;
  return pi === pattern.length;
}

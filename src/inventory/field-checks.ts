import { homedir } from 'node:os';
import { isIPv4, isIPv6 } from 'node:net';
import { StekError } from '../errors.js';
import { parseDuration } from './duration.js';
import { quoteValue } from './quote.js';
import { serverKinds, type ServerKind, type TlsVersion } from './types.js';

/** Thrown by a check with the reason; the reader adds the location. */
export class FieldInvalid extends Error {}

function invalid(problem: string): never {
  throw new FieldInvalid(problem);
}

/** Stands for a mapping or list where a scalar was expected, so checks can name what they got. */
export class NonScalar {
  readonly what: string;
  constructor(what: string) {
    this.what = what;
  }
}

export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (value instanceof NonScalar) return value.what;
  if (typeof value === 'string') return `the string ${quoteValue(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return quoteValue(value);
  return 'a value of another type';
}

export function checkString(value: unknown): string {
  if (typeof value !== 'string') invalid(`must be a string, got ${describeValue(value)}`);
  return value;
}

export function checkInteger(value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    invalid(`must be an integer, got ${describeValue(value)}`);
  }
  if (value < min || value > max) {
    invalid(
      `must be ${max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `${min}..${max}`}, got ${value}`,
    );
  }
  return value;
}

export function checkPort(value: unknown): number {
  return checkInteger(value, 1, 65535);
}

export function checkBoolean(value: unknown): boolean {
  if (typeof value !== 'boolean') invalid(`must be true or false, got ${describeValue(value)}`);
  return value;
}

export function checkChoice<T extends string>(value: unknown, choices: readonly T[]): T {
  const text = checkString(value);
  if (!(choices as readonly string[]).includes(text)) {
    invalid(`must be one of ${choices.join(', ')}; got ${quoteValue(text)}`);
  }
  return text as T;
}

export function checkServerKind(value: unknown): ServerKind {
  const text = checkString(value);
  if (!(serverKinds as readonly string[]).includes(text)) {
    invalid(`unknown server kind ${quoteValue(text)}; use one of ${serverKinds.join(', ')}`);
  }
  return text as ServerKind;
}

export function checkKeySize(value: unknown): 48 | 80 {
  if (value !== 48 && value !== 80) invalid(`must be 48 or 80, got ${describeValue(value)}`);
  return value;
}

/** Milliseconds; `positive` rejects 0 (timeouts), otherwise 0 is allowed (overlap). */
export function checkDuration(value: unknown, positive: boolean): number {
  if (typeof value !== 'string' && typeof value !== 'number') {
    invalid(`must be a duration such as 90s or 10m, got ${describeValue(value)}`);
  }
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (error) {
    if (error instanceof StekError) invalid(error.message);
    throw error;
  }
  if (positive && ms <= 0) invalid('must be longer than 0');
  return ms;
}

const versionNames: Record<string, TlsVersion> = {
  '1.2': 'TLSv1.2',
  'tlsv1.2': 'TLSv1.2',
  '1.3': 'TLSv1.3',
  'tlsv1.3': 'TLSv1.3',
};

/** Accepts 1.2, "1.2" and "TLSv1.2" (any case); YAML reads a bare 1.2 as a number. */
export function checkTlsVersion(value: unknown): TlsVersion {
  if (value === 1.2) return 'TLSv1.2';
  if (value === 1.3) return 'TLSv1.3';
  const name = typeof value === 'string' ? value.toLowerCase() : '';
  const version = Object.hasOwn(versionNames, name) ? versionNames[name] : undefined;
  if (!version) invalid(`${describeValue(value)} is not a TLS version; use 1.2 or 1.3`);
  return version;
}

const labelPattern = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function isHostname(text: string): boolean {
  if (text.length > 253) return false;
  const labels = text.split('.');
  // An all-digit last label is a mistyped address such as 10.0.0.256, not a name.
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) return false;
  return labels.every((label) => labelPattern.test(label));
}

/** A hostname, IPv4 or IPv6 literal: it reaches ssh, TLS and messages, so nothing else. */
export function checkHost(value: unknown): string {
  const text = checkString(value);
  if (isIPv4(text) || isHostname(text)) return text;
  if (isIPv6(text) && /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?$/.test(text)) return text;
  if (/^\[.*\]$/.test(text)) invalid(`${quoteValue(text)}: write IPv6 addresses without brackets`);
  invalid(`${quoteValue(text)} is not a hostname, IPv4 or IPv6 address`);
}

export function checkServername(value: unknown): string {
  const text = checkString(value);
  if (!isHostname(text)) invalid(`${quoteValue(text)} is not a hostname`);
  return text;
}

export function checkUser(value: unknown): string {
  const text = checkString(value);
  if (!/^[A-Za-z_][A-Za-z0-9._-]{0,63}$/.test(text)) {
    invalid(`${quoteValue(text)} is not a valid user name (letters, digits, . _ -)`);
  }
  return text;
}

/** Shell commands by design, so only what breaks a single command line is refused. */
export function checkCommand(value: unknown): string {
  const text = checkString(value);
  if (text.trim() === '') invalid('must not be empty');
  if (text.length > 1000) invalid(`is ${text.length} characters long; at most 1000`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(text)) {
    invalid('must be one line without control characters (newline, carriage return, tab, …)');
  }
  return text;
}

const pathPattern = /^\/[A-Za-z0-9._/@+-]*$/;

function checkPathText(text: string, shown: string): void {
  if (text.length > 1024) invalid(`${shown} is too long`);
  if (!pathPattern.test(text)) {
    invalid(`${shown} may only contain letters, digits and . _ / @ + -`);
  }
  if (text.includes('//')) invalid(`${shown} contains //`);
  if (text.split('/').includes('..')) invalid(`${shown} contains a .. segment`);
}

/**
 * A path on the servers: it is written into server configs and shell commands, so it must be
 * absolute and plain. Trailing slashes are dropped so that joining names never gives `//`.
 */
export function checkRemotePath(value: unknown, kind: 'file' | 'dir'): string {
  const text = checkString(value);
  const shown = quoteValue(text);
  if (!text.startsWith('/')) invalid(`${shown} must be an absolute path`);
  checkPathText(text, shown);
  const trimmed = text.replace(/\/+$/, '');
  if (trimmed === '') invalid(kind === 'dir' ? 'must not be /' : `${shown} is not a file`);
  if (kind === 'file' && trimmed !== text) invalid(`${shown} names a directory, not a file`);
  return trimmed;
}

/**
 * HAProxy's stats socket for the runtime API, or false to turn an inherited one off (a node
 * whose HAProxy has no admin socket).
 */
export function checkRuntimeApi(value: unknown): string | false {
  if (value === false) return false;
  if (typeof value !== 'string') {
    invalid(`must be the path of HAProxy's stats socket, or false; got ${describeValue(value)}`);
  }
  return checkRemotePath(value, 'file');
}

/** A file on this machine: absolute or `~/…`, with `~` expanded to the home directory. */
export function checkLocalPath(value: unknown): string {
  const text = checkString(value);
  const shown = quoteValue(text);
  if (text.startsWith('~/')) {
    checkPathText(text.slice(1), shown);
    return `${homedir().replace(/\/+$/, '')}${text.slice(1)}`;
  }
  if (!text.startsWith('/')) invalid(`${shown} must be an absolute path or start with ~/`);
  checkPathText(text, shown);
  return text;
}

export function checkPoolName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    invalid(
      `pool name ${quoteValue(name)} must start with a letter or digit and contain only letters, digits, . _ - (at most 64)`,
    );
  }
}

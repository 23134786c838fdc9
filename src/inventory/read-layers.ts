import { isMap, isPair, isScalar, isSeq } from 'yaml';
import {
  checkBoolean,
  checkChoice,
  checkCommand,
  checkDuration,
  checkHost,
  checkInteger,
  checkKeySize,
  checkLocalPath,
  checkPort,
  checkRemotePath,
  checkRuntimeApi,
  checkServerKind,
  checkServername,
  checkTlsVersion,
  checkUser,
  FieldInvalid,
  NonScalar,
} from './field-checks.js';
import type { ProblemList } from './problems.js';
import { quoteValue } from './quote.js';
import { formatSuggestion } from './suggest-key.js';
import type { TlsVersion } from './types.js';
import { keyText, type YamlSource } from './yaml-source.js';

export interface ReadContext {
  source: YamlSource;
  problems: ProblemList;
}

/** One value as written, with where it was written, so later checks can point at it. */
export interface Setting<T = unknown> {
  value: T;
  line: number | undefined;
  field: string;
}

/**
 * The settings one level (defaults, pool or node) sets, keyed `keyDir`, `ssh.port`, …; null
 * marks a setting that was written but invalid, so that no follow-up problem is reported.
 */
export type Layer = Map<string, Setting | null>;

/** A key and its value (alias already followed); `line` is where the value was written. */
export interface Entry {
  key: string;
  node: unknown;
  line: number | undefined;
  keyLine: number | undefined;
  field: string;
}

type Check = (value: unknown) => unknown;

const levelFields: Record<string, Check> = {
  server: checkServerKind,
  keyDir: (v) => checkRemotePath(v, 'dir'),
  reload: checkCommand,
  check: checkCommand,
  config: (v) => checkRemotePath(v, 'file'),
  overlap: (v) => checkDuration(v, false),
  retain: (v) => checkInteger(v, 0, 10),
  keySize: checkKeySize,
  runtimeApi: checkRuntimeApi,
};
const poolWide = new Set(['server', 'overlap', 'retain', 'keySize']);

const nestedFields: Record<'ssh' | 'probe', Record<string, Check>> = {
  ssh: {
    user: checkUser,
    port: checkPort,
    identityFile: checkLocalPath,
    knownHosts: checkLocalPath,
    sudo: checkBoolean,
    connectTimeout: (v) => checkDuration(v, true),
    reconnectAfter: (v) => checkDuration(v, true),
  },
  probe: {
    host: checkHost,
    port: checkPort,
    servername: checkServername,
    versions: () => undefined,
    matrixMax: (v) => checkInteger(v, 1, Number.MAX_SAFE_INTEGER),
    ca: checkLocalPath,
    timeout: (v) => checkDuration(v, true),
    via: (v) => checkChoice(v, ['direct', 'ssh'] as const),
  },
};
/** Keys come from the file: `constructor` or `__proto__` must not find Object's own members. */
function ownCheck(fields: Record<string, Check>, key: string): Check | undefined {
  return Object.hasOwn(fields, key) ? fields[key] : undefined;
}

const nestedNames = Object.entries(nestedFields).flatMap(([group, fields]) =>
  Object.keys(fields).map((key) => `${group}.${key}`),
);

export type Level = 'defaults' | 'pool' | 'node';

export interface LevelRead {
  layer: Layer;
  host: Entry | undefined;
  nodes: Entry | undefined;
}

/** Reads a mapping's entries; adds a problem and returns undefined when it is not a mapping. */
export function readEntries(
  ctx: ReadContext,
  node: unknown,
  field: string,
  line: number | undefined,
): Entry[] | undefined {
  if (!isMap(node)) {
    const got = describeNode(node);
    ctx.problems.add(ctx.source.lineOf(node) ?? line, field, `must be a mapping, got ${got}`);
    return undefined;
  }
  const entries: Entry[] = [];
  for (const pair of node.items) {
    if (!isPair(pair)) continue;
    const keyLine = ctx.source.lineOf(pair.key) ?? line;
    ctx.source.charge(keyLine, field);
    const key = keyText(pair.key);
    if (key === undefined) {
      ctx.problems.add(keyLine, field, 'keys must be plain names');
      continue;
    }
    const entryField = field ? `${field}.${key}` : key;
    const valueLine = ctx.source.lineOf(pair.value) ?? keyLine;
    entries.push({
      key,
      node: ctx.source.deref(pair.value, valueLine, entryField),
      line: valueLine,
      keyLine,
      field: entryField,
    });
  }
  return entries;
}

/** Reads the settings of one level; `host` and `nodes` are handed back where they belong. */
export function readLevel(
  ctx: ReadContext,
  node: unknown,
  field: string,
  line: number | undefined,
  level: Level,
): LevelRead {
  const result: LevelRead = { layer: new Map(), host: undefined, nodes: undefined };
  if (level === 'defaults' && isEmpty(node)) return result;
  for (const entry of readEntries(ctx, node, field, line) ?? []) {
    const check = ownCheck(levelFields, entry.key);
    if (check) {
      if (level === 'node' && poolWide.has(entry.key)) {
        ctx.problems.add(
          entry.keyLine,
          entry.field,
          'is a pool-wide setting; set it on the pool or under defaults',
        );
      } else {
        readScalar(ctx, entry, entry.key, check, result.layer);
      }
    } else if (entry.key === 'ssh' || entry.key === 'probe') {
      readNested(ctx, entry, entry.key, result.layer);
    } else if (entry.key === 'nodes' && level === 'pool') {
      result.nodes = entry;
    } else if (entry.key === 'nodes') {
      const where =
        level === 'node' ? 'is a pool-wide setting' : 'belongs in a pool, not under defaults';
      ctx.problems.add(entry.keyLine, entry.field, where);
    } else if (entry.key === 'host' && level === 'node') {
      result.host = entry;
    } else if (entry.key === 'host') {
      ctx.problems.add(
        entry.keyLine,
        entry.field,
        'belongs to a node (under nodes); for probes use probe.host',
      );
    } else if (entry.key === '<<') {
      ctx.problems.add(
        entry.keyLine,
        entry.field,
        'merge keys are not supported; put shared settings under defaults',
      );
    } else {
      ctx.problems.add(
        entry.keyLine,
        entry.field,
        `unknown key${formatSuggestion(entry.key, knownKeys(level))}`,
      );
    }
  }
  return result;
}

function knownKeys(level: Level): string[] {
  const own = Object.keys(levelFields).filter((k) => level !== 'node' || !poolWide.has(k));
  const extra = level === 'node' ? ['host'] : level === 'pool' ? ['nodes'] : [];
  return [...extra, ...own, 'ssh', 'probe', ...nestedNames];
}

function readNested(ctx: ReadContext, entry: Entry, group: 'ssh' | 'probe', layer: Layer): void {
  const fields = nestedFields[group];
  if (isEmpty(entry.node)) return;
  for (const inner of readEntries(ctx, entry.node, entry.field, entry.line) ?? []) {
    const check = ownCheck(fields, inner.key);
    if (inner.key === 'versions' && group === 'probe') {
      readVersions(ctx, inner, layer);
    } else if (check) {
      readScalar(ctx, inner, `${group}.${inner.key}`, check, layer);
    } else {
      const known = Object.keys(fields);
      ctx.problems.add(
        inner.keyLine,
        inner.field,
        `unknown key${formatSuggestion(inner.key, known)}`,
      );
    }
  }
}

/** `ssh:` with every line below it commented out reads as null: the same as no settings. */
function isEmpty(node: unknown): boolean {
  return isScalar(node) && node.value === null;
}

/** What a check sees: a scalar's value, or a stand-in naming the collection found instead. */
export function scalarValue(node: unknown): unknown {
  return isScalar(node) ? node.value : new NonScalar(describeNode(node));
}

function readScalar(
  ctx: ReadContext,
  entry: Entry,
  name: string,
  check: Check,
  layer: Layer,
): void {
  try {
    layer.set(name, {
      value: check(scalarValue(entry.node)),
      line: entry.line,
      field: entry.field,
    });
  } catch (error) {
    if (!(error instanceof FieldInvalid)) throw error;
    ctx.problems.add(entry.line, entry.field, error.message);
    layer.set(name, null);
  }
}

function readVersions(ctx: ReadContext, entry: Entry, layer: Layer): void {
  if (!isSeq(entry.node)) {
    const got = describeNode(entry.node);
    ctx.problems.add(entry.line, entry.field, `must be a list such as ["1.2", "1.3"], got ${got}`);
    return;
  }
  if (entry.node.items.length === 0) {
    ctx.problems.add(entry.line, entry.field, 'must name at least one TLS version');
    return;
  }
  const versions: TlsVersion[] = [];
  entry.node.items.forEach((item, index) => {
    const field = `${entry.field}[${index}]`;
    const line = ctx.source.lineOf(item) ?? entry.line;
    ctx.source.charge(line, field);
    const node = ctx.source.deref(item, line, field);
    try {
      const version = checkTlsVersion(scalarValue(node));
      if (versions.includes(version)) throw new FieldInvalid(`${version} is listed twice`);
      versions.push(version);
    } catch (error) {
      if (!(error instanceof FieldInvalid)) throw error;
      ctx.problems.add(line, field, error.message);
    }
  });
  if (versions.length === entry.node.items.length) {
    layer.set('probe.versions', { value: versions, line: entry.line, field: entry.field });
  }
}

export function describeNode(node: unknown): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const value = node.value;
    if (value === null || value === undefined) return 'nothing';
    if (typeof value === 'string') return `the string ${quoteValue(value)}`;
    return quoteValue(value);
  }
  return 'nothing';
}

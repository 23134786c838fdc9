import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { InventoryError } from '../errors.js';
import { isMap, isSeq } from 'yaml';
import { checkHost, checkPoolName, FieldInvalid } from './field-checks.js';
import { ProblemList, ReadingStopped } from './problems.js';
import {
  describeNode,
  type Entry,
  type Layer,
  type ReadContext,
  readEntries,
  readLevel,
  scalarValue,
} from './read-layers.js';
import { lookUpCurrentUser, type NodeRead, type PoolRead, resolvePool } from './resolve-pool.js';
import { formatSuggestion } from './suggest-key.js';
import type { Inventory, PoolSpec } from './types.js';
import { readYaml } from './yaml-source.js';

/** Larger files are refused before parsing: no inventory comes near it. */
export const maxInventoryBytes = 1024 * 1024;

/**
 * Parses and validates inventory text. `path` names the file in messages and becomes the
 * absolute `Inventory.path`; sha256 is taken over the text's UTF-8 bytes. Throws
 * InventoryError listing every problem found, each with file, line and field path.
 */
export function parseInventory(text: string, path: string): Inventory {
  const problems = new ProblemList(path);
  if (Buffer.byteLength(text, 'utf8') > maxInventoryBytes) {
    problems.add(undefined, undefined, `the inventory is larger than ${maxInventoryBytes} bytes`);
  } else if (text.includes('\u0000')) {
    problems.add(undefined, undefined, 'the inventory contains NUL bytes; it must be UTF-8 text');
  } else {
    const pools = readInventory(text, problems);
    problems.throwIfAny();
    if (pools) {
      const sha256 = createHash('sha256').update(text, 'utf8').digest('hex');
      return { path: resolve(path), sha256, pools };
    }
  }
  problems.throwIfAny();
  // Every path that yields no pools has added a problem; this only guards that promise.
  throw new InventoryError(path, undefined, undefined, 'the inventory could not be read');
}

function readInventory(text: string, problems: ProblemList): PoolSpec[] | undefined {
  try {
    const source = readYaml(text, problems);
    if (!source) return undefined;
    const ctx: ReadContext = { source, problems };
    const reads = readTop(ctx);
    if (!reads) return undefined;
    const defaultUser = lookUpCurrentUser(problems);
    const pools = reads.pools.map((pool) =>
      resolvePool(pool, reads.defaults, problems, defaultUser),
    );
    return pools.every((pool) => pool !== undefined) ? pools : undefined;
  } catch (error) {
    if (error instanceof ReadingStopped) return undefined;
    // A nesting the pre-checks missed must still end as a located error, not a crash.
    if (error instanceof RangeError) {
      problems.add(
        undefined,
        undefined,
        `the inventory is too deeply nested to read (${error.message})`,
      );
      return undefined;
    }
    throw error;
  }
}

function readTop(ctx: ReadContext): { defaults: Layer; pools: PoolRead[] } | undefined {
  const { contents } = ctx.source;
  if (contents === null || contents === undefined) {
    ctx.problems.add(undefined, undefined, 'the inventory is empty; it needs a `pools` mapping');
    return undefined;
  }
  if (!isMap(contents)) {
    const got = describeNode(contents);
    const problem = `the top level must be a mapping with \`pools\` (and optionally \`defaults\`), got ${got}`;
    ctx.problems.add(ctx.source.lineOf(contents), undefined, problem);
    return undefined;
  }
  const entries = readEntries(ctx, contents, '', 1) ?? [];
  let defaults: Layer = new Map();
  let poolsEntry: Entry | undefined;
  for (const entry of entries) {
    if (entry.key === 'defaults')
      defaults = readLevel(ctx, entry.node, entry.field, entry.line, 'defaults').layer;
    else if (entry.key === 'pools') poolsEntry = entry;
    else
      ctx.problems.add(
        entry.keyLine,
        entry.field,
        `unknown key${formatSuggestion(entry.key, ['defaults', 'pools'])}`,
      );
  }
  if (!poolsEntry) {
    ctx.problems.add(
      ctx.source.lineOf(contents),
      'pools',
      'missing; the inventory needs at least one pool',
    );
    return undefined;
  }
  return { defaults, pools: readPools(ctx, poolsEntry) };
}

function readPools(ctx: ReadContext, pools: Entry): PoolRead[] {
  const entries = readEntries(ctx, pools.node, pools.field, pools.line);
  if (entries?.length === 0)
    ctx.problems.add(pools.line, pools.field, 'is empty; the inventory needs at least one pool');
  const result: PoolRead[] = [];
  for (const entry of entries ?? []) {
    // The pool is declared where its name is written.
    const line = entry.keyLine;
    try {
      checkPoolName(entry.key);
    } catch (error) {
      if (!(error instanceof FieldInvalid)) throw error;
      ctx.problems.add(line, entry.field, error.message);
      continue;
    }
    if (!isMap(entry.node)) {
      ctx.problems.add(
        line,
        entry.field,
        `must be a mapping with server and nodes, got ${describeNode(entry.node)}`,
      );
      continue;
    }
    const level = readLevel(ctx, entry.node, entry.field, line, 'pool');
    result.push({
      name: entry.key,
      layer: level.layer,
      nodes: readNodes(ctx, level.nodes, entry.field, line),
      line,
      field: entry.field,
    });
  }
  return result;
}

function readNodes(
  ctx: ReadContext,
  nodes: Entry | undefined,
  poolField: string,
  poolLine: number | undefined,
): NodeRead[] {
  if (!nodes) {
    ctx.problems.add(poolLine, `${poolField}.nodes`, 'missing; a pool needs at least one node');
    return [];
  }
  if (!isSeq(nodes.node)) {
    ctx.problems.add(nodes.line, nodes.field, 'must be a list of nodes (- host: …)');
    return [];
  }
  if (nodes.node.items.length === 0) {
    ctx.problems.add(nodes.line, nodes.field, 'is empty; a pool needs at least one node');
    return [];
  }
  const result: NodeRead[] = [];
  nodes.node.items.forEach((item, index) => {
    const field = `${nodes.field}[${index}]`;
    const line = ctx.source.lineOf(item) ?? nodes.line;
    ctx.source.charge(line, field);
    const node = ctx.source.deref(item, line, field);
    if (!isMap(node)) {
      ctx.problems.add(
        line,
        field,
        `must be a mapping such as \`host: 10.0.0.11\`, got ${describeNode(node)}`,
      );
      return;
    }
    const level = readLevel(ctx, node, field, line, 'node');
    if (!level.host) {
      ctx.problems.add(line, `${field}.host`, 'missing; every node needs a host');
      return;
    }
    try {
      result.push({
        host: checkHost(scalarValue(level.host.node)),
        layer: level.layer,
        line,
        field,
      });
    } catch (error) {
      if (!(error instanceof FieldInvalid)) throw error;
      ctx.problems.add(level.host.line, level.host.field, error.message);
    }
  });
  return result;
}

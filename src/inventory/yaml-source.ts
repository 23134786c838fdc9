import {
  type Alias,
  type Node,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
} from 'yaml';
import { type ProblemList, ReadingStopped } from './problems.js';
import { quoteValue } from './quote.js';

/**
 * yaml's composer recurses per nesting level: thousands of levels cost seconds and hundreds of
 * MB before it gives up, and a MiB of `{` can exhaust the heap. No inventory nests this deep.
 */
const maxFlowDepth = 64;
/** `- - - …` or `? ? …` on one line nests block collections without indentation. */
const deepCompactPattern = new RegExp(`^[ \\t]*(?:[-?:](?:[ \\t]+|$)){${maxFlowDepth + 1}}`, 'm');
/**
 * Entries and items read, aliases included, may exceed the document's own node count by this
 * factor plus a fixed allowance. A file without aliases stays far below it (each node is read
 * once or twice); one that shares lists and defaults through anchors has room; one whose aliases
 * multiply a list across hundreds of pools is stopped after work proportional to its size, not
 * to its expansion.
 */
const readsPerNode = 4;
const readAllowance = 100_000;

/** A parsed YAML document plus what is needed to read it safely and locate its nodes. */
export interface YamlSource {
  contents: unknown;
  lineOf(node: unknown): number | undefined;
  /** Follows an alias to its anchored node (counted against the read budget). */
  deref(node: unknown, line: number | undefined, field: string): unknown;
  /** Charges one unit of reading work; stops reading once the budget is spent. */
  charge(line: number | undefined, field: string | undefined): void;
}

/** Parses text as YAML; returns undefined (with problems added) when it is not usable YAML. */
export function readYaml(text: string, problems: ProblemList): YamlSource | undefined {
  const lineCounter = new LineCounter();
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  if (!checkNesting(text, problems)) return undefined;
  // uniqueKeys is checked below in one pass: yaml's own check compares every pair of keys.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const error = doc.errors[0];
  if (error) {
    const message = error.message.split('\n')[0] ?? 'invalid YAML';
    const problem = /call stack/i.test(message)
      ? 'nested too deeply to read'
      : `YAML syntax error: ${message.replace(/; please use YAML\.parseAllDocuments\(\)$/, '')}`;
    problems.add(lineAt(error.pos[0]), undefined, problem);
    return undefined;
  }
  const lineOf = (node: unknown): number | undefined => {
    const range = (node as { range?: unknown } | null)?.range;
    return Array.isArray(range) && typeof range[0] === 'number' ? lineAt(range[0]) : undefined;
  };
  const { targets, nodeCount } = indexDocument(doc.contents, lineOf, problems);
  if (problems.count > 0) return undefined;
  const maxReads = readAllowance + readsPerNode * nodeCount;
  let reads = 0;
  const charge = (line: number | undefined, field: string | undefined): void => {
    reads += 1;
    if (reads > maxReads) {
      problems.add(line, field, 'the inventory expands (through aliases) to too many entries');
      throw new ReadingStopped();
    }
  };
  const deref = (node: unknown, line: number | undefined, field: string): unknown => {
    if (!isAlias(node)) return node;
    charge(line, field);
    return targets.get(node);
  };
  return { contents: doc.contents, lineOf, deref, charge };
}

/** Counts flow brackets without parsing: a cheap bound that quoted text can only overestimate. */
function checkNesting(text: string, problems: ProblemList): boolean {
  let depth = 0;
  let line = 1;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 10) line += 1;
    else if (c === 91 || c === 123) depth += 1;
    else if ((c === 93 || c === 125) && depth > 0) depth -= 1;
    if (depth > maxFlowDepth) {
      problems.add(line, undefined, `nesting deeper than ${maxFlowDepth} levels`);
      return false;
    }
  }
  const compact = deepCompactPattern.exec(text);
  if (compact) {
    const at = text.slice(0, compact.index).split('\n').length;
    problems.add(at, undefined, `nesting deeper than ${maxFlowDepth} levels`);
    return false;
  }
  const deep = deepIndentationLine(text);
  if (deep !== undefined) {
    problems.add(deep, undefined, `nesting deeper than ${maxFlowDepth} levels`);
    return false;
  }
  return true;
}

/**
 * The first line indented deeper than maxFlowDepth levels of block nesting (each level a line
 * indented past the one it sits under), or undefined. yaml's composer would recurse once per
 * level; whether thousands of levels overflow its stack or come through depends on the engine's
 * state, so they are refused here, the same way every time.
 */
function deepIndentationLine(text: string): number | undefined {
  const levels: number[] = [];
  let line = 0;
  for (const raw of text.split('\n')) {
    line += 1;
    const indent = raw.length - raw.trimStart().length;
    const rest = raw.slice(indent);
    if (rest === '' || rest.startsWith('#')) continue;
    while (levels.length > 0 && (levels.at(-1) as number) >= indent) levels.pop();
    levels.push(indent);
    if (levels.length > maxFlowDepth) return line;
  }
  return undefined;
}

/**
 * One pass in document order without recursion: maps each alias to the latest anchor defined
 * before it, reports duplicate keys in any mapping, and counts the nodes as written.
 */
function indexDocument(
  root: unknown,
  lineOf: (node: unknown) => number | undefined,
  problems: ProblemList,
): { targets: Map<Alias, Node>; nodeCount: number } {
  const anchors = new Map<string, Node>();
  const targets = new Map<Alias, Node>();
  const stack: unknown[] = [root];
  let nodeCount = 0;
  while (stack.length > 0) {
    const node = stack.pop();
    nodeCount += 1;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target) targets.set(node, target);
      else problems.add(lineOf(node), undefined, `alias *${node.source} has no anchor before it`);
      continue;
    }
    if (isScalar(node) || isMap(node) || isSeq(node)) {
      if (node.anchor) anchors.set(node.anchor, node);
    }
    if (isMap(node)) {
      checkUniqueKeys(node.items, lineOf, problems);
      for (let i = node.items.length - 1; i >= 0; i -= 1) stack.push(node.items[i]);
    } else if (isSeq(node)) {
      for (let i = node.items.length - 1; i >= 0; i -= 1) stack.push(node.items[i]);
    } else if (isPair(node)) {
      stack.push(node.value, node.key);
    }
  }
  return { targets, nodeCount };
}

function checkUniqueKeys(
  pairs: unknown[],
  lineOf: (node: unknown) => number | undefined,
  problems: ProblemList,
): void {
  const seen = new Set<string>();
  for (const pair of pairs) {
    if (!isPair(pair) || !isScalar(pair.key)) continue;
    const key = keyText(pair.key);
    if (key === undefined) continue;
    if (seen.has(key)) {
      problems.add(lineOf(pair.key), undefined, `duplicate key ${quoteValue(key)}`);
    }
    seen.add(key);
  }
}

/** The text of a scalar key: `2024:` and `true:` are keys too, spelled as written. */
export function keyText(key: unknown): string | undefined {
  if (!isScalar(key)) return undefined;
  if (typeof key.value === 'string') return key.value;
  if (key.value === null || key.value === undefined) return undefined;
  return typeof key.source === 'string' ? key.source : String(key.value);
}

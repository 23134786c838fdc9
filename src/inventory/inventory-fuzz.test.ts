import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InventoryError } from '../errors.js';
import { loadInventory } from './load-inventory.js';
import { parseInventory } from './parse-inventory.js';

const example = readFileSync(new URL('../../inventory.example.yaml', import.meta.url), 'utf8');
const tokens = [
  '[',
  ']',
  '{',
  '}',
  '- ',
  ': ',
  ', ',
  '\n',
  '\n  ',
  '\t',
  '&a ',
  '*a',
  '? ',
  '|',
  '>',
  '!!binary ',
  '!!str ',
  '!x ',
  '%YAML 1.2\n',
  '---\n',
  '...\n',
  "'",
  '"',
  '#',
  '~',
  'null',
  '1e999',
  '-1',
  '0x1F',
  '<<: ',
  'pools',
  'nodes',
  'host',
  'server',
  'nginx',
  '\u0000',
  '\u001b',
  '\ud800',
  '\u2028',
  'é',
  '\\',
  '$(id)',
];

/** Small seeded generator so that a failing case can be replayed from its number. */
function generator(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n;
  };
}

function mutate(seed: number): string {
  const random = generator(seed);
  const pick = (n: number) => Math.floor(random(n));
  const token = () => tokens[pick(tokens.length)] ?? '';
  let text = example;
  switch (seed % 4) {
    case 0:
      return text.slice(0, pick(text.length + 1));
    case 1:
      for (let i = 0, n = 1 + pick(8); i < n; i += 1) {
        const at = pick(text.length);
        text = `${text.slice(0, at)}${String.fromCharCode(pick(0x250))}${text.slice(at + 1)}`;
      }
      return text;
    case 2:
      for (let i = 0, n = 1 + pick(8); i < n; i += 1) {
        const at = pick(text.length + 1);
        text = `${text.slice(0, at)}${token()}${text.slice(at)}`;
      }
      return text;
    default:
      return Array.from({ length: pick(200) }, token).join('');
  }
}

const pathological: Record<string, () => string> = {
  '100k [': () => '['.repeat(100_000),
  '1 MiB of {': () => '{'.repeat(1024 * 1024 - 1),
  'nested flow in a value': () => `pools: ${'[{a: '.repeat(50_000)}`,
  '100k compact sequences': () => `${'- '.repeat(100_000)}x`,
  'deep indentation': () => Array.from({ length: 1400 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'),
  // 9^21 strings if expanded; the reader never expands what does not have the shape it expects.
  'alias bomb': () =>
    ['x:', '  - &a ["x","x","x","x","x","x","x","x","x"]']
      .concat(
        Array.from(
          { length: 20 },
          (_, i) =>
            `  - &${'bcdefghijklmnopqrstuv'[i]} [${Array(9).fill(`*${'abcdefghijklmnopqrstu'[i]}`).join(',')}]`,
        ),
      )
      .concat(['pools: {p: {server: nginx, nodes: *u}}'])
      .join('\n'),
  'aliased node lists in many pools': () =>
    `x: &l [${Array.from({ length: 5000 }, (_, i) => `{host: h${i}}`).join(',')}]\npools:\n${Array.from({ length: 2000 }, (_, i) => `  p${i}: {server: nginx, nodes: *l}`).join('\n')}\n`,
  '60k keys in one mapping': () =>
    `pools:\n${Array.from({ length: 60_000 }, (_, i) => `  p${i}: {}`).join('\n')}\n`,
  'self-referencing alias': () =>
    'pools: &p\n  a:\n    server: nginx\n    nodes: [{host: a}]\n    probe: *p\n',
  'a huge quoted string': () => `pools: "${'a'.repeat(1024 * 1024 - 20)}"`,
  'many documents': () => '---\na: 1\n'.repeat(10_000),
};

const expands = /expands \(through aliases\) to too many entries/;
const nesting = /nesting deeper than 64 levels|nested too deeply to read/;
const reasons: Record<string, RegExp> = {
  '100k [': nesting,
  '1 MiB of {': nesting,
  'nested flow in a value': nesting,
  '100k compact sequences': nesting,
  'deep indentation': nesting,
  'alias bomb': /pools\.p\.nodes\[0\]: must be a mapping/,
  'aliased node lists in many pools': expands,
  '60k keys in one mapping': /pools\.p0\.nodes: missing/,
  'self-referencing alias': /pools\.a\.probe\.a: unknown key/,
  // Cut short in the message: a MiB of text is not echoed back.
  'a huge quoted string': /pools: must be a mapping, got the string `a{60}…`$/,
  'many documents': /multiple documents/,
};

function rejection(text: string): InventoryError | undefined {
  try {
    parseInventory(text, 'fuzz.yaml');
    return undefined;
  } catch (error) {
    if (error instanceof InventoryError) return error;
    throw error;
  }
}

function outcome(text: string): 'parsed' | 'rejected' {
  return rejection(text) ? 'rejected' : 'parsed';
}

// The yaml parser alone takes seconds on the largest inputs when the machine is busy; the
// timeout only catches a hang or a blow-up, never a slow machine.
describe('inventory fuzzing', { timeout: 60_000 }, () => {
  it('parses or rejects 2000 mutations of the example', () => {
    const counts = { parsed: 0, rejected: 0 };
    for (let seed = 1; seed <= 2000; seed += 1) {
      const text = mutate(seed);
      let result: 'parsed' | 'rejected';
      try {
        result = outcome(text);
      } catch (error) {
        throw new Error(`mutation ${seed} threw ${String(error)}`, { cause: error });
      }
      counts[result] += 1;
    }
    // Some mutations land in comments or values and must still load.
    expect(counts.parsed).toBeGreaterThan(50);
    expect(counts.rejected).toBeGreaterThan(1000);
  });

  // Each is stopped by the check meant for it, before any work its size could multiply.
  it.each(Object.keys(pathological))('rejects %s cleanly, for the reason meant', (name) => {
    const text = pathological[name]?.() ?? '';
    const error = rejection(text);
    expect(error?.message).toMatch(reasons[name] ?? /^$/);
  });

  it('never lets a mutated file escape as anything but InventoryError', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stekctl-fuzz-'));
    try {
      const original = Buffer.from(example);
      for (let seed = 1; seed <= 100; seed += 1) {
        const random = generator(seed);
        const bytes = Buffer.from(original);
        for (let i = 0; i < 4; i += 1)
          bytes[Math.floor(random(bytes.length))] = Math.floor(random(256));
        const path = join(dir, `m${seed}.yaml`);
        await writeFile(path, bytes.subarray(0, Math.floor(random(bytes.length + 1))));
        await loadInventory(path).catch((error: unknown) => {
          if (!(error instanceof InventoryError))
            throw new Error(`file mutation ${seed} threw ${String(error)}`);
        });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

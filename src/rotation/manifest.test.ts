import { describe, expect, it } from 'vitest';
import type { NodeSpec } from '../inventory/types.js';
import type { Manifest, NodeState } from '../servers/types.js';
import { buildManifest, keptOnDisk } from './manifest.js';

const dir = '/etc/nginx/tickets';
const node = { keyDir: dir } as NodeSpec;
const id = (c: string) => c.repeat(32);
const at = (c: string) => ({ keyId: id(c), path: `${dir}/${id(c)}.key` });
const record = (c: string) => ({
  created: `2026-01-0${c.charCodeAt(0) - 96}T00:00:00.000Z`,
  file: `${dir}/${id(c)}.key`,
});
const previous: Manifest = {
  version: 1,
  pool: 'web',
  keys: { [id('a')]: record('a'), [id('b')]: record('b'), [id('c')]: record('c') },
  previousRing: [id('b'), id('c')],
  lastRotation: '2026-01-03T00:00:00.000Z',
  pending: undefined,
};
const stateWith = (...files: string[]) =>
  ({ files: files.map((f) => ({ file: f })) }) as unknown as NodeState;
const now = new Date('2026-02-01T00:00:00.000Z');

function keysOf(text: string): Record<string, { created: string }> {
  return (JSON.parse(text) as Manifest).keys;
}

describe('buildManifest', () => {
  it('keeps the records of the ring and of key files that stay, and drops deleted ones', () => {
    // On the node: a (the encrypting key), b (kept off the ring, as Apache's previous key) and c,
    // which this step deletes.
    const state = stateWith(`${id('a')}.key`, `${id('b')}.key`, `${id('c')}.key`, 'tickets.conf');
    const text = buildManifest(
      previous,
      'web',
      { encrypt: at('d'), decrypt: [at('a')], staged: undefined },
      now,
      { pending: undefined, finished: { ringBefore: [id('a')], by: 'rotation' } },
      keptOnDisk(node, state, [`${id('c')}.key`]),
    );
    expect(keysOf(text)).toEqual({
      [id('d')]: { created: now.toISOString(), file: `${dir}/${id('d')}.key` },
      [id('a')]: record('a'),
      [id('b')]: record('b'),
    });
    expect(text).not.toContain(id('c'));
  });

  it('drops the record of a key file that is gone from the node', () => {
    const text = buildManifest(
      previous,
      'web',
      { encrypt: at('a'), decrypt: [], staged: undefined },
      now,
      { pending: undefined },
      keptOnDisk(node, stateWith(`${id('a')}.key`), []),
    );
    expect(Object.keys(keysOf(text))).toEqual([id('a')]);
    // The record of the ring before the last rotation is kept as it was.
    expect((JSON.parse(text) as Manifest).previousRing).toEqual([id('b'), id('c')]);
  });
});

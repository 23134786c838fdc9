import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import type { PoolSpec } from '../inventory/types.js';
import { checkDescriptorLimit, parseOpenFileLimit } from './descriptor-limit.js';

const limits = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            4096                 524288               files
Max locked memory         8388608              8388608              bytes
`;

const poolOf = (nodes: number) => ({ nodes: new Array(nodes).fill({}) }) as unknown as PoolSpec;

describe('parseOpenFileLimit', () => {
  it('reads the soft limit of /proc/self/limits', () => {
    expect(parseOpenFileLimit(limits)).toBe(4096);
    expect(parseOpenFileLimit(limits.replace('4096   ', 'unlimited'))).toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(parseOpenFileLimit(undefined)).toBeUndefined();
  });
});

describe('checkDescriptorLimit', () => {
  it('lets a run through that fits: every node, each pool’s probes and a margin', () => {
    expect(() => checkDescriptorLimit([poolOf(3000), poolOf(700)], 160, 4096)).not.toThrow();
    expect(() => checkDescriptorLimit([poolOf(10_000)], 256, undefined)).not.toThrow();
  });

  it('refuses one that would run out part-way, with the numbers and how to raise the limit', () => {
    let err: unknown;
    try {
      checkDescriptorLimit([poolOf(3000), poolOf(800)], 160, 4096);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    const e = err as UsageError;
    expect(e.message).toContain('needs up to 4184 open files (3800 nodes');
    expect(e.message).toContain('may open 4096');
    expect(e.hint).toContain('ulimit -n 4184');
    expect(e.hint).toContain('LimitNOFILE=4184');
  });
});

import { describe, expect, it } from 'vitest';
import { adapterFor } from './index.js';
import { localNodeSpec } from './node-spec.fixture.js';
import { interpretState } from './node-state.js';
import { parseReadOutput } from './parse-state.js';

const [a, b, c, x] = ['a', 'b', 'c', 'e'].map((ch) => ch.repeat(32)) as [
  string,
  string,
  string,
  string,
];
const node = localNodeSpec('/etc/haproxy/tickets', { runtimeApi: '/run/haproxy/admin.sock' });

/** What the read script prints for an HAProxy node with three key lines and a runtime record. */
function stateWith(runtimeRecord: string) {
  const out = [
    'BEGIN|1',
    'D|700|root',
    'F|tickets.keys|330|600|root|1700000000|-',
    'KM|600',
    `K|80|${a}`,
    `K|80|${b}`,
    `K|80|${c}`,
    runtimeRecord,
    'I|yes',
    'END|1',
  ].join('\n');
  return interpretState(adapterFor('haproxy'), node, parseReadOutput(out), 1_700_000_100);
}

describe('the keys in HAProxy memory, as status reads them', () => {
  it('agree with the file: no problem, the ids are kept for the report', () => {
    const state = stateWith(`KR|ok|${a} ${b} ${c}`);
    expect(state.runtimeKeys).toEqual([a, b, c]);
    expect(state.problems.join('\n')).not.toMatch(/memory/);
  });

  it('differ from the file: named with both rings', () => {
    const state = stateWith(`KR|ok|${b} ${c} ${x}`);
    expect(state.problems).toContainEqual(
      expect.stringMatching(/keys in memory \[bbbbbbbbbbbb, cccccccccccc, eeeeeeeeeeee\] differ/),
    );
  });

  it('cannot be read: said so, with what to check', () => {
    const state = stateWith('KR|unreadable');
    expect(state.problems).toContainEqual(
      expect.stringMatching(/cannot read HAProxy's keys in memory/),
    );
  });
});

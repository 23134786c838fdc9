import { describe, expect, it } from 'vitest';
import type { NodeSpec } from '../inventory/types.js';
import type { ExecResult, RemoteSession } from '../remote/ssh-session.js';
import { adapterFor } from '../servers/index.js';
import { localNodeSpec } from '../servers/node-spec.fixture.js';
import { applyPhase } from './apply-phase.js';
import type { StepRequest } from './node-ops.js';

const nodeNamed = (name: string): NodeSpec => localNodeSpec('/etc/nginx/tickets', { name });

/** A session whose transactions succeed, noting in `log` when each starts and ends. */
function loggingSession(name: string, log: string[]): RemoteSession {
  return {
    node: name,
    open: true,
    async exec(): Promise<ExecResult> {
      log.push(`exec ${name}`);
      await new Promise((r) => setTimeout(r, 5));
      log.push(`done ${name}`);
      return { code: 0, signal: null, stdout: 'DONE|generation:yes drained:yes\n', stderr: '' };
    },
    close: () => Promise.resolve(),
  };
}

const request: StepRequest = {
  ring: undefined,
  newKey: undefined,
  adopt: false,
  writeManaged: false,
  reload: false,
  deleteFiles: [],
  manifest: '{}\n',
};

describe('applyPhase', () => {
  it("builds each node's request when its transaction starts, not all of them up front", async () => {
    const log: string[] = [];
    const nodes = ['a', 'b', 'c'].map(nodeNamed);
    const sessions = new Map(nodes.map((n) => [n, loggingSession(n.name, log)]));
    const result = await applyPhase(
      'web',
      'promote',
      adapterFor('nginx'),
      nodes.map((node) => ({
        node,
        req: () => {
          log.push(`build ${node.name}`);
          return request;
        },
      })),
      sessions,
      1,
      () => {},
    );
    expect(result.record.ok).toBe(true);
    expect(log).toEqual([
      'build a',
      'exec a',
      'done a',
      'build b',
      'exec b',
      'done b',
      'build c',
      'exec c',
      'done c',
    ]);
  });
});

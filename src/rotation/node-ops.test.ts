import { describe, expect, it } from 'vitest';
import type { NodeSpec } from '../inventory/types.js';
import { generateKey, renderKey, zeroKey } from '../keys/index.js';
import type { ExecResult, RemoteSession } from '../remote/ssh-session.js';
import { adapterFor } from '../servers/index.js';
import { applyStep } from './node-ops.js';

const node = {
  name: 'n1',
  host: '127.0.0.1',
  keyDir: '/etc/nginx/tickets',
  config: '/etc/nginx/nginx.conf',
  check: 'nginx -t',
  reload: 'nginx -s reload',
} as unknown as NodeSpec;

/** A session that records what it was sent and answers like a node that took the step. */
function recordingSession(): RemoteSession & { commands: string[]; stdins: Buffer[] } {
  const commands: string[] = [];
  const stdins: Buffer[] = [];
  return {
    node: 'n1',
    open: true,
    commands,
    stdins,
    exec(command: string, opts?: { stdin?: string | Buffer }): Promise<ExecResult> {
      commands.push(command);
      if (Buffer.isBuffer(opts?.stdin)) stdins.push(opts.stdin);
      return Promise.resolve({
        code: 0,
        signal: null,
        stdout: `OK|${Buffer.from('generation:yes').toString('base64')}\n`,
        stderr: '',
      });
    },
    close: () => Promise.resolve(),
  };
}

describe('applyStep', () => {
  it('sends key bytes on stdin only, never in the command, and zeroes them afterwards', async () => {
    const key = generateKey(48);
    const bytes = renderKey('nginx', key);
    const secret = Buffer.from(bytes.subarray(16));
    const session = recordingSession();
    const outcome = await applyStep(session, adapterFor('nginx'), node, {
      ring: {
        encrypt: { keyId: key.id, path: `/etc/nginx/tickets/${key.id}.key` },
        decrypt: [],
        staged: undefined,
      },
      newKey: { file: `${key.id}.key`, bytes },
      adopt: false,
      writeManaged: true,
      reload: true,
      deleteFiles: [],
      manifest: '{}',
    });
    expect(outcome.ok).toBe(true);
    for (const c of session.commands) {
      expect(c).not.toContain(secret.toString('hex'));
      expect(c).not.toContain(bytes.toString('base64'));
    }
    expect(session.stdins).toHaveLength(1);
    // What went over the wire (base64 of the key) is wiped once the step is done.
    expect(session.stdins[0]!.every((b) => b === 0)).toBe(true);
    zeroKey(key);
    expect(key.aes.every((b) => b === 0) && key.hmac.every((b) => b === 0)).toBe(true);
  });
});

import type { NodeSpec } from '../inventory/types.js';
import type { ApplySpec } from './apply-script.js';

/** A local node for tests that run node-side scripts on this machine. */
export function localNodeSpec(keyDir: string, overrides: Partial<NodeSpec> = {}): NodeSpec {
  return {
    name: 'n1',
    host: '127.0.0.1',
    keyDir,
    config: '/nonexistent.conf',
    check: 'true',
    reload: 'true',
    line: 1,
    ssh: {
      user: 'root',
      port: 22,
      identityFile: undefined,
      knownHosts: '/dev/null',
      sudo: false,
      connectTimeoutMs: 1000,
      reconnectAfterMs: 300_000,
    },
    probe: {
      host: '127.0.0.1',
      port: 443,
      servername: undefined,
      versions: ['TLSv1.2', 'TLSv1.3'],
      matrixMax: 8,
      ca: undefined,
      timeoutMs: 1000,
      via: 'direct',
    },
    ...overrides,
  };
}

/** A transaction that checks and reloads and writes nothing, with `over` on top. */
export function applySpec(over: Partial<ApplySpec> = {}): ApplySpec {
  return {
    newKeys: [],
    adoptKeyLines: false,
    managed: undefined,
    manifest: undefined,
    check: true,
    reload: true,
    deleteFiles: [],
    generationWaitMs: 15_000,
    ...over,
  };
}

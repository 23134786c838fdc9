import type { ProbeTarget } from './probe-target.js';

/** A probe target for tests whose prober never touches the network. */
export function fakeTarget(i: number): ProbeTarget {
  return {
    node: `n${i}`,
    host: '127.0.0.1',
    port: 1,
    servername: undefined,
    ca: undefined,
    timeoutMs: 1000,
  };
}

import { Buffer } from 'node:buffer';
import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the heap grow past what its last full collection kept: 20%. V8 picks a
 * factor of up to 4x from its own speed figures; a rotation holds one SSH connection per node
 * for the whole run and makes garbage at a steady rate (handshakes, commands), and on 10,000
 * simulated nodes the heap grew to twice what was live before a full collection: 814 MB peak
 * resident, against 584 MB at 20% for about 5% more CPU (docs/benchmarks.md).
 */
export const heapGrowthFlag = '--heap-growing-percent=20';

/**
 * Node slices small Buffers out of shared 8 KiB slabs; ssh2 keeps a few small ones per
 * connection for its lifetime (the key exchange offer, the server's ident, a cipher's tag), and
 * each keeps its whole slab alive. With 1 KiB slabs the Buffers of 10,000 simulated
 * connections held 50 MB instead of 70 MB.
 */
export const bufferPoolBytes = 1024;

/**
 * V8's young generation, in MB per semi-space, which the bin's shebang gives node (it is only
 * read at startup): 8 instead of 16. On 10,000 simulated nodes the peak resident size fell from
 * 622 MB to 564 MB for 2% more CPU; 4 MB saved little more for 7% more CPU (docs/benchmarks.md).
 */
export const semiSpaceFlag = '--max-semi-space-size=8';

/** Tunes this process's memory for long runs over large fleets. Call once, at startup. */
export function tuneProcessMemory(): void {
  setFlagsFromString(heapGrowthFlag);
  Buffer.poolSize = bufferPoolBytes;
}

import { Worker } from 'node:worker_threads';
import type { TlsVersion } from '../inventory/types.js';
import { ProbeError, type ProbeErrorCode } from './probe-error.js';
import type { ProbeTarget } from './probe-target.js';
// A type only: tls-connection imports this module at run time.
import type { HandshakeOutcome } from './tls-connection.js';

/* Probe handshakes in worker threads. A handshake is CPU work (key shares, session parsing,
 * certificate checks) independent of every other one and of the SSH connections, and on large
 * pools the probes are half of what the main thread does: in workers they run beside the SSH
 * work on other cores. Only plain data crosses: the target, the session offered, the outcome. */

/** One handshake to run: what runHandshake takes, minus the signal (aborts are messages). */
export interface HandshakeJob {
  target: ProbeTarget;
  version: TlsVersion;
  session: Buffer | undefined;
}

export type ToWorker = { id: number; job: HandshakeJob } | { id: number; abort: true };
export type FromWorker =
  | { id: number; outcome: HandshakeOutcome }
  | {
      id: number;
      error: {
        code: ProbeErrorCode;
        node: string;
        message: string;
        detail: string;
        hint?: string;
      };
    };

interface Pending {
  node: string;
  resolve: (r: HandshakeOutcome) => void;
  reject: (e: Error) => void;
  worker: Slot;
}

interface Slot {
  worker: Worker;
  pending: number;
}

/**
 * A worker's live data is only the handshakes in flight; V8's default young generation (48 MB
 * on 64-bit) would be mostly garbage held per thread.
 */
const workerYoungGenerationMb = 16;

let slots: Slot[] = [];
const pending = new Map<number, Pending>();
let nextId = 1;

/**
 * Runs probe handshakes in `count` worker threads from now on (0 stops them: handshakes run on
 * the calling thread again). Workers hold the process open only while they have work.
 */
export function useHandshakeWorkers(count: number): void {
  stopHandshakeWorkers();
  for (let i = 0; i < count; i++) {
    const worker = new Worker(new URL('./handshake-worker.js', import.meta.url), {
      resourceLimits: { maxYoungGenerationSizeMb: workerYoungGenerationMb },
    });
    const slot: Slot = { worker, pending: 0 };
    worker.unref();
    worker.on('message', (msg: FromWorker) => settle(slot, msg));
    worker.on('error', (err) => fail(slot, err));
    worker.on('exit', () => fail(slot, new Error('probe worker stopped')));
    slots.push(slot);
  }
}

export function stopHandshakeWorkers(): void {
  const old = slots;
  slots = [];
  for (const slot of old) void slot.worker.terminate();
}

/** Whether handshakes go to workers (useHandshakeWorkers). */
export function handshakeWorkersActive(): boolean {
  return slots.length > 0;
}

/** Runs one handshake on the least busy worker. */
export function runInWorker(
  job: HandshakeJob,
  signal: AbortSignal | undefined,
): Promise<HandshakeOutcome> {
  const slot = slots.reduce((a, b) => (b.pending < a.pending ? b : a));
  const id = nextId++;
  return new Promise<HandshakeOutcome>((resolve, reject) => {
    const onAbort = (): void => slot.worker.postMessage({ id, abort: true } satisfies ToWorker);
    const done = (): void => {
      signal?.removeEventListener('abort', onAbort);
      if (--slot.pending === 0) slot.worker.unref();
    };
    pending.set(id, {
      node: job.target.node,
      resolve: (r) => {
        done();
        resolve(r);
      },
      reject: (e) => {
        done();
        reject(e);
      },
      worker: slot,
    });
    if (slot.pending++ === 0) slot.worker.ref();
    slot.worker.postMessage({ id, job } satisfies ToWorker);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function settle(slot: Slot, msg: FromWorker): void {
  const entry = pending.get(msg.id);
  if (!entry || entry.worker !== slot) return;
  pending.delete(msg.id);
  if ('outcome' in msg) {
    const o = msg.outcome;
    entry.resolve({
      reused: o.reused,
      certFingerprint: o.certFingerprint,
      sessions: o.sessions.map(asBuffer),
      handshakeSession: o.handshakeSession === undefined ? undefined : asBuffer(o.handshakeSession),
    });
  } else {
    const e = msg.error;
    entry.reject(new ProbeError(e.code, e.node, e.message, e.hint, e.detail));
  }
}

/** A worker that failed takes its handshakes with it: they fail as TLS errors, not hang. */
function fail(slot: Slot, err: Error): void {
  for (const [id, entry] of pending) {
    if (entry.worker !== slot) continue;
    pending.delete(id);
    entry.reject(new ProbeError('tls-error', entry.node, `probe worker failed: ${err.message}`));
  }
  slots = slots.filter((s) => s !== slot);
}

/** Buffers cross threads as plain Uint8Arrays. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

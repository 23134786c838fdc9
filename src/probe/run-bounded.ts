import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';

export type TaskOutcome<T> =
  | { status: 'done'; value: T }
  | { status: 'failed'; error: unknown }
  /** Still queued or running when the deadline passed; never awaited further. */
  | { status: 'timed-out' };

/** An overall time limit shared by several batches of probes. */
export interface Deadline {
  readonly signal: AbortSignal;
  /** Milliseconds left, at least 0. */
  remaining(): number;
  /** Stops the timer; call once the work is over. */
  dispose(): void;
}

/** A deadline `ms` from now, also ended by `parent` when given. */
export function createDeadline(ms: number, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  // Every running probe listens on the deadline: more than Node's default of 10 is expected.
  setMaxListeners(0, controller.signal);
  const endsAt = Date.now() + ms;
  const timer = setTimeout(() => controller.abort(), Math.max(0, ms));
  const onParent = (): void => controller.abort();
  if (parent?.aborted) controller.abort();
  else parent?.addEventListener('abort', onParent, { once: true });
  return {
    signal: controller.signal,
    remaining: () => Math.max(0, endsAt - Date.now()),
    dispose: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParent);
    },
  };
}

/** Resolves after `ms`, or at once when `signal` aborts (or already has). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const end = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', end);
      resolve();
    };
    const timer = setTimeout(end, ms);
    signal.addEventListener('abort', end, { once: true });
  });
}

/**
 * Runs `tasks` at most `concurrency` at a time until all settle or `signal` aborts. Tasks
 * receive the signal and should end promptly on abort; whatever has not settled by then is
 * reported as timed out rather than waited for. Outcomes are in task order.
 */
export async function runBounded<T>(
  tasks: ReadonlyArray<(signal: AbortSignal) => Promise<T>>,
  concurrency: number,
  signal: AbortSignal,
): Promise<TaskOutcome<T>[]> {
  const limit = pLimit(Math.max(1, Math.floor(concurrency)));
  const outcomes: Array<TaskOutcome<T> | undefined> = tasks.map(() => undefined);
  const running = tasks.map((task, i) =>
    limit(async () => {
      if (signal.aborted) return;
      try {
        outcomes[i] = { status: 'done', value: await task(signal) };
      } catch (error) {
        outcomes[i] = { status: 'failed', error };
      }
    }),
  );
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  await Promise.race([Promise.allSettled(running), aborted]);
  if (onAbort) signal.removeEventListener('abort', onAbort);
  limit.clearQueue();
  // A task that settled while aborting is kept; one that did not is reported, not awaited.
  return outcomes.map((o) => o ?? { status: 'timed-out' });
}

/**
 * A deadline for `jobs` probes run `concurrency` at a time: `baseMs` for a batch that fits in
 * one wave, plus one probe timeout for each further wave. Each probe ends by its own timeout,
 * so waves x timeout is the longest a batch can take when every probe hangs; a fixed bound would
 * instead cut a large, healthy pool short and blame nodes that were never asked.
 */
export function scaleDeadline(
  baseMs: number,
  jobs: number,
  concurrency: number,
  timeoutMs: number,
): number {
  const waves = Math.ceil(jobs / Math.max(1, Math.floor(concurrency)));
  return baseMs + Math.max(0, waves - 1) * timeoutMs;
}

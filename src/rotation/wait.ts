import type { EmitEvent } from './types.js';

/**
 * Waits out the overlap with a tick a second for the countdown. Resolves false when interrupted,
 * so that the caller rolls back instead of promoting.
 */
export function waitOverlap(
  pool: string,
  totalMs: number,
  signal: AbortSignal,
  emit: EmitEvent,
): Promise<boolean> {
  const end = Date.now() + totalMs;
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const tick = (): void => {
      const remainingMs = Math.max(0, end - Date.now());
      emit({ type: 'wait', pool, remainingMs, totalMs });
      if (remainingMs === 0) {
        done(true);
        return;
      }
      timer = setTimeout(tick, Math.min(1000, remainingMs));
    };
    const onAbort = (): void => done(false);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    let timer: NodeJS.Timeout | undefined;
    signal.addEventListener('abort', onAbort);
    tick();
  });
}

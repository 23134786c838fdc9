import { watch, type FSWatcher } from 'node:fs';
import { resolve } from 'node:path';
import type { Server } from 'node:tls';
import { OperationError } from '../errors.js';
import { readManagedKey, readManagedKeySync, type KeyReading } from './key-source.js';
import { findTicketTraps } from './traps.js';

export interface KeyLoadedEvent {
  /** The key's 16-byte name in hex (public: it starts every ticket on the wire). */
  keyId: string;
  /** The key file it came from. */
  file: string;
}

export interface TicketKeyOptions {
  /** The pool's keyDir on this node: the directory holding stekctl's tickets.conf. */
  keyDir: string;
  /** After a key was put in place: at start, and each time stekctl switches it. */
  onKey?: (event: KeyLoadedEvent) => void;
  /**
   * When the managed file names no usable key. The server keeps the key it has; the next change
   * (or poll) tries again. Called once per distinct problem, never with key bytes in the message.
   */
  onError?: (error: OperationError) => void;
  /** Once at start, for each setting of the server that defeats shared keys (see findTicketTraps). */
  onWarning?: (message: string) => void;
  /** Throw at start when no key can be loaded, instead of serving with the server's own key. */
  required?: boolean;
  /** How often to re-read in case a change notification was missed. Default 5000 ms. */
  pollIntervalMs?: number;
  /** Changes closer together than this are read once. Default 50 ms. */
  debounceMs?: number;
}

export interface TicketKeyWatch {
  /** Id of the key the server encrypts with; undefined while it uses its own random key. */
  readonly keyId: string | undefined;
  /** The problem of the last read, until a key loads again. */
  readonly lastError: OperationError | undefined;
  readonly closed: boolean;
  /** Reads the managed file now; resolves with the key id in use afterwards. */
  refresh(): Promise<string | undefined>;
  /** Stops watching. Also happens when the server closes. */
  close(): void;
}

const defaultPollMs = 5000;
const defaultDebounceMs = 50;

/**
 * Keeps `server`'s session ticket key equal to the one stekctl manages in `keyDir`: loads it before
 * the server takes its first connection, and again whenever stekctl switches it, without a restart.
 * Every process that calls this with the same keyDir (cluster workers, other nodes) encrypts with
 * the same key, so a ticket issued by one resumes on all of them. (Node's cluster alone shares
 * only the random key of its first worker, among the workers of one primary: a new one at every
 * start, never rotated, different on every machine.)
 *
 * The directory is watched rather than the file: stekctl replaces the managed file by renaming a
 * new one over it, and a watch on the file would stay on the old inode. A slow poll covers missed
 * notifications and key files outside keyDir. Nothing here throws after start.
 */
export function useTicketKeys(server: Server, options: TicketKeyOptions): TicketKeyWatch {
  if (typeof options?.keyDir !== 'string' || options.keyDir === '') {
    throw new OperationError('useTicketKeys needs options.keyDir, the directory stekctl manages');
  }
  const keyDir = resolve(options.keyDir);
  let current: { keyId: string; digest: string } | undefined;
  let lastError: OperationError | undefined;
  let reported: string | undefined;
  let closed = false;
  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;

  const report = (error: OperationError): void => {
    lastError = error;
    if (error.message === reported) return;
    reported = error.message;
    notify(options.onError, error);
  };

  const apply = (reading: KeyReading): void => {
    if (reading.kind === 'none') {
      report(
        new OperationError(
          current
            ? `${reading.reason}; keeping key ${current.keyId}`
            : `${reading.reason}; the server keeps Node's own random key, which no other node shares`,
        ),
      );
      return;
    }
    const { key } = reading;
    try {
      // Compared with what the server holds, not with what was last set: something else may
      // have replaced it (see onListening).
      if (!holds(server, key.bytes)) server.setTicketKeys(key.bytes);
      if (current?.digest !== key.digest) {
        current = { keyId: key.keyId, digest: key.digest };
        notify(options.onKey, { keyId: key.keyId, file: key.file }, report);
      }
      lastError = undefined;
      reported = undefined;
    } finally {
      key.bytes.fill(0);
    }
  };

  const refresh = (): Promise<void> => {
    if (closed) return Promise.resolve();
    if (running) {
      // A change during a read: read once more when this one ends.
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          const reading = await readManagedKey(keyDir);
          if (!closed) apply(reading);
          else if (reading.kind === 'key') reading.key.bytes.fill(0);
        } catch (err) {
          if (!closed) report(asOperationError(err));
        }
      } while (again && !closed);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = (): void => {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => void refresh(), options.debounceMs ?? defaultDebounceMs);
    debounce.unref();
  };

  const startWatch = (): void => {
    if (closed || watcher) return;
    try {
      // persistent: false, so that the watch never keeps a stopping process alive.
      watcher = watch(keyDir, { persistent: false }, schedule);
      watcher.on('error', () => {
        watcher?.close();
        watcher = undefined;
        schedule();
      });
    } catch {
      // keyDir missing or unreadable: the poll reports it and retries the watch.
      watcher = undefined;
    }
  };

  const applyNow = (): void => {
    try {
      apply(readManagedKeySync(keyDir));
    } catch (err) {
      report(asOperationError(err));
    }
  };
  // Node's cluster gives each worker that starts listening the ticket keys the first worker had
  // when it listened, captured once: a worker forked again after a rotation would be handed the
  // old key over the one just loaded. Put the managed key back before the first connection.
  const onListening = (): void => {
    if (!closed) applyNow();
  };

  applyNow();
  if (options.required && !current) {
    throw lastError ?? new OperationError(`no ticket key could be loaded from ${keyDir}`);
  }
  for (const trap of findTicketTraps(server)) notify(options.onWarning, trap);

  server.on('listening', onListening);
  startWatch();
  const poll = setInterval(() => {
    startWatch();
    void refresh();
  }, options.pollIntervalMs ?? defaultPollMs);
  poll.unref();

  const close = (): void => {
    if (closed) return;
    closed = true;
    clearTimeout(debounce);
    clearInterval(poll);
    watcher?.close();
    watcher = undefined;
    server.off('close', close);
    server.off('listening', onListening);
  };
  server.once('close', close);

  return {
    get keyId() {
      return current?.keyId;
    },
    get lastError() {
      return lastError;
    },
    get closed() {
      return closed;
    },
    async refresh() {
      await refresh();
      return current?.keyId;
    },
    close,
  };
}

/** Whether the server encrypts with `bytes` now. The copy of its keys is zeroed at once. */
function holds(server: Server, bytes: Buffer): boolean {
  const live = server.getTicketKeys();
  try {
    return live.equals(bytes);
  } finally {
    live.fill(0);
  }
}

/** Calls back without letting the callback's own failure escape into a timer or a watch. */
function notify<T>(
  callback: ((value: T) => void) | undefined,
  value: T,
  onFailure?: (error: OperationError) => void,
): void {
  try {
    callback?.(value);
  } catch (err) {
    if (onFailure)
      notify(onFailure, new OperationError(`a ticket key callback failed: ${messageOf(err)}`));
  }
}

function asOperationError(err: unknown): OperationError {
  return err instanceof OperationError ? err : new OperationError(messageOf(err));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

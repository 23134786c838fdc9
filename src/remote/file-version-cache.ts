import { statSync } from 'node:fs';

/**
 * What was read from a file, by path, handed out again while the file keeps its size and mtime,
 * also to readers that start together: every login of a fleet reads the same known_hosts and
 * identity file, and would otherwise read, parse and keep a copy per connection.
 */
export class FileVersionCache<T> {
  readonly #entries = new Map<string, { mtimeMs: number; size: number; value: Promise<T> }>();
  readonly #load: (file: string) => Promise<T>;
  readonly #whole: ((value: T, size: number) => boolean) | undefined;

  /**
   * `whole` tells a read of the size stat saw from one of a file that changed while it was read:
   * such a read is handed out once and not kept.
   */
  constructor(load: (file: string) => Promise<T>, whole?: (value: T, size: number) => boolean) {
    this.#load = load;
    this.#whole = whole;
  }

  /**
   * Rejects as stat or the load does; a failed read is not kept. The stat is synchronous: every
   * login makes it, and for a local file that is cheaper than a thread-pool round trip.
   */
  async read(file: string): Promise<T> {
    const info = statSync(file);
    const cached = this.#entries.get(file);
    if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) {
      return cached.value;
    }
    const entry = { mtimeMs: info.mtimeMs, size: info.size, value: this.#load(file) };
    this.#entries.set(file, entry);
    const drop = (): void => {
      if (this.#entries.get(file) === entry) this.#entries.delete(file);
    };
    let value: T;
    try {
      value = await entry.value;
    } catch (err) {
      drop();
      throw err;
    }
    if (this.#whole && !this.#whole(value, info.size)) drop();
    return value;
  }
}

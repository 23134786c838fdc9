import { randomBytes } from 'node:crypto';
import { link, open, rename, unlink, lstat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OperationError } from '../errors.js';

export interface WriteFileAtomicOptions {
  /** Final permission bits, applied exactly whatever the umask (0o600 for key files). */
  mode: number;
  /** When false, an existing target is left alone and the write fails. */
  overwrite: boolean;
}

/** Codes from link() that mean "this filesystem has no hard links", not "the target exists". */
const noHardLinkCodes = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const reasons: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a parent is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only filesystem',
  ENOSPC: 'no space left on device',
  EISDIR: 'it is a directory',
  EXDEV: 'crosses filesystems',
};

/** A short reason for a message: the errno text and code, nothing from the data. */
function reasonOf(err: unknown, fallback: string): string {
  const code = codeOf(err);
  if (code === undefined) {
    return fallback;
  }
  const reason = reasons[code];
  return reason === undefined ? code : `${reason} (${code})`;
}

function failure(message: string, cause: unknown): OperationError {
  const err = new OperationError(message);
  err.cause = cause;
  return err;
}

/**
 * Writes `data` to `path` so that readers see either the old file or the complete new one,
 * never a partial file, and the new content survives a crash once this resolves.
 *
 * The temporary file sits in the target's directory (rename is only atomic within one
 * filesystem) and is created with the final mode and `wx`, so key bytes are never readable by
 * others, not even for a moment. Without `overwrite`, the temporary file is hard-linked to the
 * target: link() fails if the target exists, so a file created concurrently by someone else is
 * never clobbered. Error messages name the path, never the data.
 */
export async function writeFileAtomic(
  path: string,
  data: Buffer | string,
  opts: WriteFileAtomicOptions,
): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  let tempExists = false;
  try {
    try {
      handle = await open(temp, 'wx', opts.mode);
      tempExists = true;
      // open() applies the umask; chmod sets the exact mode asked for.
      await handle.chmod(opts.mode);
      await handle.writeFile(data);
      await handle.sync();
      await handle.close();
      handle = undefined;
    } catch (err) {
      throw failure(`cannot write ${path}: ${reasonOf(err, 'write failed')}`, err);
    }

    if (opts.overwrite) {
      try {
        await rename(temp, path);
        tempExists = false;
      } catch (err) {
        throw failure(`cannot replace ${path}: ${reasonOf(err, 'rename failed')}`, err);
      }
    } else {
      await placeWithoutOverwrite(temp, path);
      tempExists = false;
    }

    await syncDirectory(dir, path);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    if (tempExists) {
      await unlink(temp).catch(() => undefined);
    }
    throw err;
  }
}

/** Moves temp to path only if path does not exist; removes temp in every case it returns. */
async function placeWithoutOverwrite(temp: string, path: string): Promise<void> {
  try {
    await link(temp, path);
  } catch (err) {
    const code = codeOf(err);
    if (code === 'EEXIST') {
      throw failure(`${path} already exists; not overwriting it`, err);
    }
    if (code === undefined || !noHardLinkCodes.has(code)) {
      throw failure(`cannot create ${path}: ${reasonOf(err, 'link failed')}`, err);
    }
    // No hard links here: check, then rename. A creator racing between the two can lose its
    // file, which is the best this filesystem allows.
    await renameIfAbsent(temp, path);
    return;
  }
  // The target now holds the data; a failure to drop the second name only leaves a stray file.
  await unlink(temp).catch(() => undefined);
}

async function renameIfAbsent(temp: string, path: string): Promise<void> {
  try {
    await lstat(path);
    throw failure(`${path} already exists; not overwriting it`, undefined);
  } catch (err) {
    if (err instanceof OperationError) {
      throw err;
    }
    if (codeOf(err) !== 'ENOENT') {
      throw failure(`cannot create ${path}: ${reasonOf(err, 'lstat failed')}`, err);
    }
  }
  try {
    await rename(temp, path);
  } catch (err) {
    throw failure(`cannot create ${path}: ${reasonOf(err, 'rename failed')}`, err);
  }
}

/** Makes the new directory entry durable; without it a crash may lose the rename. */
async function syncDirectory(dir: string, path: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    // Some filesystems cannot fsync a directory; the file itself is already synced.
    if (codeOf(err) !== 'EINVAL') {
      throw failure(
        `wrote ${path} but cannot sync its directory: ${reasonOf(err, 'fsync failed')}`,
        err,
      );
    }
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

import type { Command } from 'commander';
import { Option } from 'commander';
import { UsageError } from '../errors.js';
import { generateKey, keyIdOf, renderKey, zeroKey } from '../keys/index.js';
import { writeFileAtomic } from '../local/write-file-atomic.js';

interface KeygenOptions {
  size: 48 | 80;
  output?: string;
  force?: boolean;
}

export function registerKeygen(program: Command, run: (fn: () => Promise<number>) => void): void {
  program
    .command('keygen')
    .description(
      'write one random session ticket key (like `openssl rand 48`) to a file with mode 0600',
    )
    .addOption(
      new Option('--size <bytes>', 'key size: 48 (AES-128) or 80 (AES-256)')
        .default('48')
        .argParser((v) => {
          if (v !== '48' && v !== '80')
            throw new UsageError(`--size: expected 48 or 80, got "${v}"`);
          return Number(v);
        }),
    )
    .option(
      '-o, --output <file>',
      'file to write (atomically, mode 0600); default: standard output',
    )
    .option('--force', 'overwrite an existing file')
    .action((opts: KeygenOptions) => run(() => keygen(opts)));
}

async function keygen(opts: KeygenOptions): Promise<number> {
  const size = Number(opts.size) === 80 ? 80 : 48;
  if (!opts.output && process.stdout.isTTY) {
    throw new UsageError(
      'refusing to write raw key bytes to a terminal',
      'use -o FILE, or redirect standard output to a file',
    );
  }
  const key = generateKey(size);
  // The canonical key in nginx order is exactly `openssl rand <size>`: every byte random.
  const bytes = renderKey('nginx', key);
  const id = keyIdOf(key);
  try {
    if (opts.output) {
      await writeFileAtomic(opts.output, bytes, { mode: 0o600, overwrite: opts.force === true });
      process.stderr.write(`wrote ${size}-byte key ${id} to ${opts.output} (mode 0600)\n`);
    } else {
      await new Promise<void>((resolve, reject) =>
        process.stdout.write(bytes, (err) => (err ? reject(err) : resolve())),
      );
    }
  } finally {
    bytes.fill(0);
    zeroKey(key);
  }
  return 0;
}

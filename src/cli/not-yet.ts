import type { Command } from 'commander';
import { OperationError } from '../errors.js';
import { concurrencyOption, inventoryOption, poolOption } from './options.js';

/** Verbs whose contract exists but whose engine does not yet: they say so and exit 1. */
export function registerPlaceholder(
  program: Command,
  name: string,
  description: string,
  run: (fn: () => Promise<number>) => void,
): Command {
  return program
    .command(name)
    .description(description)
    .addOption(inventoryOption())
    .addOption(poolOption())
    .addOption(concurrencyOption())
    .option('--json', 'print one JSON document')
    .action(() =>
      run(() => {
        throw new OperationError(`\`stekctl ${name}\` is not implemented yet; nothing was done`);
      }),
    );
}

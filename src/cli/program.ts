// The command line itself, loaded by main.ts.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { runMain } from './exit.js';
import { tuneProcessMemory } from './process-memory.js';
import { registerKeygen } from './keygen.js';
import { registerRollback } from './rollback.js';
import { registerRotate } from './rotate.js';
import { registerStatus } from './status.js';
import { registerVerify } from './verify.js';

tuneProcessMemory();

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/**
 * Commander calls one action; the action hands its work here so that runMain alone decides the
 * exit code.
 */
let work: (() => Promise<number>) | undefined;
const run = (fn: () => Promise<number>): void => {
  work = fn;
};

const program = new Command('stekctl')
  .description(
    'Rotate TLS session ticket keys across nginx, Apache httpd, HAProxy and Node.js TLS fleets over SSH, and prove that sessions still resume.',
  )
  .version(pkg.version)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .addHelpText(
    'after',
    `
Exit codes:
  0  success
  1  the operation failed; every pool that failed is as it was
  2  usage or inventory error; nothing was contacted
  3  failed and not fully restored; the output names what needs a person
  4  another run holds the pool; nothing was touched`,
  );

registerRotate(program, run);
registerStatus(program, run);
registerVerify(program, run);
registerRollback(program, run);
registerKeygen(program, run);

await runMain(async () => {
  await program.parseAsync(process.argv);
  if (!work) {
    program.outputHelp();
    return 2;
  }
  return work();
});

#!/usr/bin/env -S node --max-semi-space-size=8
// The shebang's flag sizes V8's young generation, which node reads only at startup: see
// semiSpaceFlag in process-memory.ts.

/**
 * The command line is loaded by import() from here, which imports nothing else: Node's module
 * loader reads a program's files many at once, and under a very low open-file limit it runs out
 * of descriptors before any of stekctl's code runs (descriptor-limit.ts checks the limit a run
 * needs only once it is loaded). That is told in one line with exit 2, like a limit too low for
 * the run, instead of a stack trace.
 */
try {
  await import('./program.js');
} catch (err) {
  if ((err as NodeJS.ErrnoException).code !== 'EMFILE') throw err;
  process.stderr.write(
    'stekctl: too many open files while starting: the open-file limit (ulimit -n) is too low even to load stekctl; raise it (for example ulimit -n 1024) and run again\n',
  );
  process.exitCode = 2;
}

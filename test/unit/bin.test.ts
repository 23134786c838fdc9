import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { semiSpaceFlag } from '../../src/cli/process-memory.js';

const bin = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = promisify(execFile);

describe('the stekctl bin', () => {
  it('runs through its shebang, which gives node the young-generation size', async () => {
    expect(readFileSync(bin, 'utf8').split('\n')[0]).toBe(
      `#!/usr/bin/env -S node ${semiSpaceFlag}`,
    );
    const { stdout } = await run(bin, ['--version']);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

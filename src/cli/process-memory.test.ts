import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { heapGrowthFlag } from './process-memory.js';

describe('tuneProcessMemory', () => {
  it('sets a V8 flag this Node knows: an unknown one prints an error on every run', () => {
    const script = `require('node:v8').setFlagsFromString(${JSON.stringify(heapGrowthFlag)})`;
    const known = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(known.status).toBe(0);
    expect(known.stderr).toBe('');
    // The check itself would see V8's complaint about a flag it does not know.
    const unknown = spawnSync(
      process.execPath,
      ['-e', `require('node:v8').setFlagsFromString('--no-such-flag-here=1')`],
      { encoding: 'utf8' },
    );
    expect(unknown.stderr).toMatch(/unrecognized flag/);
  });
});

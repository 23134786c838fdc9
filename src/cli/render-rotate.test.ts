import { describe, expect, it } from 'vitest';
import type { RotateReport } from '../rotation/rotate.js';
import { renderSummary } from './render-rotate.js';
import { createTerminal } from './terminal.js';

const plain = createTerminal({ isTTY: false } as NodeJS.WriteStream);

describe('renderSummary', () => {
  it("keeps a server's multi-line output under the line that names it", () => {
    const report = {
      stopped: undefined,
      preflight: [],
      refused: [],
      warnings: [],
      results: [
        {
          pool: 'web',
          server: 'nginx',
          kind: 'rotate',
          outcome: 'rolled-back',
          keyId: 'ab'.repeat(16),
          after: [],
          phases: [{ name: 'stage', ok: false, nodes: [] }],
          error: 'stage failed on a: reload: nginx: [emerg] bad\nsee the error log',
          ticketChecks: [],
          notes: [],
          needsPerson: [],
          warnings: [],
        },
      ],
    } as unknown as RotateReport;
    expect(renderSummary(report, plain)).toBe(
      'pool web (nginx): FAILED and rolled back: every node holds its ring from before the run\n' +
        '  cause: stage failed on a: reload: nginx: [emerg] bad\n' +
        '    see the error log\n',
    );
  });
});

import { expect } from 'vitest';
import type { CliResult } from './cli.js';

/** The parts of `stekctl rotate --json` the end-to-end tests read. */
export interface RotateDoc {
  exitCode: number;
  stopped: string | undefined;
  preflight: { pool: string; failures: { node: string; reason: string }[] }[];
  pools: {
    pool: string;
    keyId: string;
    kind: string;
    outcome: string;
    after: string[];
    error: string | undefined;
    needsPerson: { node: string; reason: string }[];
    notes: string[];
    warnings: string[];
    via?: 'direct' | 'ssh';
    probedFrom?: string;
    verification?: {
      ok: boolean;
      summary: { probes: number; resumed: number };
      diagnostics: { code: string; nodes: string[] }[];
      offers: { from: string; to: string; reused: boolean; error?: { code: string } }[];
    };
    rollbackVerification?: { ok: boolean; encryptingKeyIds: string[] };
    ticketChecks: { name: string; ok: boolean; problems: string[] }[];
    phases: { name: string; ok: boolean }[];
  }[];
}

/** The JSON report of a rotate run that ended the way stekctl means to end: never a crash. */
export function rotateDocOf(res: CliResult): RotateDoc {
  expect(res.stderr).not.toMatch(/unexpected error/i);
  expect(res.stdout, res.stderr).not.toBe('');
  return JSON.parse(res.stdout) as RotateDoc;
}

/** The one node named by a run that stopped in the preflight (exit 1, nothing written), and why. */
export function preflightFailureOf(res: CliResult): { node: string; reason: string } {
  expect(res.code, res.stderr).toBe(1);
  const doc = rotateDocOf(res);
  expect(doc.stopped).toBe('preflight');
  const failures = doc.preflight.flatMap((p) => p.failures);
  expect(failures).toHaveLength(1);
  return failures[0]!;
}

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { processesUnder } from '../../src/loopback/procs.js';
import { canBind } from '../../src/loopback/wait.js';

const demo = fileURLToPath(new URL('../../dist/demo/main.js', import.meta.url));
/** The demo takes about 20 s; the margin is for a loaded machine. */
const demoTimeoutMs = 150_000;
const testTimeoutMs = demoTimeoutMs + 30_000;

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * Runs the built demo with stdout and stderr in one string; `onOutput` sees the output so far
 * and may act on the running process (send it a signal).
 */
function runDemo(onOutput?: (text: string, pid: number) => void): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [demo], {
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    // Well inside the test's timeout, so that a stuck demo fails with its output shown.
    const timer = setTimeout(() => {
      output += `\n[test] no exit after ${demoTimeoutMs} ms: sending SIGTERM\n`;
      child.kill('SIGTERM');
    }, demoTimeoutMs);
    const take = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (child.pid !== undefined) onOutput?.(output, child.pid);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/** The fleet directory and node addresses the demo announces at the start. */
function announced(output: string): { dir: string; hosts: string[] } {
  const dir = /fleet directory: (\/tmp\/stekctl-fleet-\S+)/.exec(output)?.[1];
  const hosts = /nginx nodes \(([^)]*)\)/.exec(output)?.[1]?.split(', ') ?? [];
  if (!dir) throw new Error(`the demo did not name its fleet directory:\n${output}`);
  return { dir, hosts };
}

/** Nothing of the fleet is left: no directory, no process, no listener on its addresses. */
async function expectGone(output: string): Promise<void> {
  const { dir, hosts } = announced(output);
  expect(hosts).toHaveLength(3);
  expect(existsSync(dir), `${dir} still exists`).toBe(false);
  expect(processesUnder(dir)).toEqual([]);
  for (const host of hosts) {
    expect(await canBind(host, 22022), `sshd still listens on ${host}`).toBe(true);
    expect(await canBind(host, 24443), `nginx still listens on ${host}`).toBe(true);
  }
}

describe('npm run demo', () => {
  it(
    'bootstraps, rotates and verifies a loopback fleet, then removes it',
    async () => {
      const res = await runDemo();
      expect(res.code, res.output).toBe(0);
      const out = res.output;
      expect(out).toContain('not bootstrapped');
      // The bootstrap and the full rotation each end with a rotated pool and a passing verify.
      expect(
        out.match(/pool web \(nginx\): rotated: every node encrypts with [0-9a-f]{12}/g),
      ).toHaveLength(2);
      expect(out.match(/verify: 18\/18 resumptions across the pool, ok/g)).toHaveLength(2);
      expect(out).toContain('dry run: nothing was written or reloaded');
      expect(out).toMatch(/\[web\] stage ok/);
      expect(out).toMatch(/\[web\] overlap: 5s left before promotion/);
      expect(out).toMatch(/\[web\] promote ok/);
      expect(out).toContain('tickets-before-promotion-resume: ok');
      expect(out).toMatch(/pool web \(nginx\): ok +18\/18 resumed/);
      expect(out).toContain('consistent: every node holds the same ring');
      expect(out).toContain('Demo complete');
      await expectGone(out);
    },
    testTimeoutMs,
  );

  it(
    'on SIGTERM during the overlap stops stekctl, removes the fleet and exits 130',
    async () => {
      let sent = false;
      const res = await runDemo((text, pid) => {
        if (sent || !text.includes('left before promotion')) return;
        sent = true;
        process.kill(pid, 'SIGTERM');
      });
      expect(sent, res.output).toBe(true);
      expect(res.code, res.output).toBe(130);
      expect(res.output).toContain('SIGTERM: stopping the demo');
      expect(res.output).not.toContain('Demo complete');
      await expectGone(res.output);
    },
    testTimeoutMs,
  );
});

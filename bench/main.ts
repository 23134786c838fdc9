/**
 * `npm run bench`: stekctl against the runbook loop, Ansible and the SSH floor on a real loopback
 * fleet, then against simulated fleets of thousands of nodes. Progress goes to stderr, the
 * report (Markdown) to stdout. See docs/benchmarks.md.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, type BenchArgs } from './args.js';
import { runLoopback, type LoopbackResult } from './loopback/suite.js';
import { describeMachine } from './machine.js';
import { haveTimeBinary, loadAverage } from './measure.js';
import { renderReport } from './report.js';
import { runSim, type SimResult } from './sim/sim-suite.js';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function runAll(a: BenchArgs): Promise<void> {
  if (!haveTimeBinary())
    throw new Error('/usr/bin/time (GNU time) is needed: apt-get install time');
  if (process.getuid?.() !== 0) throw new Error('the loopback fleet needs root');
  const t0 = Date.now();
  const machine = describeMachine();
  const load = { start: loadAverage(), end: [] as number[], samples: [] as number[] };
  log(`load average at start: ${load.start.join(' ')}`);
  // Other work on the machine changes every figure: record how busy it was throughout.
  const sampler = setInterval(() => load.samples.push(loadAverage()[0]), 5_000);
  sampler.unref();
  const loopback: LoopbackResult[] = [];
  for (const n of a.nodes) {
    log(`loopback fleet: ${n} nodes`);
    loopback.push(
      await runLoopback(n, {
        runs: a.runs,
        concurrency: a.concurrency,
        tools: a.tools,
        cli,
        timeoutMs: a.timeoutMs,
        keepLoginRc: a.keepLoginRc,
        log,
      }),
    );
  }
  const sim: SimResult[] = [];
  const cases = a.sim.flatMap((n) =>
    a.simConcurrency.flatMap((concurrency) =>
      a.simProbeThreads.map((probeThreads) => ({ n, concurrency, probeThreads })),
    ),
  );
  for (const { n, concurrency, probeThreads } of cases) {
    for (let r = 0; r < a.simRuns; r++) {
      log(
        `simulated fleet: ${n} nodes, concurrency ${concurrency}, probe threads ${probeThreads}, run ${r + 1}/${a.simRuns}`,
      );
      const res = await runSim(n, {
        workers: a.simWorkers,
        subnet: a.simSubnet,
        sshPort: 23022,
        tlsPort: 25443,
        latencyMs: a.simLatencyMs,
        execMs: a.simExecMs,
        checkMs: a.simCheckMs,
        reloadMs: a.simReloadMs,
        failureRate: a.simFailureRate,
        versions: a.simVersions,
        seed: 1 + r,
        concurrency,
        probeThreads,
        cli,
      });
      log(
        `  ${res.outcome} in ${(res.wallMs / 1000).toFixed(1)} s (ideal ${(res.idealMs / 1000).toFixed(1)} s), ` +
          `CPU ${(res.cpuMs / 1000).toFixed(1)} s, peak RSS ${Math.round(res.maxRssKb / 1024)} MB`,
      );
      sim.push(res);
    }
  }
  clearInterval(sampler);
  load.end = loadAverage();
  process.stdout.write(renderReport(a, machine, load, loopback, sim, Date.now() - t0));
  if (a.json) {
    // Tool output (stekctl's JSON report, Ansible's log) stays out: it is large and not a result.
    const slim = loopback.map((l) => ({
      ...l,
      runs: l.runs.map((round) => round.map(({ stdout: _o, stderr: _e, ...rest }) => rest)),
    }));
    await writeFile(
      a.json,
      JSON.stringify({ args: a, machine, load, loopback: slim, sim }, null, 2),
    );
    log(`raw results: ${a.json}`);
  }
}

let args: BenchArgs;
try {
  args = parseArgs(process.argv.slice(2));
} catch (err) {
  log(err instanceof Error ? err.message : String(err));
  process.exit(2);
}
runAll(args).catch((err: unknown) => {
  log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});

import type { ToolName } from './loopback/tools.js';
import { toolNames } from './loopback/tools.js';

export interface BenchArgs {
  /** Loopback fleet sizes; empty skips the loopback part. */
  nodes: number[];
  runs: number;
  /** Loopback concurrency (and Ansible forks); undefined: the fleet size. */
  concurrency: number | undefined;
  tools: ToolName[];
  keepLoginRc: boolean;
  /** Simulated fleet sizes; empty skips the simulation. */
  sim: number[];
  simRuns: number;
  /** stekctl --concurrency against the simulator; each fleet size runs once per value. */
  simConcurrency: number[];
  /** stekctl --probe-threads against the simulator; one run per value. */
  simProbeThreads: string[];
  simWorkers: number;
  simLatencyMs: number;
  simExecMs: number;
  simCheckMs: number;
  simReloadMs: number;
  simFailureRate: number;
  simVersions: string[];
  simSubnet: number;
  timeoutMs: number;
  json: string | undefined;
}

export const usage = `usage: npm run bench -- [options]

Loopback fleet (sshd + nginx per node, real tools):
  --nodes 4,16,32        fleet sizes ('none' skips)            --runs 3      rounds per size
  --concurrency N        stekctl --concurrency and Ansible forks (default: the fleet size)
  --tools stekctl,loop,ansible,floor                            --keep-login-rc  see docs/benchmarks.md
Simulated fleet (ssh2 + node:tls simulators, stekctl CLI against them):
  --sim 1000,10000       fleet sizes ('none' skips)            --sim-runs 1
  --sim-concurrency 256  stekctl --concurrency (a list: one run per value)
  --sim-probe-threads auto  stekctl --probe-threads (a list: one run per value)
  --sim-workers 2  --sim-latency 20  --sim-exec 10  --sim-check 20  --sim-reload 300 (ms)
  --sim-failure-rate 0  --sim-versions 1.3  --sim-subnet 77
Other:
  --timeout 600          seconds per measured command          --json FILE   raw results
`;

function list(v: string): number[] {
  if (v === 'none' || v === '') return [];
  return v.split(',').map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 1) throw new Error(`not a positive whole number: ${x}`);
    return n;
  });
}

function num(v: string, name: string, min = 0): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: expected a number >= ${min}`);
  return n;
}

export function parseArgs(argv: string[]): BenchArgs {
  const a: BenchArgs = {
    nodes: [4, 16, 32],
    runs: 3,
    concurrency: undefined,
    tools: [...toolNames],
    keepLoginRc: false,
    sim: [1000, 10000],
    simRuns: 1,
    simConcurrency: [256],
    simProbeThreads: ['auto'],
    simWorkers: 2,
    simLatencyMs: 20,
    simExecMs: 10,
    simCheckMs: 20,
    simReloadMs: 300,
    simFailureRate: 0,
    simVersions: ['TLSv1.3'],
    simSubnet: 77,
    timeoutMs: 600_000,
    json: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    if (flag === '--keep-login-rc') {
      a.keepLoginRc = true;
      continue;
    }
    if (flag === '--help' || flag === '-h') throw new Error(usage);
    const v = argv[++i];
    if (v === undefined) throw new Error(`${flag}: missing value\n\n${usage}`);
    switch (flag) {
      case '--nodes':
        a.nodes = list(v);
        break;
      case '--runs':
        a.runs = num(v, 'runs', 1);
        break;
      case '--concurrency':
        a.concurrency = num(v, 'concurrency', 1);
        break;
      case '--tools':
        a.tools = v.split(',').map((t) => {
          if (!toolNames.includes(t as ToolName)) throw new Error(`--tools: unknown tool ${t}`);
          return t as ToolName;
        });
        break;
      case '--sim':
        a.sim = list(v);
        break;
      case '--sim-runs':
        a.simRuns = num(v, 'sim-runs', 1);
        break;
      case '--sim-concurrency':
        a.simConcurrency = list(v);
        break;
      case '--sim-probe-threads':
        a.simProbeThreads = v.split(',').map((t) => {
          if (t !== 'auto' && !/^\d+$/.test(t))
            throw new Error(`--sim-probe-threads: not "auto" or a count: ${t}`);
          return t;
        });
        break;
      case '--sim-workers':
        a.simWorkers = num(v, 'sim-workers', 1);
        break;
      case '--sim-latency':
        a.simLatencyMs = num(v, 'sim-latency');
        break;
      case '--sim-exec':
        a.simExecMs = num(v, 'sim-exec');
        break;
      case '--sim-check':
        a.simCheckMs = num(v, 'sim-check');
        break;
      case '--sim-reload':
        a.simReloadMs = num(v, 'sim-reload');
        break;
      case '--sim-failure-rate':
        a.simFailureRate = num(v, 'sim-failure-rate');
        break;
      case '--sim-versions':
        a.simVersions = v.split(',').map((x) => (x.startsWith('TLS') ? x : `TLSv${x}`));
        break;
      case '--sim-subnet':
        a.simSubnet = num(v, 'sim-subnet', 1);
        break;
      case '--timeout':
        a.timeoutMs = num(v, 'timeout', 1) * 1000;
        break;
      case '--json':
        a.json = v;
        break;
      default:
        throw new Error(`unknown option ${flag}\n\n${usage}`);
    }
  }
  return a;
}

#!/usr/bin/env node
/**
 * `npm run demo`: a real three-node nginx fleet on loopback, and stekctl run against it the way an
 * operator would: status, bootstrap, dry run, a full rotation, verify, status. Everything the demo
 * starts lives under one /tmp/stekctl-fleet-* directory and is removed at the end, also on Ctrl-C.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createTerminal } from '../cli/terminal.js';
import { startFleet, type Fleet } from '../loopback/index.js';
import { killCurrentChild, runInherited, stopCurrentChild } from './child.js';
import { formatInstallCommand, isRoot, listMissingPackages } from './packages.js';
import { buildSteps, demoOverlap, type DemoStep } from './steps.js';

const cliPath = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const poolName = 'web';
const nodeCount = 3;
const interruptedCode = 130;

const out = createTerminal(process.stdout);
let interrupted: NodeJS.Signals | undefined;

function say(text = ''): void {
  process.stdout.write(`${text}\n`);
}

function complain(text: string): void {
  process.stderr.write(`${createTerminal(process.stderr).red('demo:')} ${text}\n`);
}

/** Wraps a paragraph at `width` columns with an indent, for the step explanations. */
function wrap(text: string, indent: string, width = 92): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines.join('\n');
}

function onSignal(sig: NodeJS.Signals): void {
  if (interrupted) {
    // A second Ctrl-C: stop waiting. The fleet's exit hook still kills its processes.
    killCurrentChild();
    process.exit(interruptedCode);
  }
  interrupted = sig;
  process.stderr.write(
    `\n${sig}: stopping the demo: stekctl is stopped and the fleet removed (nothing to roll back)\n`,
  );
  // The main flow sees the step end, notices `interrupted`, and tears the fleet down.
  stopCurrentChild();
}

/** Returns 0 when every program the demo needs is there (installed now if need be and allowed). */
async function ensurePackages(): Promise<number> {
  const missing = listMissingPackages();
  if (!isRoot()) {
    if (missing.length > 0) {
      complain(`missing Debian packages: ${missing.join(' ')}. Install them as root:`);
      process.stderr.write(`\n  ${formatInstallCommand(missing)}\n\n`);
    }
    complain(
      'the demo must run as root: it starts sshd and nginx on 127.x loopback addresses and ' +
        'logs in to them as root. Run it as root, e.g. `sudo npm run demo`.',
    );
    return 1;
  }
  if (missing.length === 0) return 0;
  say(out.bold(`Installing what the demo needs: ${formatInstallCommand(missing)}`));
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[]): Promise<number> =>
    runInherited('apt-get', args, { env, stop: 'terminate' });
  const install = (): Promise<number> => apt(['install', '-y', ...missing]);
  try {
    let code = await install();
    // A fresh machine often has no package lists yet.
    if (code !== 0 && !interrupted && (await apt(['update'])) === 0) {
      code = await install();
    }
    if (interrupted) return interruptedCode;
    if (code !== 0) {
      complain(`apt-get failed (exit ${code}); install by hand: ${formatInstallCommand(missing)}`);
      return 1;
    }
  } catch (e) {
    complain(`cannot run apt-get (${e instanceof Error ? e.message : String(e)}).`);
    complain(`install these packages by hand: ${missing.join(' ')}`);
    return 1;
  }
  const still = listMissingPackages();
  if (still.length > 0) {
    complain(`still missing after apt-get: ${still.join(' ')}`);
    return 1;
  }
  return 0;
}

function printIntro(fleet: Fleet, inventory: string, inventoryText: string): void {
  const hosts = fleet.nodes.map((n) => n.host).join(', ');
  say();
  say(
    wrap(
      `${nodeCount} nginx nodes (${hosts}), each with its own sshd on port ` +
        `${fleet.nodes[0]?.sshPort} and TLS on port ${fleet.nodes[0]?.tlsPort}, ` +
        'sharing one certificate. stekctl reaches them over SSH only, as it would real servers.',
      '  ',
    ),
  );
  say(`  fleet directory: ${fleet.dir} (removed at the end)`);
  say(`  stekctl below is: node ${cliPath}`);
  say();
  say(out.bold(`The inventory (${inventory}):`));
  say();
  say(inventoryText.replace(/^/gm, '  ').trimEnd());
}

async function runStep(step: DemoStep, index: number, total: number, inventory: string) {
  say();
  say(out.bold(`== ${index + 1}/${total}  ${step.title}`));
  say(wrap(step.explain, '   '));
  // The inventory right after the verb, as the README writes commands.
  const [verb = '', ...rest] = step.args;
  const args = [verb, '-i', inventory, ...rest];
  say(out.dim(`   $ stekctl ${args.join(' ')}`));
  say();
  return runInherited(process.execPath, [cliPath, ...args], { stop: 'kill' });
}

async function runDemo(fleet: Fleet): Promise<number> {
  const inventory = await fleet.writeInventory({
    poolOverrides: { [poolName]: { overlap: demoOverlap } },
  });
  printIntro(fleet, inventory, await readFile(inventory, 'utf8'));
  const steps = buildSteps();
  for (const [index, step] of steps.entries()) {
    if (interrupted) return interruptedCode;
    const code = await runStep(step, index, steps.length, inventory);
    if (interrupted) return interruptedCode;
    if (!step.expect.includes(code)) {
      say();
      complain(
        `step ${index + 1} (stekctl ${step.args.join(' ')}) exited ${code}, expected ` +
          `${step.expect.join(' or ')}; stopping here`,
      );
      return 1;
    }
  }
  say();
  say(
    out.green(
      'Demo complete: bootstrap, a full rotation and verification ran against real nginx nodes.',
    ),
  );
  return 0;
}

async function main(): Promise<number> {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ready = await ensurePackages();
  if (ready !== 0 || interrupted) return interrupted ? interruptedCode : ready;

  say(out.bold('stekctl demo: rotating TLS session ticket keys on a real nginx fleet'));
  say(
    out.dim(`Starting ${nodeCount} nginx nodes on loopback (Ctrl-C stops the demo at any time)...`),
  );
  let fleet: Fleet;
  try {
    fleet = await startFleet({ pools: [{ name: poolName, server: 'nginx', nodes: nodeCount }] });
  } catch (e) {
    if (interrupted) return interruptedCode;
    complain(`the fleet did not start: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  try {
    return await runDemo(fleet);
  } finally {
    await fleet.stop();
    say(out.dim('Fleet stopped and its directory removed.'));
  }
}

let code: number;
try {
  code = await main();
} catch (e) {
  complain(`unexpected error: ${e instanceof Error ? e.message : String(e)}`);
  code = 1;
}
process.exit(interrupted ? interruptedCode : code);

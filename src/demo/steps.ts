/** One command of the walk-through, with what it is meant to show. */
export interface DemoStep {
  title: string;
  /** Why the step is there and what to look for in its output, one paragraph. */
  explain: string;
  /** stekctl's arguments, without the inventory. */
  args: string[];
  /** Exit codes that mean the step showed what it should. */
  expect: number[];
}

/** The overlap the demo's inventory sets: long enough to watch the countdown, short enough to wait. */
export const demoOverlap = '5s';

export function buildSteps(): DemoStep[] {
  return [
    {
      title: 'status before stekctl manages anything',
      explain:
        'Each nginx node still uses its own random ticket key, so a ticket from one node never ' +
        'resumes on another. status reads every node over SSH (read-only) and reports the pool ' +
        'as not bootstrapped; it exits 1 because the pool does not share one ring yet.',
      args: ['status'],
      expect: [0, 1],
    },
    {
      title: 'rotate --yes, first run: bootstrap',
      explain:
        'With no managed ring there is nothing to stage next to: stekctl writes one fresh key to ' +
        'every node (mode 0600), points the include file at it, checks the config, reloads, then ' +
        'proves with real handshakes that every node resumes every other node’s tickets.',
      args: ['rotate', '--yes'],
      expect: [0],
    },
    {
      title: 'rotate --dry-run: the plan, nothing written',
      explain:
        'Preflight reaches every node over SSH, runs the config test, checks that the config ' +
        'includes the managed file and that the rings agree, then prints each phase with the ' +
        'exact files and commands per node. The warning about the previous rotation is expected: ' +
        'the demo rotates seconds apart, production rotates every few hours.',
      args: ['rotate', '--dry-run'],
      expect: [0],
    },
    {
      title: `rotate --yes: a full rotation with a ${demoOverlap} overlap`,
      explain:
        'stage: the new key goes to every node for decryption only. overlap: a countdown while ' +
        'every node learns the key (minutes to hours in production). promote: every node encrypts ' +
        'with it, confirmed by reading the key id from fresh tickets. verify: tickets resume ' +
        'across nodes in TLS 1.2 and 1.3, and tickets taken before the promotion still resume. ' +
        'retire: the ring is recorded and keys beyond `retain` are deleted. The warning about the ' +
        'previous rotation is expected here too.',
      args: ['rotate', '--yes'],
      expect: [0],
    },
    {
      title: 'verify: the check to run from cron',
      explain:
        'Real TLS handshakes, every node against every node, per TLS version. The first 16 bytes ' +
        'of a ticket name the key that encrypted it, so verify also shows which key each node uses.',
      args: ['verify'],
      expect: [0],
    },
    {
      title: 'status after the rotation',
      explain:
        'Every node holds the same ring: the new key encrypts, the previous one is kept for ' +
        'decryption (retain: 1) so tickets issued before the rotation still resume.',
      args: ['status'],
      expect: [0],
    },
  ];
}

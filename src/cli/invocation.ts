import { quoteShell } from '../remote/shell.js';

/** The flags that say what a run acted on: a next command suggested to the user must repeat them. */
export interface Invocation {
  inventory: string;
  /** The pools named with --pool; undefined when the run took every pool. */
  pools?: string[] | undefined;
  sshConfig?: string | undefined;
}

let current: Invocation | undefined;

/** Called once the inventory is loaded: from then on, suggested commands carry its flags. */
export function rememberInvocation(invocation: Invocation): void {
  current = invocation;
}

/** The verbs that take an inventory; `keygen` takes none. */
const fleetVerbs = /`stekctl (rotate|rollback|status|verify)\b([^`]*)`/g;

/**
 * Rewrites each suggested command in `text` (`stekctl rotate --promote`, in backquotes, as the
 * messages of every layer write them) into one the user can paste: the inventory is a required
 * option, and a run scoped with --pool must suggest a next step scoped the same way.
 */
export function fillInvocation(text: string, invocation = current): string {
  if (!invocation) return text;
  return text.replace(fleetVerbs, (whole, verb: string, rest: string) => {
    if (hasFlag(rest, '-i', '--inventory')) return whole;
    const flags = [`-i ${shellWord(invocation.inventory)}`];
    // A message about one pool names it already.
    if (!hasFlag(rest, '-p', '--pool'))
      for (const pool of invocation.pools ?? []) flags.push(`-p ${shellWord(pool)}`);
    if (invocation.sshConfig !== undefined && !hasFlag(rest, '--ssh-config'))
      flags.push(`--ssh-config ${shellWord(invocation.sshConfig)}`);
    return `\`stekctl ${verb} ${flags.join(' ')}${rest}\``;
  });
}

function hasFlag(words: string, ...names: string[]): boolean {
  return words.split(/\s+/).some((w) => names.some((n) => w === n || w.startsWith(`${n}=`)));
}

/** A word as a person would type it: bare when the shell leaves it alone, else quoted. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : quoteShell(s);
}

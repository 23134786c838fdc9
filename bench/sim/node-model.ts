import { printfTarget, quotedAfter, readQuotedWord } from './shell-words.js';

/** What a simulated node holds: its key directory in memory, and the ring its server uses. */
export interface SimNode {
  index: number;
  host: string;
  keyDir: string;
  /** Regular files of keyDir by basename. Key files carry their key id, text files their text. */
  files: Map<string, SimFile>;
  /** Key ids the TLS server uses since its last reload, encrypting key first. */
  liveRing: string[];
}

export interface SimFile {
  size: number;
  keyId: string | undefined;
  text: string | undefined;
  mtime: number;
}

/** Key bytes (nginx layout) by key id, shared by every node of a worker. */
export type KeyStore = Map<string, Buffer>;

export type CommandKind = 'lock' | 'read' | 'apply' | 'unlock' | 'other';

export interface CommandPlan {
  kind: CommandKind;
  /** Node-side time before the answer (without network latency). */
  serviceMs: number;
  /** Runs once the service time passed: changes the node, returns stdout and the exit code. */
  run(stdin: Buffer): { stdout: string; code: number };
}

export interface ServiceTimes {
  execMs: number;
  checkMs: number;
  reloadMs: number;
  /** Share of reloads that fail (the node restores itself, as the real script does). */
  failureRate: number;
  random: () => number;
}

const confName = 'tickets.conf';
const manifestName = 'stekctl.json';
const lockName = 'stekctl.lock';
const directive = 'ssl_session_ticket_key';

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export function writeText(node: SimNode, name: string, text: string): void {
  node.files.set(name, {
    size: Buffer.byteLength(text),
    keyId: undefined,
    text,
    mtime: nowSeconds(),
  });
}

export function writeKey(node: SimNode, name: string, keyId: string, size: number): void {
  node.files.set(name, { size, keyId, text: undefined, mtime: nowSeconds() });
}

/** Key file paths named by tickets.conf, in order. */
export function confPaths(conf: string | undefined): string[] {
  if (!conf) return [];
  const out: string[] = [];
  for (const line of conf.split('\n')) {
    const m = /^\s*ssl_session_ticket_key\s+"?([^";\s]*)/.exec(line);
    if (m?.[1]) out.push(m[1]);
  }
  return out;
}

function fileOf(node: SimNode, path: string): SimFile | undefined {
  const slash = path.lastIndexOf('/');
  if (path.slice(0, slash) !== node.keyDir) return undefined;
  return node.files.get(path.slice(slash + 1));
}

/** The ring the server would load from tickets.conf now. */
export function ringFromConf(node: SimNode): string[] {
  return confPaths(node.files.get(confName)?.text).flatMap((p) => {
    const id = fileOf(node, p)?.keyId;
    return id ? [id] : [];
  });
}

/** The records of stekctl's read script (see src/servers/read-script.ts). */
function readOutput(node: SimNode, runCheck: boolean): string {
  const out = ['BEGIN|1', 'D|700|root'];
  for (const [name, f] of node.files) {
    const id = f.keyId !== undefined && (f.size === 48 || f.size === 80) ? f.keyId : '-';
    out.push(`F|${name}|${f.size}|600|root|${f.mtime}|${id}`);
  }
  const conf = node.files.get(confName)?.text;
  if (conf !== undefined) out.push(`C|${b64(conf)}`);
  const manifest = node.files.get(manifestName)?.text;
  if (manifest !== undefined) out.push(`M|${b64(manifest)}`);
  for (const p of confPaths(conf)) {
    const f = fileOf(node, p);
    out.push(f ? `R|${p}|${f.size}|600|${f.keyId ?? ''}` : `R|${p}|missing`);
  }
  out.push('I|yes', 'T|300s');
  if (runCheck) out.push('X|0|');
  out.push('END|1');
  return out.join('\n') + '\n';
}

function applyCommand(
  node: SimNode,
  script: string,
  keys: KeyStore,
  times: ServiceTimes,
): CommandPlan {
  const reload = script.includes('gen; g0=$stek_gen');
  const check = script.includes('|| fail check');
  const newFiles = [...script.matchAll(/\|\| new="\$new ([A-Za-z0-9._-]+)"/g)].map(
    (m) => m[1] as string,
  );
  const managed = printfTarget(script, `.stekctl-next/${confName}`);
  const manifest =
    printfTarget(script, '.stekctl-next/stekctl.json') ?? printfTarget(script, '.stekctl-manifest');
  // The transaction's last rm: its own dot-files, then the retired key files.
  const deletes = (/^rm -rf -- (.*)$/m.exec(script)?.[1] ?? '')
    .split(' ')
    .filter((w) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(w));
  const fails = reload && times.random() < times.failureRate;
  return {
    kind: 'apply',
    serviceMs: times.execMs + (check ? times.checkMs : 0) + (reload ? times.reloadMs : 0),
    run(stdin) {
      if (fails) {
        return {
          stdout: `FAIL-reload|${b64('simulated reload failure')}\nRESTORED|${b64('yes')}\n`,
          code: 0,
        };
      }
      const lines = stdin.toString('utf8').split('\n');
      newFiles.forEach((file, i) => {
        const bytes = Buffer.from(lines[i] ?? '', 'base64');
        const id = bytes.subarray(0, 16).toString('hex');
        if (!keys.has(id)) keys.set(id, Buffer.from(bytes));
        bytes.fill(0);
        writeKey(node, file, id, bytes.length);
      });
      if (managed !== undefined) writeText(node, confName, managed);
      if (manifest !== undefined) writeText(node, manifestName, manifest);
      for (const f of deletes) node.files.delete(f);
      let stdout = '';
      if (reload) {
        node.liveRing = ringFromConf(node);
        stdout += `RELOAD|${Date.now()}\n`;
      }
      // The retire transaction releases the pool lock as its last step.
      if (script.includes('UNLOCK|ok'))
        stdout += unlockCommand(node, script, times).run(stdin).stdout;
      stdout += `OK|${b64(`generation:${reload ? 'yes' : 'none'}`)}\n`;
      return { stdout, code: 0 };
    },
  };
}

/** The lock holder's JSON: the printf'd word that names a runId (see src/rotation/lock.ts). */
function lockHolder(script: string): string | undefined {
  for (const m of script.matchAll(/printf (?:%s|'%s\\n') (?=')/g)) {
    const word = readQuotedWord(script, (m.index ?? 0) + m[0].length).word;
    if (word.includes('"runId"')) return word.trim();
  }
  return undefined;
}

function lockCommand(node: SimNode, script: string, times: ServiceTimes): CommandPlan {
  const holder = lockHolder(script);
  const seen = /\[ "\$\(base64 -w0 < stekctl\.lock 2>\/dev\/null\)" = '([^']*)' \]/.exec(script);
  return {
    kind: 'lock',
    serviceMs: times.execMs,
    run() {
      const current = node.files.get(lockName)?.text;
      if (seen && current !== undefined && b64(current) === seen[1]) node.files.delete(lockName);
      const now = node.files.get(lockName)?.text;
      if (now !== undefined) return { stdout: `LOCK|held|${b64(now)}\n`, code: 0 };
      writeText(node, lockName, `${holder ?? '{}'}\n`);
      return { stdout: 'LOCK|ok\n', code: 0 };
    },
  };
}

function unlockCommand(node: SimNode, script: string, times: ServiceTimes): CommandPlan {
  const pattern = quotedAfter(script, 'case "$stek_l" in *');
  return {
    kind: 'unlock',
    serviceMs: times.execMs,
    run() {
      const current = node.files.get(lockName)?.text;
      if (pattern && current?.includes(pattern)) node.files.delete(lockName);
      return { stdout: 'UNLOCK|ok\n', code: 0 };
    },
  };
}

/** Recognises one of stekctl's node-side scripts by its markers and plans the answer. */
export function planCommand(
  node: SimNode,
  script: string | undefined,
  keys: KeyStore,
  times: ServiceTimes,
): CommandPlan {
  if (script?.includes('echo "BEGIN|1"')) {
    const runCheck = script.includes('echo "X|');
    // The preflight takes the lock and reads in one command: the read runs once the lock is held.
    const lock = script.includes('LOCK|ok') ? lockCommand(node, script, times) : undefined;
    return {
      kind: 'read',
      serviceMs: times.execMs + (runCheck ? times.checkMs : 0),
      run: (stdin) => {
        const locked = lock?.run(stdin).stdout ?? '';
        if (lock && locked !== 'LOCK|ok\n') return { stdout: locked, code: 0 };
        return { stdout: locked + readOutput(node, runCheck), code: 0 };
      },
    };
  }
  if (script?.includes('"DONE|generation:') || script?.includes('say OK "generation:'))
    return applyCommand(node, script, keys, times);
  if (script?.includes('UNLOCK|ok')) return unlockCommand(node, script, times);
  if (script?.includes('LOCK|ok')) return lockCommand(node, script, times);
  return {
    kind: 'other',
    serviceMs: times.execMs,
    run: () => ({ stdout: '', code: 127 }),
  };
}

/** A node as an operator leaves it before the first rotation: one key, encrypting. */
export function seedNode(index: number, host: string, keyDir: string, keyId: string): SimNode {
  const node: SimNode = { index, host, keyDir, files: new Map(), liveRing: [keyId] };
  writeKey(node, `${keyId}.key`, keyId, 48);
  writeText(
    node,
    confName,
    `# managed by stekctl; do not edit\n${directive} ${keyDir}/${keyId}.key;\n`,
  );
  return node;
}

import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from './cli.js';

let dir: string;
const marker = join(tmpdir(), `stekctl-marker-${process.pid}`);
const inject = [`; touch ${marker}`, `$(touch ${marker})`, `\ntouch ${marker}`, `x\u001b[31my`];

function inventory(field: string, value: string): unknown {
  const node: Record<string, unknown> = { host: '127.0.0.1' };
  const pool: Record<string, unknown> = { server: 'nginx', nodes: [node] };
  const doc: Record<string, unknown> = { pools: { web: pool } };
  switch (field) {
    case 'host':
      node.host = `h${value}`;
      break;
    case 'keyDir':
    case 'config':
      node[field] = `/etc/nginx${value}`;
      break;
    case 'reload':
    case 'check':
      // Commands are shell by design, but never multi-line or with control characters.
      node[field] =
        `nginx -t${value.includes('\n') || [...value].some((c) => c.charCodeAt(0) < 32) ? value : '\n' + value}`;
      break;
    case 'servername':
      pool.probe = { servername: `www${value}` };
      break;
    case 'probe.host':
      node.probe = { host: `h${value}` };
      break;
    case 'user':
      doc.defaults = { ssh: { user: `u${value}` } };
      break;
    case 'knownHosts':
    case 'identityFile':
      doc.defaults = { ssh: { [field]: `/tmp/k${value}` } };
      break;
    case 'pool':
      doc.pools = { [`web${value}`]: pool };
      break;
  }
  return doc;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stekctl-hostile-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(marker, { force: true });
});

const fields = [
  'host',
  'keyDir',
  'config',
  'reload',
  'check',
  'servername',
  'probe.host',
  'user',
  'knownHosts',
  'identityFile',
  'pool',
];

describe('hostile strings in every field that reaches a shell or a server config', () => {
  for (const field of fields) {
    it(`${field}: rejected with exit 2, the field named, and no marker command run`, async () => {
      for (const [i, value] of inject.entries()) {
        const file = join(dir, `${field.replace('.', '-')}-${i}.yaml`);
        await writeFile(file, stringify(inventory(field, value)));
        // The verb that would write (its dry run preflights every node), and one read-only verb.
        for (const verb of i % 2 === 0 ? [['rotate', '--dry-run']] : [['status']]) {
          const res = await runCli([...verb, '-i', file], { timeoutMs: 20_000 });
          expect(res.code, `${field} ${JSON.stringify(value)} ${verb[0]}: ${res.stderr}`).toBe(2);
          expect(res.stderr).toContain(file);
          expect(res.stderr).not.toMatch(/\n\s+at /);
          expect(existsSync(marker)).toBe(false);
        }
      }
    });
  }
});

describe('malformed inventories through the real binary', () => {
  it('always exits 2 with a message, never a stack trace or a hang', async () => {
    const samples = [
      '',
      '\u0000\u0001\u0002binary',
      'pools: [',
      'pools:\n  web:\n    server: nginx\n    nodes:\n      - host: 127.0.0.1\n        reloadd: x\n',
      'a: &a [*a]',
      `${'['.repeat(5000)}`,
      'pools: { web: { server: iis, nodes: [{ host: a }] } }',
      'pools: { web: { server: nginx, overlap: -5m, nodes: [{ host: a }] } }',
      'pools: { web: { server: nginx, keyDir: relative/path, nodes: [{ host: a }] } }',
      'pools: { web: { server: nginx, nodes: [{ host: a }, { host: a }] } }',
      'pools: { web: { server: nginx, nodes: [] } }',
      'pools: { web: { server: nginx, nodes: [{ port: 1 }] } }',
      'lol: &a ["x","x","x","x","x","x","x","x","x"]\nlol2: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nlol3: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nlol4: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\nlol5: [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    ];
    for (const [i, text] of samples.entries()) {
      const file = join(dir, `bad-${i}.yaml`);
      await writeFile(file, text);
      const t0 = Date.now();
      const res = await runCli(['status', '-i', file], { timeoutMs: 20_000 });
      expect(res.code, `${JSON.stringify(text.slice(0, 60))}: ${res.stderr}`).toBe(2);
      expect(res.stderr).toMatch(/error/);
      expect(res.stderr).not.toMatch(/\n\s+at /);
      expect(Date.now() - t0).toBeLessThan(15_000);
    }
    const missing = await runCli(['status', '-i', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
  });

  it('names the option whose value is wrong, and contacts nothing', async () => {
    const file = join(dir, 'options.yaml');
    await writeFile(file, 'pools: { web: { server: nginx, nodes: [{ host: 192.0.2.1 }] } }\n');
    const cases: [string[], RegExp][] = [
      [['--overlap', '5x'], /^stekctl: error: --overlap: `5x` is not a duration/],
      [['--overlap', '-5s'], /^stekctl: error: --overlap: duration `-5s` is negative/],
      [['--concurrency', '0'], /^stekctl: error: --concurrency: expected a whole number/],
    ];
    for (const [args, message] of cases) {
      const res = await runCli(['rotate', '-i', file, '--dry-run', ...args]);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr).toMatch(message);
    }
  });
});

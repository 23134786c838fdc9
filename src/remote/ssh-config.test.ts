import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import {
  loadSshConfig,
  lookupHost,
  parseSshConfigText,
  SshConfigError,
  type HostOptions,
  type SshConfig,
} from './ssh-config.js';

let home: string;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'stekctl-sshcfg-'));
  mkdirSync(join(home, '.ssh', 'conf.d'), { recursive: true });
});
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
});

function values(opts: HostOptions): Record<string, string> {
  return Object.fromEntries([...opts.first].map(([k, v]) => [k, v.value]));
}

function look(config: SshConfig, host: string, user?: string): HostOptions {
  return lookupHost(config, host, { user, localUser: 'me' });
}

describe('lookupHost', () => {
  const config = parseSshConfigText(
    `# global lines apply to every host
ConnectTimeout 7

Host web-?  !web-9
  HostName 10.0.0.%h
  User deploy
  IdentityFile ~/.ssh/web
Host web-*
  User other
  Port=2222
  IdentityFile "~/.ssh/with space"
Host *
  USER fallback
  IdentityFile ~/.ssh/id_ed25519
`,
    'cfg',
  );

  it('takes the first value obtained for each keyword and accumulates IdentityFile', () => {
    const opts = look(config, 'web-1');
    expect(values(opts)).toEqual({
      connecttimeout: '7',
      hostname: '10.0.0.%h',
      user: 'deploy',
      port: '2222',
    });
    expect(opts.identityFiles.map((s) => s.value)).toEqual([
      '~/.ssh/web',
      '~/.ssh/with space',
      '~/.ssh/id_ed25519',
    ]);
    expect(opts.first.get('user')?.file).toBe('cfg');
  });

  it('matches Host patterns as whole names: ? is one character, !pattern excludes', () => {
    expect(values(look(config, 'web-12')).user).toBe('other');
    expect(values(look(config, 'web-9')).user).toBe('other');
    expect(values(look(config, 'WEB-1')).user).toBe('deploy');
    expect(values(look(config, 'db')).user).toBe('fallback');
  });

  it('lets a user fixed beforehand win, as ssh -l does', () => {
    expect(values(look(config, 'web-1', 'ops')).user).toBe('ops');
  });

  it('keeps whichever of ProxyJump and ProxyCommand comes first', () => {
    const c = parseSshConfigText(
      'Host a\n  ProxyJump j1\nHost b\n  ProxyCommand nc %h %p\nHost *\n  ProxyJump j2\n  ProxyCommand none\n',
    );
    expect(look(c, 'a').proxy).toMatchObject({ kind: 'jump', value: 'j1' });
    expect(look(c, 'b').proxy).toMatchObject({ kind: 'command', value: 'nc %h %p' });
    expect(look(c, 'c').proxy).toMatchObject({ kind: 'jump', value: 'j2' });
  });

  it('evaluates Match host against the HostName so far, and never runs Match exec', () => {
    const marker = join(home, 'exec-ran');
    const c = parseSshConfigText(
      `Host short
  HostName long.example.net
Match host *.example.net
  User from-match
Match originalhost short user from-match localuser me
  Port 2200
Match exec "touch ${marker}"
  IdentityFile /exec
Match !exec "true"
  IdentitiesOnly yes
Match all
  HostKeyAlias all
`,
    );
    const opts = look(c, 'short');
    expect(values(opts)).toMatchObject({
      hostname: 'long.example.net',
      user: 'from-match',
      port: '2200',
      identitiesonly: 'yes',
      hostkeyalias: 'all',
    });
    expect(opts.identityFiles).toEqual([]);
    expect(existsSync(marker)).toBe(false);
    expect(() => look(parseSshConfigText('Match host\n  User x\n'), 'a')).toThrow(SshConfigError);
  });
});

describe('loadSshConfig', () => {
  it('reads nothing for "none", and skips a missing ~/.ssh/config', async () => {
    expect((await loadSshConfig('none', home)).roots).toEqual([]);
    const empty = await loadSshConfig(undefined, home);
    expect(empty.files).not.toContain(join(home, '.ssh', 'config'));
  });

  it('refuses a named file that cannot be read, as a usage error naming the file', async () => {
    const missing = join(home, 'nope');
    const err = await loadSshConfig(missing, home).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(`ssh config ${missing}: cannot read it: no such file`);
    writeFileSync(join(home, 'bad'), 'Host "unclosed\n');
    await expect(loadSshConfig(join(home, 'bad'), home)).rejects.toThrow(/ssh config .*bad: /);
  });

  it('follows Include: globs relative to ~/.ssh, conditional inside Host, blocks end with the file', async () => {
    const dir = join(home, '.ssh');
    const own = { mode: 0o644 };
    writeFileSync(join(dir, 'conf.d', '10-web.conf'), 'User inc-user\nHost other\n  Port 1\n', own);
    writeFileSync(join(dir, 'conf.d', '20-all.conf'), 'Host *\n  Port 2\n', own);
    writeFileSync(join(dir, 'conf.d', '.hidden.conf'), 'Host *\n  Port 3\n', own);
    writeFileSync(join(dir, 'only-db'), 'HostName db.internal\n', own);
    const main = join(home, 'main.conf');
    writeFileSync(
      main,
      'Host web\n  Include conf.d/*.conf\n  IdentityFile /after-include\nHost db\n  Include only-db\n',
    );
    const config = await loadSshConfig(main, home);
    expect(config.files).toEqual([
      main,
      join(dir, 'conf.d', '10-web.conf'),
      join(dir, 'conf.d', '20-all.conf'),
      join(dir, 'only-db'),
    ]);
    const web = look(config, 'web');
    expect(values(web)).toEqual({ user: 'inc-user', port: '2' });
    // The include's `Host *` ended with its file: the includer's block goes on.
    expect(web.identityFiles.map((s) => s.value)).toEqual(['/after-include']);
    expect(values(look(config, 'db'))).toEqual({ hostname: 'db.internal' });
    expect(values(look(config, 'x'))).toEqual({});
  });

  it('refuses a ~/.ssh/config or an included file that others may write, as ssh does', async () => {
    const user = join(home, '.ssh', 'config');
    writeFileSync(user, 'Host *\n  User x\n');
    chmodSync(user, 0o664);
    await expect(loadSshConfig(undefined, home)).rejects.toThrow(
      `ssh config ${user}: bad owner or permissions`,
    );
    chmodSync(user, 0o600);
    expect((await loadSshConfig(undefined, home)).files[0]).toBe(user);
    rmSync(user);
  });

  it('stops an Include loop', async () => {
    const loop = join(home, 'loop.conf');
    writeFileSync(loop, `Include ${loop}\n`, { mode: 0o644 });
    await expect(loadSshConfig(loop, home)).rejects.toThrow(/Include nested more than 16 deep/);
  });
});

import { homedir } from 'node:os';
import { join } from 'node:path';
import type { NodeSpec } from '../inventory/types.js';
import { ConnectError, formatHostPort } from './errors.js';
import { readIdentityKey, type ParsedPrivateKey } from './identity-keys.js';
import type { AuthMethod } from './ssh2-types.js';

/** How a node's login is attempted, and what to name when it fails. */
export interface AuthPlan {
  /** Merged into the connect config: either one private key, or an ordered list of methods. */
  config: { privateKey: string } | { authHandler: AuthMethod[] };
  /** What will be tried, in plain words, for the "authentication failed" message. */
  tried: string[];
  /** The identity file whose text is in `config.privateKey`, if any. */
  identityFile: string | undefined;
}

const defaultKeyNames = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/** What authentication needs to know about one login (a node or a jump host). */
export interface AuthLogin {
  /** NodeSpec.name, for errors. */
  node: string;
  /** `host:port` or a label, for messages. */
  where: string;
  user: string;
  identityFiles: readonly string[];
  /** The inventory named the (single) identity file: unreadable is an error. */
  identityRequired: boolean;
  identitiesOnly: boolean;
  agent: string | undefined;
}

/**
 * node.ssh.identityFile when set (through ssh-agent if that file is encrypted: stekctl never
 * asks for passphrases); otherwise ssh-agent via SSH_AUTH_SOCK, then the unencrypted default
 * keys of ~/.ssh that exist, in ssh's order.
 */
export async function planAuth(
  node: NodeSpec,
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): Promise<AuthPlan> {
  const file = node.ssh.identityFile;
  return planLoginAuth(
    {
      node: node.name,
      where: formatHostPort(node.host, node.ssh.port),
      user: node.ssh.user,
      identityFiles: file === undefined ? [] : [file],
      identityRequired: file !== undefined,
      identitiesOnly: false,
      agent: env.SSH_AUTH_SOCK ? env.SSH_AUTH_SOCK : undefined,
    },
    home,
  );
}

/**
 * The login methods for one endpoint, tried in order:
 * - an identity file the inventory named: that file alone (through the agent when encrypted);
 * - identity files from the ssh config: each readable unencrypted one, then the agent (also for
 *   the encrypted ones; with IdentitiesOnly only for those); missing files are skipped, as ssh
 *   skips them;
 * - no identity file at all: the agent, then the unencrypted default keys of ~/.ssh.
 */
export async function planLoginAuth(login: AuthLogin, home: string = homedir()): Promise<AuthPlan> {
  const { user, agent, where } = login;
  const first = login.identityFiles[0];
  if (login.identityRequired && first !== undefined) {
    return planRequiredFile(login, first);
  }
  const methods: AuthMethod[] = [];
  const tried: string[] = [];
  let encrypted: string | undefined;
  for (const file of login.identityFiles) {
    const identity = await readIdentityKey(file).catch(() => undefined);
    if (identity === undefined) continue;
    if (isEncryptedPrivateKey(identity.text)) {
      encrypted ??= file;
      continue;
    }
    methods.push({ type: 'publickey', username: user, key: identity.parsed ?? identity.text });
    tried.push(file);
  }
  const useDefaults = login.identityFiles.length === 0;
  if (agent !== undefined && (!login.identitiesOnly || encrypted !== undefined || useDefaults)) {
    methods.push({ type: 'agent', username: user, agent });
    tried.push(encrypted === undefined ? 'ssh-agent' : `ssh-agent (${encrypted} is encrypted)`);
  }
  if (useDefaults) {
    for (const name of defaultKeyNames) {
      const path = join(home, '.ssh', name);
      const identity = await readIdentityKey(path).catch(() => undefined);
      if (identity === undefined || isEncryptedPrivateKey(identity.text)) continue;
      methods.push({ type: 'publickey', username: user, key: identity.parsed ?? identity.text });
      tried.push(path);
    }
  }
  if (methods.length === 0) {
    const files = login.identityFiles;
    const what =
      files.length > 0
        ? `none of the identity files ${files.join(', ')} is a readable unencrypted key, and SSH_AUTH_SOCK is not set`
        : `no identity file is set, SSH_AUTH_SOCK is not set and ${home}/.ssh holds no unencrypted ${defaultKeyNames.join(', ')}`;
    throw new ConnectError(
      login.node,
      `cannot connect to ${where}: no SSH credentials: ${what}`,
      'Set ssh.identityFile in the inventory (or IdentityFile in the ssh config), or start ssh-agent and add the key.',
    );
  }
  return { config: { authHandler: methods }, tried, identityFile: undefined };
}

async function planRequiredFile(login: AuthLogin, file: string): Promise<AuthPlan> {
  const { user, agent, where } = login;
  let identity: { text: string; parsed: ParsedPrivateKey | undefined };
  try {
    identity = await readIdentityKey(file);
  } catch (err) {
    throw new ConnectError(
      login.node,
      `cannot connect to ${where}: cannot read identity file ${file}: ${describeFsError(err)}`,
    );
  }
  const { text, parsed } = identity;
  if (!isEncryptedPrivateKey(text)) {
    // A key ssh2 cannot use goes in as text: ssh2 then says why, and the error names the file.
    const config =
      parsed === undefined
        ? { privateKey: text }
        : { authHandler: [{ type: 'publickey' as const, username: user, key: parsed }] };
    return { config, tried: [file], identityFile: file };
  }
  if (agent === undefined) {
    throw new ConnectError(
      login.node,
      `cannot connect to ${where}: identity file ${file} is encrypted and no ssh-agent is available (SSH_AUTH_SOCK is not set)`,
      `Load the key into ssh-agent (ssh-add ${file}) and export SSH_AUTH_SOCK, or use an unencrypted key kept where only the operator can read it.`,
    );
  }
  return {
    config: { authHandler: [{ type: 'agent', username: user, agent }] },
    tried: [`ssh-agent (${file} is encrypted)`],
    identityFile: undefined,
  };
}

/**
 * True for private keys that need a passphrase: OpenSSH's own format (cipher name other than
 * "none"), PEM with `Proc-Type: 4,ENCRYPTED`, encrypted PKCS#8, and PuTTY keys.
 */
export function isEncryptedPrivateKey(text: string): boolean {
  if (text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) return true;
  if (/^Proc-Type:[ \t]*4,ENCRYPTED/m.test(text)) return true;
  const putty = /^Encryption:[ \t]*(\S+)/m.exec(text);
  if (putty) return putty[1] !== 'none';
  const openssh =
    /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!openssh) return false;
  const blob = Buffer.from((openssh[1] ?? '').replace(/\s+/g, ''), 'base64');
  const magic = 'openssh-key-v1\0';
  if (blob.length < magic.length + 4 || blob.toString('latin1', 0, magic.length) !== magic) {
    return false;
  }
  const length = blob.readUInt32BE(magic.length);
  const cipher = blob.toString('latin1', magic.length + 4, magic.length + 4 + length);
  return cipher !== 'none';
}

/** An fs error in plain words (no stack, no errno number). */
export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

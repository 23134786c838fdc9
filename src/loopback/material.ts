import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked } from './exec.js';
import { binaries } from './preflight.js';

/** Generates an ed25519 key pair without passphrase; returns the public key as `type base64`. */
export async function generateSshKey(file: string, comment: string): Promise<string> {
  await runChecked(binaries.sshKeygen.path, [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    comment,
    '-f',
    file,
  ]);
  const pub = (await readFile(`${file}.pub`, 'utf8')).trim().split(/\s+/);
  return `${pub[0]} ${pub[1]}`;
}

export interface CertFiles {
  cert: string;
  key: string;
  /** Certificate then key in one file, as HAProxy's `crt` wants it. */
  bundle: string;
}

export function certFilesIn(dir: string): CertFiles {
  return {
    cert: join(dir, 'cert.pem'),
    key: join(dir, 'key.pem'),
    bundle: join(dir, 'bundle.pem'),
  };
}

/** A self-signed P-256 certificate for `servername` (CN and SAN), valid 30 days, in `dir`. */
export async function generateCert(dir: string, servername: string): Promise<CertFiles> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const files = certFilesIn(dir);
  await runChecked(binaries.openssl.path, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '30',
    '-subj',
    `/CN=${servername}`,
    '-addext',
    `subjectAltName=DNS:${servername}`,
    '-keyout',
    files.key,
    '-out',
    files.cert,
  ]);
  const [cert, key] = await Promise.all([
    readFile(files.cert, 'utf8'),
    readFile(files.key, 'utf8'),
  ]);
  await writeFile(files.bundle, cert + key, { mode: 0o600 });
  return files;
}

/** The file HAProxy needs before it starts: three 80-byte keys, one base64 line each. */
export function haproxyTicketKeys(): string {
  return [1, 2, 3].map(() => randomBytes(80).toString('base64')).join('\n') + '\n';
}

import { describe, expect, it } from 'vitest';
import { formatInstallCommand, listMissingPackages } from './packages.js';

const needs = [
  { path: '/usr/sbin/sshd', pkg: 'openssh-server' },
  { path: '/usr/bin/ssh-keygen', pkg: 'openssh-client' },
  { path: '/usr/bin/scp', pkg: 'openssh-client' },
  { path: '/usr/sbin/nginx', pkg: 'nginx' },
];

describe('listMissingPackages', () => {
  it('names each package whose program is missing, once, in order', () => {
    const present = new Set(['/usr/sbin/sshd']);
    expect(listMissingPackages(needs, (p) => present.has(p))).toEqual(['openssh-client', 'nginx']);
  });

  it('is empty when everything is there', () => {
    expect(listMissingPackages(needs, () => true)).toEqual([]);
  });

  it('checks the real demo programs by default', () => {
    expect(Array.isArray(listMissingPackages())).toBe(true);
  });
});

describe('formatInstallCommand', () => {
  it('is a non-interactive apt-get line', () => {
    expect(formatInstallCommand(['openssh-server', 'nginx'])).toBe(
      'apt-get install -y openssh-server nginx',
    );
  });
});

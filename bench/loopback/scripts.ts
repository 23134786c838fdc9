import { quoteShell } from '../../src/remote/shell.js';

/** What the tools need to know about one node of the loopback fleet. */
export interface Target {
  host: string;
  port: number;
  keyDir: string;
  config: string;
  reload: string;
  /** The key file the node encrypts with now (a basename in keyDir). */
  old: string;
}

export interface SshAccess {
  identityFile: string;
  knownHosts: string;
}

/** The OpenSSH options every OpenSSH-based tool uses: the fleet's key, host keys checked. */
export function sshOptions(a: SshAccess): string[] {
  return [
    '-i',
    a.identityFile,
    '-o',
    `UserKnownHostsFile=${a.knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ControlMaster=no',
  ];
}

const q = quoteShell;

/** Shell that makes a fresh 48-byte key in $work/new.key and its id (hex of the name) in $id. */
const newKeyLines = [
  'umask 077',
  'openssl rand 48 > "$work/new.key"',
  'id=$(head -c 16 "$work/new.key" | od -An -tx1 -v | tr -d " \\n")',
];

function confLine(keyDir: string, file: string): string {
  return `ssl_session_ticket_key ${keyDir}/${file};`;
}

/**
 * The runbook as operators run it: one node after the other, `scp` the key then `ssh` to put
 * it in tickets.conf as a decrypt-only key and reload; then the same loop again to make it the
 * encrypting key.
 */
export function runbookLoopScript(targets: Target[], a: SshAccess, work: string): string {
  const ssh = sshOptions(a).map(q).join(' ');
  const L = ['set -e', `work=${q(work)}`, ...newKeyLines];
  for (const t of targets) {
    const dest = `root@${t.host}`;
    const conf = `printf '%s\\n' ${q(confLine(t.keyDir, t.old))} "ssl_session_ticket_key ${t.keyDir}/$id.key;"`;
    L.push(
      `scp -q -P ${t.port} ${ssh} "$work/new.key" ${dest}:${q(t.keyDir)}/"$id.key"`,
      `ssh -p ${t.port} ${ssh} ${dest} "chmod 600 ${t.keyDir}/$id.key && ${conf.replaceAll('"', '\\"')} > ${t.keyDir}/tickets.conf && ${t.reload}"`,
    );
  }
  targets.forEach((t, i) => {
    const dest = `root@${t.host}`;
    L.push(
      `printf '%s\\n' "ssl_session_ticket_key ${t.keyDir}/$id.key;" ${q(confLine(t.keyDir, t.old))} > "$work/promote-${i}.conf"`,
      `scp -q -P ${t.port} ${ssh} "$work/promote-${i}.conf" ${dest}:${q(`${t.keyDir}/tickets.conf`)}`,
      `ssh -p ${t.port} ${ssh} ${dest} ${q(t.reload)}`,
    );
  });
  return L.join('\n') + '\n';
}

/** The floor: per phase, `ssh node true` to every node at once; two phases. */
export function floorScript(targets: Target[], a: SshAccess): string {
  const ssh = sshOptions(a).map(q).join(' ');
  const round = targets.map((t) => `ssh -p ${t.port} ${ssh} root@${t.host} true &`);
  return ['set -e', ...round, 'wait', ...round, 'wait'].join('\n') + '\n';
}

/** Ansible inventory: every node with the variables the playbook uses. */
export function ansibleInventory(targets: Target[], a: SshAccess): string {
  const hosts = targets.map(
    (t, i) =>
      `n${i + 1} ansible_host=${t.host} ansible_port=${t.port} keydir=${t.keyDir} old_file=${t.old} reload=${JSON.stringify(t.reload)}`,
  );
  const common = `-o UserKnownHostsFile=${a.knownHosts} -o StrictHostKeyChecking=yes`;
  return [
    '[fleet]',
    ...hosts,
    '',
    '[fleet:vars]',
    'ansible_user=root',
    `ansible_ssh_private_key_file=${a.identityFile}`,
    `ansible_ssh_common_args='${common}'`,
    'ansible_python_interpreter=/usr/bin/python3',
    '',
  ].join('\n');
}

/** The two phases as a playbook: copy the key, add it for decryption, reload; then promote. */
export const ansiblePlaybook = `- name: stage the new ticket key for decryption
  hosts: fleet
  gather_facts: false
  tasks:
    - name: copy the key
      ansible.builtin.copy:
        src: "{{ new_key_file }}"
        dest: "{{ keydir }}/{{ new_id }}.key"
        mode: "0600"
    - name: list it after the encrypting key
      ansible.builtin.copy:
        content: |
          ssl_session_ticket_key {{ keydir }}/{{ old_file }};
          ssl_session_ticket_key {{ keydir }}/{{ new_id }}.key;
        dest: "{{ keydir }}/tickets.conf"
        mode: "0600"
    - name: reload
      ansible.builtin.command: "{{ reload }}"

- name: promote the new ticket key
  hosts: fleet
  gather_facts: false
  tasks:
    - name: make it the encrypting key
      ansible.builtin.copy:
        content: |
          ssl_session_ticket_key {{ keydir }}/{{ new_id }}.key;
          ssl_session_ticket_key {{ keydir }}/{{ old_file }};
        dest: "{{ keydir }}/tickets.conf"
        mode: "0600"
    - name: reload
      ansible.builtin.command: "{{ reload }}"
`;

/** ansible.cfg: the usual speed settings (pipelining, no facts), forks as given. */
export function ansibleConfig(dir: string, forks: number): string {
  return `[defaults]
forks = ${forks}
host_key_checking = True
interpreter_python = /usr/bin/python3
local_tmp = ${dir}/local-tmp
remote_tmp = ${dir}/remote-tmp
retry_files_enabled = False
deprecation_warnings = False

[ssh_connection]
pipelining = True
control_path_dir = ${dir}/cp
`;
}

/** Shell that makes the key, then runs the playbook with it. */
export function ansibleScript(dir: string, work: string, forks: number): string {
  return (
    [
      'set -e',
      `work=${q(work)}`,
      ...newKeyLines,
      `ansible-playbook -i ${q(`${dir}/inventory.ini`)} -f ${forks} ${q(`${dir}/playbook.yml`)} ` +
        `-e new_key_file="$work/new.key" -e new_id="$id"`,
    ].join('\n') + '\n'
  );
}

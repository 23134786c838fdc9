import { describe, expect, it } from 'vitest';
import { InventoryError } from '../errors.js';
import { parseInventory } from './parse-inventory.js';

/** A valid pool; line 4 takes one more pool setting, line 7 a node setting or another node. */
function withPool(poolLine: string, nodeLine = '        check: nginx -t'): string {
  return `pools:
  web-eu:
    server: nginx
${poolLine}
    nodes:
      - host: 10.0.0.11
${nodeLine}
`;
}
const withNode = (nodeLine: string) => withPool('    retain: 1', nodeLine);

type Case = [
  name: string,
  text: string,
  line: number | undefined,
  field: string | undefined,
  problem: RegExp,
];

/** A bad pool setting, written on line 4. */
const pool = (name: string, setting: string, field: string, problem: RegExp): Case => [
  name,
  withPool(`    ${setting}`),
  4,
  `pools.web-eu.${field}`,
  problem,
];
/** A bad setting of the first node, written on line 7. */
const node = (name: string, setting: string, field: string, problem: RegExp): Case => [
  name,
  withNode(`        ${setting}`),
  7,
  `pools.web-eu.nodes[0].${field}`,
  problem,
];
/** A second node, declared on line 7. */
const host = (name: string, value: string, problem: RegExp): Case => [
  name,
  withNode(`      - host: ${value}`),
  7,
  'pools.web-eu.nodes[1].host',
  problem,
];

function rejection(text: string): InventoryError {
  try {
    parseInventory(text, 'inv.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(InventoryError);
    return error as InventoryError;
  }
  throw new Error('the inventory was accepted');
}

const structure: Case[] = [
  ['a YAML syntax error', 'pools:\n  a: [\n  b: 1\n', 3, undefined, /YAML syntax error/],
  ['a tab-indented line', 'pools:\n\ta: 1\n', 2, undefined, /YAML syntax error/],
  ['two documents', 'pools: {}\n---\npools: {}\n', 2, undefined, /multiple documents/],
  ['a duplicate key', 'pools:\n  a: {}\n  a: {}\n', 3, undefined, /duplicate key `a`/],
  ['a top level list', '- a\n- b\n', 1, undefined, /top level must be a mapping/],
  ['a top level string', 'hello\n', 1, undefined, /top level must be a mapping/],
  ['an empty file', '# nothing\n', undefined, undefined, /empty/],
  ['a misspelt top level key', 'pool:\n  a: {}\n', 1, 'pool', /did you mean `pools`\?/],
  ['missing pools', 'defaults: {}\n', 1, 'pools', /missing/],
  ['empty pools', 'pools: {}\n', 1, 'pools', /is empty/],
  ['null pools', 'pools:\n', 1, 'pools', /must be a mapping, got nothing/],
  ['a pool without nodes', 'pools:\n  a:\n    server: nginx\n', 2, 'pools.a.nodes', /missing/],
  [
    'empty nodes',
    'pools:\n  a:\n    server: nginx\n    nodes: []\n',
    4,
    'pools.a.nodes',
    /is empty/,
  ],
  [
    'nodes as a mapping',
    'pools:\n  a:\n    server: nginx\n    nodes: {host: a}\n',
    4,
    'pools.a.nodes',
    /list/,
  ],
  ['an empty pool', 'pools:\n  a:\n', 2, 'pools.a', /must be a mapping/],
  ['a pool name with a space', 'pools:\n  "web eu": {}\n', 2, 'pools.web eu', /pool name/],
  ['a pool name with a leading dot', 'pools:\n  .a: {}\n', 2, 'pools..a', /pool name/],
  ['a pool name with a slash', 'pools:\n  a/b: {}\n', 2, 'pools.a/b', /pool name/],
  [
    'a missing server',
    'pools:\n  web:\n    nodes: [{host: a}]\n',
    2,
    'pools.web.server',
    /missing/,
  ],
  [
    'nodes under defaults',
    'defaults:\n  nodes: []\npools: {}\n',
    2,
    'defaults.nodes',
    /belongs in a pool/,
  ],
  [
    'a typo under defaults',
    'defaults:\n  ssh:\n    prot: 22\npools: {}\n',
    3,
    'defaults.ssh.prot',
    /`port`\?/,
  ],
  [
    'an unknown server kind',
    withPool('    retain: 1').replace('nginx', 'lighttpd'),
    3,
    'pools.web-eu.server',
    /unknown server kind `lighttpd`/,
  ],
  ['a server given twice', withPool('    server: apache'), 4, undefined, /duplicate key `server`/],
  pool('a typo in a pool key', 'reloadd: x', 'reloadd', /unknown key; did you mean `reload`\?/),
  node('a typo in a node key', 'reloadd: x', 'reloadd', /unknown key; did you mean `reload`\?/),
  pool('a snake_case key', 'key_dir: /k', 'key_dir', /did you mean `keyDir`\?/),
  pool('an ssh key at pool level', 'port: 22', 'port', /`ssh.port` or `probe.port`/),
  pool('a typo under ssh', 'ssh: { usr: a }', 'ssh.usr', /did you mean `user`\?/),
  pool('a typo under probe', 'probe: { severname: a }', 'probe.severname', /`servername`/),
  pool('a key named like an Object member', 'constructor: x', 'constructor', /unknown key/),
  node('a __proto__ key', '__proto__: {}', '__proto__', /unknown key/),
  pool('a far-off unknown key', 'colour: red', 'colour', /unknown key; expected one of:/),
  pool('host at pool level', 'host: a', 'host', /belongs to a node/),
  pool('a merge key', '<<: {}', '<<', /merge keys/),
  pool(
    'runtimeApi on an nginx pool',
    'runtimeApi: /run/h.sock',
    'runtimeApi',
    /haproxy pools only/,
  ),
  node(
    'runtimeApi on an nginx node',
    'runtimeApi: /run/h.sock',
    'runtimeApi',
    /haproxy pools only/,
  ),
  pool('a relative runtimeApi', 'runtimeApi: admin.sock', 'runtimeApi', /absolute path/),
  pool('runtimeApi: true', 'runtimeApi: true', 'runtimeApi', /stats socket, or false/),
  pool('ssh as a string', 'ssh: deploy', 'ssh', /must be a mapping/),
  ['an alias without anchor', withPool('    ssh: *nothing'), 4, undefined, /alias \*nothing/],
  host('a duplicate host', '10.0.0.11', /already listed as nodes\[0\]/),
  [
    'a duplicate host in another case',
    'pools:\n  a:\n    server: nginx\n    nodes:\n      - host: Web1\n      - host: wEB1\n',
    6,
    'pools.a.nodes[1].host',
    /already listed as nodes\[0\]/,
  ],
  [
    'a node without host',
    withNode('      - reload: x'),
    7,
    'pools.web-eu.nodes[1].host',
    /missing/,
  ],
  [
    'a node as a string',
    withNode('      - 10.0.0.12'),
    7,
    'pools.web-eu.nodes[1]',
    /must be a mapping/,
  ],
  node('server on a node', 'server: nginx', 'server', /is a pool-wide setting/),
  node('overlap on a node', 'overlap: 1m', 'overlap', /is a pool-wide setting/),
  node('retain on a node', 'retain: 1', 'retain', /is a pool-wide setting/),
  node('keySize on a node', 'keySize: 48', 'keySize', /is a pool-wide setting/),
  node('nodes on a node', 'nodes: []', 'nodes', /is a pool-wide setting/),
];

const values: Case[] = [
  node(
    'a string port',
    'ssh: { port: "22" }',
    'ssh.port',
    /must be an integer, got the string `22`/,
  ),
  node('port 0', 'ssh: { port: 0 }', 'ssh.port', /1\.\.65535/),
  node('port 65536', 'probe: { port: 65536 }', 'probe.port', /1\.\.65535/),
  node('a fractional port', 'ssh: { port: 22.5 }', 'ssh.port', /integer/),
  node('a list where a string goes', 'reload: [a, b]', 'reload', /got a list/),
  pool('a mapping where a number goes', 'retain: { a: 1 }', 'retain', /got a mapping/),
  pool('a string sudo', 'ssh: { sudo: "yes" }', 'ssh.sudo', /true or false/),
  pool('retain 11', 'retain: 11', 'retain', /0\.\.10/),
  pool('retain -1', 'retain: -1', 'retain', /0\.\.10/),
  pool('keySize 64', 'keySize: 64', 'keySize', /48 or 80/),
  pool('a negative duration', 'overlap: -5m', 'overlap', /negative/),
  pool('a negative number duration', 'overlap: -5', 'overlap', /negative/),
  pool('a malformed duration', 'overlap: 10 minutes', 'overlap', /not a duration/),
  pool('a duration without unit', 'overlap: "10"', 'overlap', /not a duration/),
  pool('a boolean duration', 'overlap: true', 'overlap', /must be a duration/),
  pool('a zero timeout', 'probe: { timeout: 0 }', 'probe.timeout', /longer than 0/),
  pool(
    'a zero connect timeout',
    'ssh: { connectTimeout: 0s }',
    'ssh.connectTimeout',
    /longer than 0/,
  ),
  pool('a relative keyDir', 'keyDir: etc/tickets', 'keyDir', /absolute/),
  pool('keyDir /', 'keyDir: /', 'keyDir', /must not be \//),
  node('a keyDir with ..', 'keyDir: /etc/../tmp', 'keyDir', /\.\. segment/),
  pool('a keyDir with //', 'keyDir: /etc//tickets', 'keyDir', /contains \/\//),
  pool('a keyDir with a space', 'keyDir: "/etc/my tickets"', 'keyDir', /may only contain/),
  pool('a config with $', 'config: /etc/$(id).conf', 'config', /may only contain/),
  pool('a config with ;', 'config: "/etc/a;rm"', 'config', /may only contain/),
  pool('a config naming a directory', 'config: /etc/nginx/', 'config', /directory/),
  pool('a relative identityFile', 'ssh: { identityFile: .ssh/id }', 'ssh.identityFile', /~\//),
  pool('~user in knownHosts', 'ssh: { knownHosts: ~bob/kh }', 'ssh.knownHosts', /~\//),
  pool('~/ with ..', 'ssh: { knownHosts: ~/../kh }', 'ssh.knownHosts', /\.\. segment/),
  pool('a relative probe.ca', 'probe: { ca: ca.pem }', 'probe.ca', /absolute/),
  host('a host with a space', '"a b"', /not a hostname/),
  host('a host with a leading dash', '-oProxyCommand=x', /not a hostname/),
  host('a host with a shell character', '"a;b"', /not a hostname/),
  host('a host with a backtick', '"a`id`"', /not a hostname/),
  host('an empty host', '""', /not a hostname/),
  host('a bad IPv4 address', '10.0.0.256', /not a hostname/),
  host('a bracketed IPv6 address', '"[::1]"', /without brackets/),
  host('a numeric host', '42', /must be a string/),
  host('a null host', '~', /must be a string, got nothing/),
  pool('a bad probe host', 'probe: { host: "a$b" }', 'probe.host', /not a hostname/),
  pool('an IP servername', 'probe: { servername: 10.0.0.1 }', 'probe.servername', /not a hostname/),
  pool('a servername with a space', 'probe: { servername: "a b" }', 'probe.servername', /hostname/),
  pool('a bad ssh user', 'ssh: { user: "root;id" }', 'ssh.user', /not a valid user name/),
  pool('a user starting with a digit', 'ssh: { user: 1ops }', 'ssh.user', /not a valid user name/),
  pool('an empty command', 'reload: ""', 'reload', /must not be empty/),
  pool('a blank command', 'check: "   "', 'check', /must not be empty/),
  pool('a command with a newline', 'reload: "a\\nb"', 'reload', /one line/),
  pool('a command with a carriage return', 'reload: "a\\rb"', 'reload', /one line/),
  pool('a command with an escape', 'check: "a\\u001bb"', 'check', /control characters/),
  pool('a block-scalar command', 'reload: |\n      a\n      b', 'reload', /one line/),
  pool('a long command', `reload: ${'x'.repeat(1001)}`, 'reload', /at most 1000/),
  pool('a bad via', 'probe: { via: tunnel }', 'probe.via', /direct, ssh/),
  pool('matrixMax 0', 'probe: { matrixMax: 0 }', 'probe.matrixMax', /at least 1/),
  pool('empty versions', 'probe: { versions: [] }', 'probe.versions', /at least one/),
  pool('versions as a string', 'probe: { versions: "1.3" }', 'probe.versions', /must be a list/),
  pool(
    'an unknown version',
    'probe: { versions: [1.1] }',
    'probe.versions[0]',
    /not a TLS version/,
  ),
  pool('a repeated version', 'probe: { versions: [1.3, TLSv1.3] }', 'probe.versions[1]', /twice/),
  [
    'apache with 80-byte keys',
    withPool('    keySize: 80').replace('nginx', 'apache'),
    4,
    'pools.web-eu.keySize',
    /apache supports only 48-byte/,
  ],
  [
    'apache 80 via defaults',
    'defaults:\n  keySize: 80\npools:\n  a:\n    server: apache\n    nodes: [{host: a}]\n',
    2,
    'defaults.keySize',
    /apache supports only 48-byte/,
  ],
];

describe('inventory rejections', () => {
  it.each([...structure, ...values])('rejects %s', (_name, text, line, field, problem) => {
    const error = rejection(text);
    const where = line === undefined ? 'inv.yaml: ' : `inv.yaml:${line}: `;
    const first = error.message.split('\n')[0] ?? '';
    expect(first.startsWith(field === undefined ? where : `${where}${field}: `)).toBe(true);
    expect(first).toMatch(problem);
    expect([error.file, error.line, error.field]).toEqual(['inv.yaml', line, field]);
    expect(error.exitCode).toBe(2);
  });

  it('lists every problem, one per line, in file order', () => {
    const text = withPool(
      '    reloadd: x\n    retain: 99',
      '        ssh: { port: 0 }\n      - host: 10.0.0.11',
    );
    expect(rejection(text).message.split('\n')).toEqual([
      'inv.yaml:4: pools.web-eu.reloadd: unknown key; did you mean `reload`?',
      'inv.yaml:5: pools.web-eu.retain: must be 0..10, got 99',
      'inv.yaml:8: pools.web-eu.nodes[0].ssh.port: must be 1..65535, got 0',
      'inv.yaml:9: pools.web-eu.nodes[1].host: host 10.0.0.11 is already listed as nodes[0]',
    ]);
  });

  it('caps a long list of problems', () => {
    const nodes = Array.from({ length: 40 }, (_, i) => `      - {host: h${i}, ssh: {port: 0}}`);
    const text = `pools:\n  a:\n    server: nginx\n    nodes:\n${nodes.join('\n')}\n`;
    const lines = rejection(text).message.split('\n');
    expect(lines).toHaveLength(21);
    expect(lines[20]).toBe('… and 20 more problems');
  });

  it('escapes control characters it quotes', () => {
    const error = rejection(withPool('    keyDir: "/a\\u001b[2J"'));
    expect(error.message).not.toContain('\u001b');
    expect(error.message).toContain('\\u001b');
  });
});

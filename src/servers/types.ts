import type { NodeSpec, ServerKind } from '../inventory/types.js';
import type { KeyLayout } from '../keys/index.js';
import type { ManagedContent } from './apply-script.js';

/** One file in a node's key directory, as the node reported it. Never holds key bytes. */
export interface KeyFileInfo {
  file: string;
  size: number;
  /** Octal permission bits, e.g. "600". */
  mode: string;
  owner: string;
  /** Seconds since the epoch. */
  mtime: number;
  /** The key's 16-byte name in hex, for files of a key's size. */
  keyId: string | undefined;
}

/** A key the server's config refers to, in the order the server reads them. */
export interface RingEntry {
  keyId: string | undefined;
  /** Absolute path of the key file, or the line number in a key list file (HAProxy). */
  source: string;
  /** What the server does with the key. */
  role: 'encrypt' | 'decrypt' | 'next';
  size: number | undefined;
  mode: string | undefined;
  /** Seconds since the key was created (manifest) or written (mtime), when known. */
  ageSeconds: number | undefined;
  problem: string | undefined;
}

/** stekctl's own node-side record: key ids, their creation times and the rotation in progress. */
export interface Manifest {
  version: 1;
  pool: string;
  keys: Record<string, { created: string; file: string }>;
  /** The ring (key ids, encrypting first) before the last completed rotation; enables rollback. */
  previousRing: string[] | undefined;
  lastRotation: string | undefined;
  /** What the last completed change was: a rollback leaves nothing for another rollback to undo. */
  lastChange?: 'rotation' | 'rollback';
  /** A rotation that started and has not finished; the next run completes or undoes it. */
  pending: PendingRotation | undefined;
}

export interface PendingRotation {
  phase: 'staged' | 'promoted';
  keyId: string;
  started: string;
  /** The ring before the rotation started. */
  ringBefore: string[];
  /** Set by a two-step rotation: earliest time promotion may happen. */
  promoteAfter: string | undefined;
  /**
   * Set by a rollback, whose "promoted" key is the previous one: a run that finds it finishes
   * the rollback, never a rotation to that key. Absent in older records and for rotations.
   */
  by?: 'rollback';
}

/** Everything stekctl reads from one node in one read-only command. */
export interface NodeState {
  keyDir: { exists: boolean; mode: string | undefined; owner: string | undefined };
  /** The file the server config includes (tickets.conf, or tickets.keys for HAProxy). */
  managedFile: { path: string; exists: boolean; mode: string | undefined };
  files: KeyFileInfo[];
  /** The ring as the server will read it, encrypting key first. Empty: no managed keys. */
  ring: RingEntry[];
  manifest: Manifest | undefined;
  /** Whether the server's config includes the managed file; undefined if it could not be told. */
  included: boolean | undefined;
  /** Ticket-key directives outside the managed file, which would fight with it. */
  foreignKeys: string[];
  check: { ok: boolean; output: string } | undefined;
  ticketLifetime: string | undefined;
  /** The server's pid file as its config names it; '' when it names none. See RawNodeState. */
  pidFile?: string;
  /** HAProxy with runtimeApi: key ids in the running process, in file order (show tls-keys). */
  runtimeKeys?: string[] | 'unreadable';
  /** The pool lock in the key directory: the run that holds it, or held it before it died. */
  lock?: RecordedLock;
  problems: string[];
}

/** What a node's stekctl.lock says of its run; fields it lacks are empty. */
export interface RecordedLock {
  runId: string;
  host: string;
  pid: number | undefined;
  user: string;
  started: string;
  expires: string;
  /** LockHolder.machine; empty in locks of older versions. */
  machine: string;
}

/** What differs between server kinds: file names, directives, how a config dump is taken. */
export type ServerAdapter = AdapterBase & ServerFacts;

/**
 * How the read learns whether the config includes the managed file, which ticket keys it names
 * elsewhere, and the ticket lifetime: one snippet for all (and the pid file), or one each.
 */
export type ServerFacts =
  | {
      /**
       * One snippet over the dump on stdin: prints `I|yes` first when the managed file is
       * included, then `N|<path>` per foreign key, `T|<lifetime>` and `P|<pid file>` (empty when
       * the config names none; no P when the dump is empty). One process instead of four.
       */
      factsScript(node: NodeSpec): string;
    }
  | {
      factsScript?: undefined;
      /** Exits 0 when the server's config includes the managed file (dump on stdin). */
      includeCheck(node: NodeSpec): string;
      /** Prints the paths of ticket-key directives outside the managed file (dump on stdin). */
      foreignKeysScript(node: NodeSpec): string;
      /** Prints the server's ticket lifetime, if it can be told (dump on stdin). */
      lifetimeScript(node: NodeSpec): string;
    };

interface AdapterBase {
  kind: ServerKind;
  keySizes: readonly (48 | 80)[];
  /** Name of the file inside keyDir that the server config includes. */
  managedFileName: string;
  /**
   * The server's config dump, when it has one (nginx -T, Apache's DUMP_INCLUDES). A node-side
   * command takes it once and feeds it on stdin to the snippets of ServerFacts and to
   * pidFileScript, instead of each of them dumping the config again. Undefined: those
   * snippets read what they need themselves (stdin is then empty).
   */
  configDump?(node: NodeSpec): ConfigDump | undefined;
  /** Builds the ring from the raw records the read script printed. */
  deriveRing(raw: RawNodeState, node: NodeSpec, nowSeconds: number): RingEntry[];
  /** What the operator adds to the server config so that it reads the managed file. */
  includeLine(node: NodeSpec): string;
  /** Byte layout of this server's key files. */
  keyLayout: KeyLayout;
  /**
   * Whether the server can hold a key for decryption only. nginx and HAProxy can, so a new key is
   * staged everywhere before any node encrypts with it; Apache cannot, so all nodes switch together.
   */
  decryptOnly: boolean;
  /** The managed file for a ring; `staged` is a decrypt-only key that is about to become primary. */
  renderManaged(node: NodeSpec, ring: PlacedRing | undefined): ManagedContent;
  /**
   * Shell snippet printing the server's pid file (reads the config dump on stdin). The
   * transaction runs it once and keeps the answer in `stek_pf` for generationScript.
   */
  pidFileScript?(node: NodeSpec): string;
  /**
   * Shell snippet setting `stek_gen` to a token that changes when the server starts serving a
   * new config (empty: unknown). Runs in the transaction's own shell at every poll: it must be
   * cheap (shell builtins where it can), and finds the pid file in `stek_pf`.
   */
  generationScript(node: NodeSpec): string;
  /**
   * Shell snippet that exits 0 once no process of the old generation (`$g0`, what
   * what generationScript set before the reload) accepts connections any more. Servers whose
   * old processes cannot be told apart from the new ones leave it out.
   */
  drainedScript?(node: NodeSpec): string;
  /**
   * How long after a new generation shows the server starts stopping the old one: the drain
   * wait sleeps that long before its second look instead of polling through it (every poll is
   * a process on the node).
   */
  drainDelayMs?: number;
}

/** How a node-side command takes a server's config dump once for several snippets. */
export interface ConfigDump {
  /** Prints the dump on stdout; what goes to stderr is discarded unless `isCheck`. */
  command: string;
  /**
   * Whether `command` is the node's config test itself, with the same exit status and the same
   * stderr (nginx -T for nginx -t), so that the check need not run a second time.
   */
  isCheck: boolean;
}

/** A ring placed on one node: key files by absolute path, encrypting key first. */
export interface PlacedRing {
  encrypt: PlacedKey;
  /** Decrypt-only keys, most recent first. */
  decrypt: PlacedKey[];
  /** A new key staged for decryption only (nginx, HAProxy), or undefined. */
  staged: PlacedKey | undefined;
}

export interface PlacedKey {
  keyId: string;
  /** Absolute path of the key file on the node. */
  path: string;
}

/** Records of the read script before a server kind interprets them. */
export interface RawNodeState {
  dir: { exists: boolean; mode: string | undefined; owner: string | undefined };
  files: KeyFileInfo[];
  /** Text of <keyDir>/tickets.conf, when it exists (paths only, no key bytes). */
  conf: string | undefined;
  manifestText: string | undefined;
  /** Key files the managed conf refers to, as stat'ed by the node. */
  referenced: Map<string, ReferencedFile>;
  /** HAProxy key list: per non-empty line, decoded size and name. */
  keyLines: { size: number; keyId: string | undefined }[] | undefined;
  keyLinesMode: string | undefined;
  included: boolean | undefined;
  foreignKeys: string[];
  check: { ok: boolean; output: string } | undefined;
  /** The server's ticket lifetime as configured (e.g. "5m", "300"), when it could be read. */
  ticketLifetime: string | undefined;
  /**
   * The pid file the config dump names ('' when it names none), from servers whose factsScript
   * prints it: the transactions then need not look for it in their own dump.
   */
  pidFile?: string;
  /** HAProxy with runtimeApi: what `show tls-keys` says, as key ids in file order. */
  runtimeKeys?: string[] | 'unreadable';
  /** Text of <keyDir>/stekctl.lock, when it exists (one line of JSON). */
  lockText?: string;
  complete: boolean;
}

/** A key file a managed conf names: what the node read of it, or that it does not exist. */
export type ReferencedFile = { size: number; mode: string; keyId: string | undefined } | 'missing';

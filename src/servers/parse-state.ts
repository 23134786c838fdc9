import { printable } from './printable.js';
import type { KeyFileInfo, RawNodeState, ReferencedFile } from './types.js';

const safeFileName = /^[A-Za-z0-9._-]+$/;

/** The read's text records (textRecords in read-script.ts) and the field each one fills. */
const textFields = { c: 'conf', m: 'manifestText', l: 'lockText' } as const;
type TextTag = keyof typeof textFields;

/** Parses the records of the read script. Unknown or malformed lines are ignored, not trusted. */
export function parseReadOutput(stdout: string): RawNodeState {
  const raw: RawNodeState = {
    dir: { exists: false, mode: undefined, owner: undefined },
    files: [],
    conf: undefined,
    manifestText: undefined,
    referenced: new Map(),
    keyLines: undefined,
    keyLinesMode: undefined,
    included: undefined,
    foreignKeys: [],
    check: undefined,
    ticketLifetime: undefined,
    complete: false,
  };
  let begun = false;
  for (const line of stdout.split('\n')) {
    const f = line.split('|');
    const tag = f[0];
    if (tag === 'BEGIN') begun = true;
    if (!begun) continue;
    switch (tag) {
      case 'D':
        if (f[1] !== 'missing') raw.dir = { exists: true, mode: f[1], owner: f[2] };
        break;
      case 'F': {
        const file = parseFileRecord(f);
        if (file) raw.files.push(file);
        break;
      }
      // Base64 of the whole file (C, M).
      case 'C':
        raw.conf = decode(f[1]);
        break;
      case 'M':
        raw.manifestText = decode(f[1]);
        break;
      // A text file's lines: its start (C0, M0, L0), then each line (c, m, l; c~ for a last
      // line without a newline).
      case 'C0':
      case 'M0':
      case 'L0':
        raw[textFields[tag[0]!.toLowerCase() as TextTag]] = '';
        break;
      case 'c':
      case 'c~':
      case 'm':
      case 'm~':
      case 'l':
      case 'l~': {
        const field = textFields[tag[0] as TextTag];
        const sofar = raw[field];
        if (sofar !== undefined) raw[field] = sofar + textLine(line, tag);
        break;
      }
      case 'R':
        if (f[1]) raw.referenced.set(f[1], referenceRecord(f, raw.files));
        break;
      case 'KM':
        raw.keyLinesMode = f[1];
        raw.keyLines ??= [];
        break;
      case 'KR':
        raw.runtimeKeys = f[1] === 'ok' ? (f[2] ?? '').split(' ').filter(isKeyId) : 'unreadable';
        break;
      case 'K':
        raw.keyLines ??= [];
        raw.keyLines.push({ size: Number(f[1]), keyId: keyIdField(f[2]) });
        break;
      case 'I':
        raw.included = f[1] === 'yes';
        break;
      case 'N':
        if (f[1]) raw.foreignKeys.push(f[1]);
        break;
      case 'T': {
        const lifetime = f
          .slice(1)
          .join('')
          .replace(/[^A-Za-z0-9]/g, '');
        if (lifetime) raw.ticketLifetime = lifetime;
        break;
      }
      case 'P':
        raw.pidFile = f.slice(1).join('|');
        break;
      case 'X':
        raw.check = { ok: f[1] === '0', output: printable(decode(f[2]) ?? '') };
        break;
      case 'END':
        raw.complete = true;
        break;
    }
  }
  return raw;
}

function parseFileRecord(f: string[]): KeyFileInfo | undefined {
  const [, file, size, mode, owner, mtime, id] = f;
  if (!file || !safeFileName.test(file)) return undefined;
  return {
    file,
    size: Number(size),
    mode: mode ?? '',
    owner: owner ?? '',
    mtime: Number(mtime),
    keyId: keyIdField(id),
  };
}

/**
 * `R|path|size|mode|id`, `R|path|missing`, or `R|path|=` for a file in keyDir whose F record
 * (printed before) describes it.
 */
function referenceRecord(f: string[], files: KeyFileInfo[]): ReferencedFile {
  if (f[2] === 'missing') return 'missing';
  if (f[2] === '=') {
    const name = (f[1] ?? '').slice((f[1] ?? '').lastIndexOf('/') + 1);
    const file = files.find((x) => x.file === name);
    if (!file) return 'missing';
    // The F record names a key only at a key's size; the size alone then tells what is wrong.
    return { size: file.size, mode: file.mode, keyId: file.keyId };
  }
  return { size: Number(f[2]), mode: f[3] ?? '', keyId: keyIdField(f[4]) };
}

function keyIdField(s: string | undefined): string | undefined {
  return s && /^[0-9a-f]{32}$/.test(s) ? s : undefined;
}

/** A c or m record's text: everything after the first bar, with its newline unless `~`. */
function textLine(line: string, tag: string): string {
  const text = line.slice(tag.length + 1);
  return tag.endsWith('~') ? text : `${text}\n`;
}

function decode(s: string | undefined): string | undefined {
  return s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8');
}

function isKeyId(text: string): boolean {
  return /^[0-9a-f]{32}$/.test(text);
}

/**
 * Just enough POSIX shell quoting to read the commands stekctl sends: `sh -c '<script>'` where
 * the script was quoted with quoteShell (single quotes, a quote written as '\'').
 */

/** Reads one shell word at `start` made of '...' runs and \x escapes; returns it and its end. */
export function readQuotedWord(text: string, start: number): { word: string; end: number } {
  let i = start;
  let word = '';
  while (i < text.length) {
    const c = text[i];
    if (c === "'") {
      const close = text.indexOf("'", i + 1);
      if (close < 0) throw new Error('unterminated single quote');
      word += text.slice(i + 1, close);
      i = close + 1;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[i + 1];
      i += 2;
    } else if (c === ' ' || c === '\t' || c === '\n') {
      break;
    } else {
      word += c;
      i += 1;
    }
  }
  return { word, end: i };
}

/** The script of `sh -c '<script>'`, or undefined for any other command line. */
export function unwrapShC(command: string): string | undefined {
  const prefix = 'sh -c ';
  if (!command.startsWith(prefix)) return undefined;
  const { word, end } = readQuotedWord(command, prefix.length);
  return end === command.length ? word : undefined;
}

/** The quoted argument that follows `marker` in `script` (e.g. the text of a printf). */
export function quotedAfter(script: string, marker: string): string | undefined {
  const at = script.indexOf(marker);
  if (at < 0) return undefined;
  return readQuotedWord(script, at + marker.length).word;
}

/** The quoted word written just before `suffix`: `printf %s '<text>' > .stekctl-next`. */
export function printfTarget(script: string, target: string): string | undefined {
  const re = new RegExp(`printf %s ('(?:[^']|'\\\\'')*') > ${target.replaceAll('.', '\\.')}`);
  const m = re.exec(script);
  return m?.[1] === undefined ? undefined : readQuotedWord(m[1], 0).word;
}

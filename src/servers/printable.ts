/**
 * Output relayed from a node (a failing config test, a reload's stderr) is shown to people and
 * kept in reports: only printable text goes through, so that no binary (a key, should a command
 * print one) or terminal escape sequence reaches a terminal, a log or a JSON document.
 */
export function printable(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    out +=
      ch === '\n' || ch === '\t' || (c >= 0x20 && c < 0x7f) || (c > 0x9f && c !== 0xfffd)
        ? ch
        : '?';
  }
  return out;
}

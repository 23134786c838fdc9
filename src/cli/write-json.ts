/** Characters per write: a 10,000-node rotation's report is about 26 MB of JSON. */
const sliceChars = 1 << 20;

/**
 * Writes `doc` as indented JSON and a newline, in slices: one write of the whole text would
 * also hold all of it as a Buffer at once, the largest allocation of a large fleet's run. A
 * slice never ends between the two halves of a surrogate pair, so each is valid UTF-16 and the
 * bytes written are those of the whole text.
 */
export function writeJson(
  stream: { write(chunk: string): unknown },
  doc: unknown,
  slice: number = sliceChars,
): void {
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  let start = 0;
  while (start < text.length) {
    let end = Math.min(start + slice, text.length);
    const last = text.charCodeAt(end - 1);
    // A high surrogate last: take its low half along.
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end += 1;
    stream.write(text.slice(start, end));
    start = end;
  }
}

/** Characters per write. */
const sliceChars = 1 << 16;

/** Objects this deep and arrays this long are written member by member. */
const spreadDepth = 6;
const spreadLength = 64;

interface Sink {
  push(text: string): void;
  flush(): void;
}

/**
 * Writes `doc` as `JSON.stringify(doc, null, 2)` would, and a newline, without ever holding the
 * whole text: a 10,000-node rotation's report is about 26 MB, and building it at once was the
 * largest allocation of the run, at its very end. Objects near the top and long arrays are
 * written member by member; what is below them (a node's record) goes through JSON.stringify
 * and is re-indented, which is exact because a JSON text holds no raw newline but its own.
 */
export function writeJson(
  stream: { write(chunk: string): unknown },
  doc: unknown,
  slice: number = sliceChars,
): void {
  const sink = textSink(stream, slice);
  writeValue(sink, jsonValue(doc, ''), '', 0);
  sink.push('\n');
  sink.flush();
}

function textSink(stream: { write(chunk: string): unknown }, slice: number): Sink {
  let parts: string[] = [];
  let size = 0;
  const flush = (): void => {
    if (parts.length === 0) return;
    stream.write(parts.join(''));
    parts = [];
    size = 0;
  };
  return {
    push(text) {
      parts.push(text);
      size += text.length;
      if (size >= slice) flush();
    },
    flush,
  };
}

/** What JSON.stringify serialises in place of `value` (toJSON), or undefined when it skips it. */
function jsonValue(value: unknown, key: string): unknown {
  const v =
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
      ? (value as { toJSON(key: string): unknown }).toJSON(key)
      : value;
  return typeof v === 'function' || typeof v === 'symbol' ? undefined : v;
}

function writeValue(sink: Sink, value: unknown, pad: string, depth: number): void {
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    (depth < spreadDepth || value.length > spreadLength)
  ) {
    const inner = `${pad}  `;
    sink.push('[\n');
    value.forEach((item, i) => {
      sink.push(inner);
      const v = jsonValue(item, String(i));
      if (v === undefined) sink.push('null');
      else writeValue(sink, v, inner, depth + 1);
      sink.push(i < value.length - 1 ? ',\n' : '\n');
    });
    sink.push(`${pad}]`);
    return;
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && depth < spreadDepth) {
    const members = Object.keys(value).flatMap((k) => {
      const v = jsonValue((value as Record<string, unknown>)[k], k);
      return v === undefined ? [] : [[k, v] as const];
    });
    if (members.length === 0) {
      sink.push('{}');
      return;
    }
    const inner = `${pad}  `;
    sink.push('{\n');
    members.forEach(([k, v], i) => {
      sink.push(`${inner}${JSON.stringify(k)}: `);
      writeValue(sink, v, inner, depth + 1);
      sink.push(i < members.length - 1 ? ',\n' : '\n');
    });
    sink.push(`${pad}}`);
    return;
  }
  const text = JSON.stringify(value, null, 2) ?? 'null';
  sink.push(pad === '' ? text : text.replaceAll('\n', `\n${pad}`));
}

/**
 * Renders a value from the inventory for an error message: short, one line, and with control
 * characters escaped so that a hostile file cannot forge terminal output.
 */
export function quoteValue(value: unknown, max = 60): string {
  const text = typeof value === 'string' ? value : String(value);
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  // eslint-disable-next-line no-control-regex
  const escaped = cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029`]/g, (c) =>
    c === '`' ? "'" : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return `\`${escaped}\``;
}

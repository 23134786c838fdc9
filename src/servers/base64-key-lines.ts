/**
 * HAProxy keeps its ticket keys as base64 lines (the managed file, `show tls-keys`). The node
 * scripts need each key's size and 16-byte name, never its bytes. Decoding a line with
 * `base64 -d | wc -c` and `base64 -d | od` cost six processes per key; these awk functions
 * decode every line of a file in one process. POSIX awk only (Debian's mawk, gawk, busybox).
 */

/**
 * `keyline(s)` sets ksize to the number of bytes `s` decodes to, or -1 when it is not
 * base64 (a character outside the alphabet, padding inside it, a length not a multiple of
 * four), and kname to the hex of its first 16 bytes (the key's name). A line ending in CRLF
 * is read as HAProxy reads it, without the CR.
 */
const keylineFunction =
  'function keyline(s,  i, n, c, v, acc, bits, b, pad) { ' +
  'sub(/\\r$/, "", s); n = length(s); ksize = 0; kname = ""; acc = 0; bits = 0; pad = 0; ' +
  'if (n % 4 != 0) ksize = -1; ' +
  'for (i = 1; i <= n && ksize >= 0; i++) { ' +
  'c = substr(s, i, 1); ' +
  'if (c == "=") { if (++pad > 2) ksize = -1; continue } ' +
  'v = index(B64, c) - 1; ' +
  'if (v < 0 || pad) { ksize = -1; break } ' +
  'acc = acc * 64 + v; bits += 6; ' +
  'if (bits >= 8) { bits -= 8; b = int(acc / P[bits]); acc -= b * P[bits]; ' +
  'if (++ksize <= 16) kname = kname sprintf("%02x", b) } ' +
  '} }';

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** An awk program: keyline, then `rules`, which call it. */
function withKeyline(rules: string): string {
  // P: powers of two, since some awks (busybox) are built without `^`.
  return `BEGIN { B64 = "${alphabet}"; for (i = 0; i < 8; i++) P[i] = i ? 2 * P[i - 1] : 1 } ${keylineFunction} ${rules}`;
}

/**
 * Reads a managed key file (stdin) and prints `K|<size>|<name>` per key line; blank lines and
 * comments are not keys. For the read script, whose parser takes K records.
 */
export const keyRecordsAwk = withKeyline(
  '{ sub(/\\r$/, "") } $0 == "" || /^#/ { next } { keyline($0); print "K|" ksize "|" kname }',
);

/** The names of the last three key lines of a managed file, space-separated, in file order. */
export const lastThreeNamesAwk = withKeyline(
  'NF && $0 !~ /^#/ { l[++n] = $0 } ' +
    'END { for (i = n > 3 ? n - 2 : 1; i <= n; i++) { keyline(l[i]); ' +
    'printf "%s%s", (k++ ? " " : ""), kname } }',
);

/**
 * The names of the keys in HAProxy's `show tls-keys <ref>` answer (lines `<id>.<n> <base64>`),
 * space-separated, in order.
 */
export const runtimeNamesAwk = withKeyline(
  '$1 ~ /^[0-9]+\\.[0-9]+$/ { keyline($2); printf "%s%s", (k++ ? " " : ""), kname }',
);

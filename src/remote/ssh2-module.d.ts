/** The part of ssh2's own exports stekctl uses (ssh2 ships no declarations). */
declare module 'ssh2' {
  interface ParsedKey {
    isPrivateKey(): boolean;
  }
  const ssh2: {
    utils: { parseKey(data: string | Buffer): ParsedKey | ParsedKey[] | Error };
  };
  export default ssh2;
}

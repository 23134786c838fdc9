/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export interface Terminal {
  isTTY: boolean;
  color: boolean;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

export function createTerminal(stream: NodeJS.WriteStream): Terminal {
  const isTTY = stream.isTTY === true;
  const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  const color = isTTY && !noColor && process.env.TERM !== 'dumb';
  const wrap = (open: number, close: number) => (s: string) =>
    color ? `\u001b[${open}m${s}\u001b[${close}m` : s;
  return {
    isTTY,
    color,
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    bold: wrap(1, 22),
    dim: wrap(2, 22),
  };
}

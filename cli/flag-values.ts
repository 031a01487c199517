// Reading flag values the way Docker's CLI does, for every command that
// builds or edits a spec: shell words, true/false, a word from a table, and
// lists edited with -add/-rm.
import { parse as parseShell } from 'shell-quote';
import { InvalidArgumentError } from '../shared/errors.js';

/** A command line in shell quoting, as words (shell operators refused). */
export function shellWords(text: string, flag: string): string[] {
  return parseShell(text).map((w) => {
    if (typeof w !== 'string') throw new InvalidArgumentError(`${flag}: "${text}" holds shell operators; quote them`);
    return w;
  });
}

/** true/1 or false/0 (commander gives `true` for a bare `--flag` with an optional value). */
export function parseBool(text: string | boolean, flag: string): boolean {
  if (text === true || text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  throw new InvalidArgumentError(`${flag}: "${text}" is not true or false`);
}

/** The value a word stands for in `table`; an unknown word is an error listing the known ones. */
export function pick<T>(table: Record<string, T>, value: string, flag: string): T {
  const v = table[value];
  if (v === undefined) throw new InvalidArgumentError(`${flag}: "${value}" is not one of ${Object.keys(table).join(', ')}`);
  return v;
}

/** Removes (by key) then adds, replacing an entry of the same key; removing what is not there is an error. */
export function edit<T>(list: T[], add: T[], rm: string[], keyOf: (x: T) => string, missing: (key: string) => Error): T[] {
  let out = [...list];
  for (const k of rm) {
    if (!out.some((x) => keyOf(x) === k)) throw missing(k);
    out = out.filter((x) => keyOf(x) !== k);
  }
  for (const x of add) out = [...out.filter((y) => keyOf(y) !== keyOf(x)), x];
  return out;
}

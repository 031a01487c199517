// Reading flag values the way Docker's CLI does, for every command that
// builds or edits a spec: true/false, and lists edited with -add/-rm (shell
// words and words from a table are shared/words.ts, Compose reads them too).
import { InvalidArgumentError } from '../shared/errors.js';

/** true/1 or false/0 (commander gives `true` for a bare `--flag` with an optional value). */
export function parseBool(text: string | boolean, flag: string): boolean {
  if (text === true || text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  throw new InvalidArgumentError(`${flag}: "${text}" is not true or false`);
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

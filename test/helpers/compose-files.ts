// Compose files for the unit tests: each set written into a fresh directory
// under one temporary root, which the test file removes when it ends.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ComposeDirs {
  /** The temporary root (a path under it that was never written does not exist). */
  root: string;
  /** Writes files into a fresh directory; returns the path of each. */
  files(contents: Record<string, string>): Record<string, string>;
  remove(): void;
}

export function composeDirs(prefix: string): ComposeDirs {
  const root = mkdtempSync(join(tmpdir(), prefix));
  let made = 0;
  return {
    root,
    files(contents) {
      const dir = join(root, String(made++));
      mkdirSync(dir);
      return Object.fromEntries(Object.entries(contents).map(([name, text]) => (writeFileSync(join(dir, name), text), [name, join(dir, name)])));
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

// What every CLI command shares: the manager address, output format, and the
// one-line error contract (message on stderr, non-zero exit, nothing changed).
import { Option } from 'commander';
import { OrchError } from '../../shared/errors.js';
import { connect, DEFAULT_MANAGER, type Control } from '../client.js';
import type { Command } from 'commander';

export interface Globals {
  manager(): string;
}

/** The manager address: --manager, then $ORCH_MANAGER, then the default. */
export function managerAddr(flag: string | undefined): string {
  return flag ?? process.env.ORCH_MANAGER ?? DEFAULT_MANAGER;
}

/** Runs a command with a control client; errors end the process with one line and exit 1. */
export async function withControl(globals: Globals, fn: (ctl: Control) => Promise<void>): Promise<void> {
  const ctl = connect(globals.manager());
  try {
    await fn(ctl);
  } catch (err) {
    fail(err);
  } finally {
    ctl.close();
  }
}

/** Prints `orch: <message>` and exits non-zero. */
export function fail(err: unknown): never {
  const message = err instanceof OrchError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`orch: ${message.split('\n')[0]}\n`);
  process.exit(1);
}

/** Repeatable option collector. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function formatOption(): Option {
  return new Option('--format <format>', 'output format').choices(['table', 'json']).default('table');
}

/** Prints `data` as JSON, or the table `render` makes. */
export function print(format: string, data: unknown, render: () => string): void {
  process.stdout.write(format === 'json' ? `${JSON.stringify(data, null, 2)}\n` : render());
}

/**
 * Adds `inspect REF...` to `parent`: fetches each object with `get` and prints
 * them as one JSON array, as `docker … inspect` does.
 */
export function inspectCommand<T>(parent: Command, globals: Globals, what: string, argHelp: string, get: (ctl: Control, ref: string) => Promise<T>, toJSON: (v: T) => unknown): void {
  parent
    .command('inspect')
    .description(`Display detailed information on one or more ${what} (JSON)`)
    .argument(`<${what.replace(/s$/, '')}...>`, argHelp)
    .action((refs: string[]) =>
      withControl(globals, async (ctl) => {
        const out = [];
        for (const ref of refs) out.push(toJSON(await get(ctl, ref)));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      }),
    );
}

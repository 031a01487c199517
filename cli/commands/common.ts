// What every CLI command shares: the manager address, output format, and the
// one-line error contract (message on stderr, non-zero exit, nothing changed).
import { Option } from 'commander';
import { InvalidArgumentError, OrchError } from '../../shared/errors.js';
import { connect, DEFAULT_MANAGER, type Control } from '../../client/control.js';
import { currentContext } from '../context.js';
import { etcdClientTls, loadTls, type EtcdTls } from '../../shared/tls/credentials.js';
import type { Command } from 'commander';

export interface Globals {
  /** The manager address(es), comma-separated. */
  manager(): string;
  /** Only a manager address given on purpose (flag or environment), if any. */
  explicitManager(): string | undefined;
  /** The directory of the certificate the CLI shows. */
  tlsDir(): string;
}

/** The manager address(es), comma-separated: --manager, then $ORCH_MANAGER, then the current context, then the default. */
export function managerAddr(flag: string | undefined): string {
  return flag ?? process.env.ORCH_MANAGER ?? currentContext()?.managers.join(',') ?? DEFAULT_MANAGER;
}

/** The admin certificate's directory: --tls-dir, then $ORCH_TLS_DIR, then the current context's. */
export function tlsDir(flag: string | undefined): string {
  const dir = flag ?? process.env.ORCH_TLS_DIR ?? currentContext()?.tlsDir;
  if (!dir) throw new InvalidArgumentError('no admin certificate: `orch init` makes one (and a context that uses it); or give --tls-dir or $ORCH_TLS_DIR');
  return dir;
}

/** Runs a command with a control client; errors end the process with one line and exit 1. */
export function withControl(globals: Globals, fn: (ctl: Control) => Promise<void>): Promise<never> {
  return withClient(() => connect(globals.manager(), loadTls(globals.tlsDir())), fn);
}

/**
 * Runs a command with the client `open` makes, closing it after, and ends the
 * process (it is a command's last step): a connection attempt still pending,
 * to a manager whose kernel accepted TCP but whose process is frozen, would
 * otherwise keep it alive. Errors end it with one line and exit 1.
 */
export async function withClient<C extends { close(): void }>(open: () => C, fn: (client: C) => Promise<void>): Promise<never> {
  let client: C;
  try {
    client = open();
  } catch (err) {
    fail(err);
  }
  try {
    await fn(client);
  } catch (err) {
    fail(err);
  } finally {
    client.close();
  }
  process.exit();
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

/** KEY=VALUE items (repeatable flags) as a record; a bare KEY has an empty value. */
export function keyValues(items: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (!key) throw new InvalidArgumentError(`${flag} "${item}": expected KEY=VALUE`);
    out[key] = eq < 0 ? '' : item.slice(eq + 1);
  }
  return out;
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

/**
 * Adds `rm REF...` (alias `remove`) to `parent`: removes each with `remove`,
 * printing each ref as it goes, as `docker … rm` does. `configure` adds options.
 */
export function removeCommand<F extends object>(
  parent: Command,
  globals: Globals,
  description: string,
  remove: (ctl: Control, ref: string, flags: F) => Promise<unknown>,
  configure: (c: Command) => Command = (c) => c,
): void {
  configure(parent.command('rm').alias('remove').description(description).argument('<ref...>'))
    .action((refs: string[], flags: F) =>
      withControl(globals, async (ctl) => {
        for (const ref of refs) {
          await remove(ctl, ref, flags);
          process.stdout.write(`${ref}\n`);
        }
      }),
    );
}

/** The flags that give etcd a client certificate (manager and init). */
export function etcdTlsOptions(cmd: Command): Command {
  return cmd
    .option('--etcd-ca <file>', "CA that signed etcd's server certificate (PEM), for an etcd of your own (default: the one orch issued, in the state directory)")
    .option('--etcd-cert <file>', 'client certificate to show etcd (PEM)')
    .option('--etcd-key <file>', "that certificate's key (PEM)");
}

/** The etcd client certificate: the flags' (all three or none), else the one orch issued into `stateDir` (a manager's), if any. */
export function etcdTls(f: { etcdCa?: string; etcdCert?: string; etcdKey?: string; stateDir?: string }): EtcdTls | undefined {
  const given = [f.etcdCa, f.etcdCert, f.etcdKey].filter(Boolean).length;
  if (given === 0) return f.stateDir ? etcdClientTls(f.stateDir) : undefined;
  if (given !== 3) throw new InvalidArgumentError('--etcd-ca, --etcd-cert and --etcd-key go together: give all three or none');
  return { ca: f.etcdCa!, cert: f.etcdCert!, key: f.etcdKey! };
}

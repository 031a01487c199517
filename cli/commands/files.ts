// `orch secret …` and `orch config …`: create NAME FILE|-, ls, inspect, rm,
// as Docker has them. A secret's value goes to the manager once and is never
// shown again; a config's is shown by inspect. One builder makes both.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { Config, Secret } from '../../proto/generated/orch.js';
import type { Control } from '../../client/control.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { shortId } from '../../shared/ids.js';
import { formatBytes } from '../../shared/units.js';
import { table } from '../table.js';
import { collect, formatOption, keyValues, print, removeCommand, withControl, type Globals } from './common.js';

/** What differs between the two commands. */
interface FileKind<T> {
  what: 'secret' | 'config';
  description: string;
  inspectNote: string;
  create(ctl: Control, name: string, labels: Record<string, string>, data: Buffer): Promise<{ id: string }>;
  list(ctl: Control): Promise<T[]>;
  get(ctl: Control, ref: string): Promise<T>;
  remove(ctl: Control, ref: string): Promise<unknown>;
  toJSON(x: T): unknown;
  row(x: T): string[];
}

const SECRETS: FileKind<Secret> = {
  what: 'secret',
  description: 'Manage secrets: values sealed in etcd, mounted into the tasks that use them (in memory only)',
  inspectNote: 'metadata only: the value is never shown',
  create: (ctl, name, labels, data) => ctl.createSecret({ name, labels, data }),
  list: async (ctl) => (await ctl.listSecrets({})).secrets,
  get: (ctl, ref) => ctl.getSecret({ ref }),
  remove: (ctl, ref) => ctl.removeSecret({ ref }),
  toJSON: (s) => Secret.toJSON(s),
  row: (s) => [shortId(s.id), s.spec!.name, formatBytes(Number(s.size)), s.createdAt?.toISOString() ?? ''],
};

const CONFIGS: FileKind<Config> = {
  what: 'config',
  description: 'Manage configs: files, stored in clear, mounted into the tasks that use them',
  inspectNote: 'with the content, base64 as Docker shows it',
  create: (ctl, name, labels, data) => ctl.createConfig({ name, labels, data }),
  list: async (ctl) => (await ctl.listConfigs({})).configs,
  get: (ctl, ref) => ctl.getConfig({ ref }),
  remove: (ctl, ref) => ctl.removeConfig({ ref }),
  toJSON: (c) => Config.toJSON(c),
  row: (c) => [shortId(c.id), c.spec!.name, formatBytes(c.spec!.data.length), c.createdAt?.toISOString() ?? ''],
};

export const secretCommand = (globals: Globals) => fileCommand(globals, SECRETS);
export const configCommand = (globals: Globals) => fileCommand(globals, CONFIGS);

function fileCommand<T>(globals: Globals, k: FileKind<T>): Command {
  const cmd = new Command(k.what).description(k.description);
  cmd
    .command('create')
    .description(`Create a ${k.what} from a file, or from standard input with -`)
    .argument('<name>')
    .argument('<file>', 'file holding the value, or - for standard input')
    .option('-l, --label <k=v>', `${k.what} label (repeatable)`, collect, [])
    .action((name: string, file: string, f: { label: string[] }) =>
      withControl(globals, async (ctl) => {
        const made = await k.create(ctl, name, keyValues(f.label, '--label'), readValue(file, k.what));
        process.stdout.write(`${made.id}\n`);
      }),
    );
  cmd
    .command('ls')
    .description(`List ${k.what}s`)
    .addOption(formatOption())
    .action((f: { format: string }) =>
      withControl(globals, async (ctl) => {
        const all = await k.list(ctl);
        print(f.format, all.map(k.toJSON), () => table(['ID', 'NAME', 'SIZE', 'CREATED'], all.map(k.row)));
      }),
    );
  cmd
    .command('inspect')
    .description(`Display ${k.what}s (JSON; ${k.inspectNote})`)
    .argument(`<${k.what}...>`)
    .action((refs: string[]) =>
      withControl(globals, async (ctl) => {
        const out = [];
        for (const ref of refs) out.push(k.toJSON(await k.get(ctl, ref)));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      }),
    );
  removeCommand(cmd, globals, `Remove ${k.what}s (refused while a service uses one)`, (ctl, ref) => k.remove(ctl, ref));
  return cmd;
}

/** The value from a file, or from standard input for "-". */
function readValue(file: string, what: string): Buffer {
  try {
    return file === '-' ? readFileSync(0) : readFileSync(file);
  } catch (err) {
    throw new InvalidArgumentError(`cannot read the ${what}'s value from ${file === '-' ? 'standard input' : file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

// `orch secret …` and `orch config …`: create NAME FILE|-, ls, inspect, rm,
// as Docker has them. A secret's value goes to the manager once and is never
// shown again; a config's is shown by inspect.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { Config, Secret } from '../../proto/generated/orch.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { shortId } from '../../shared/ids.js';
import { formatBytes } from '../../shared/units.js';
import { table } from '../table.js';
import { collect, formatOption, keyValues, print, removeCommand, withControl, type Globals } from './common.js';

/** The value from a file, or from standard input for "-". */
function readValue(file: string, what: string): Buffer {
  try {
    return file === '-' ? readFileSync(0) : readFileSync(file);
  } catch (err) {
    throw new InvalidArgumentError(`cannot read the ${what}'s value from ${file === '-' ? 'standard input' : file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

export function secretCommand(globals: Globals): Command {
  const cmd = new Command('secret').description('Manage secrets: values sealed in etcd, mounted into the tasks that use them (in memory only)');
  cmd
    .command('create')
    .description('Create a secret from a file, or from standard input with -')
    .argument('<name>')
    .argument('<file>', 'file holding the value, or - for standard input')
    .option('-l, --label <k=v>', 'secret label (repeatable)', collect, [])
    .action((name: string, file: string, f: { label: string[] }) =>
      withControl(globals, async (ctl) => {
        const s = await ctl.createSecret({ name, labels: keyValues(f.label, '--label'), data: readValue(file, 'secret') });
        process.stdout.write(`${s.id}\n`);
      }),
    );
  cmd
    .command('ls')
    .description('List secrets')
    .addOption(formatOption())
    .action((f: { format: string }) =>
      withControl(globals, async (ctl) => {
        const { secrets } = await ctl.listSecrets({});
        print(f.format, secrets.map((s) => Secret.toJSON(s)), () =>
          table(['ID', 'NAME', 'SIZE', 'CREATED'], secrets.map((s) => [shortId(s.id), s.spec!.name, formatBytes(Number(s.size)), s.createdAt?.toISOString() ?? ''])),
        );
      }),
    );
  cmd
    .command('inspect')
    .description('Display secrets (metadata only: the value is never shown)')
    .argument('<secret...>')
    .action((refs: string[]) =>
      withControl(globals, async (ctl) => {
        const out = [];
        for (const ref of refs) out.push(Secret.toJSON(await ctl.getSecret({ ref })));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      }),
    );
  removeCommand(cmd, globals, 'Remove secrets (refused while a service uses one)', (ctl, ref) => ctl.removeSecret({ ref }));
  return cmd;
}

export function configCommand(globals: Globals): Command {
  const cmd = new Command('config').description('Manage configs: files, stored in clear, mounted into the tasks that use them');
  cmd
    .command('create')
    .description('Create a config from a file, or from standard input with -')
    .argument('<name>')
    .argument('<file>', 'file holding the content, or - for standard input')
    .option('-l, --label <k=v>', 'config label (repeatable)', collect, [])
    .action((name: string, file: string, f: { label: string[] }) =>
      withControl(globals, async (ctl) => {
        const c = await ctl.createConfig({ name, labels: keyValues(f.label, '--label'), data: readValue(file, 'config') });
        process.stdout.write(`${c.id}\n`);
      }),
    );
  cmd
    .command('ls')
    .description('List configs')
    .addOption(formatOption())
    .action((f: { format: string }) =>
      withControl(globals, async (ctl) => {
        const { configs } = await ctl.listConfigs({});
        print(f.format, configs.map((c) => Config.toJSON(c)), () =>
          table(['ID', 'NAME', 'SIZE', 'CREATED'], configs.map((c) => [shortId(c.id), c.spec!.name, formatBytes(c.spec!.data.length), c.createdAt?.toISOString() ?? ''])),
        );
      }),
    );
  cmd
    .command('inspect')
    .description('Display configs, with their content (JSON; the content is base64, as Docker shows it)')
    .argument('<config...>')
    .action((refs: string[]) =>
      withControl(globals, async (ctl) => {
        const out = [];
        for (const ref of refs) out.push(Config.toJSON(await ctl.getConfig({ ref })));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      }),
    );
  removeCommand(cmd, globals, 'Remove configs (refused while a service uses one)', (ctl, ref) => ctl.removeConfig({ ref }));
  return cmd;
}

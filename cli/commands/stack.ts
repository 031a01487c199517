// `orch stack …`: deploy a Compose file (several merged in order) as a stack,
// list stacks, their services and tasks, print the file as orch reads it,
// and remove a stack with everything it made.
import { Command } from 'commander';
import { stringify } from 'yaml';
import { Task as TaskMsg } from '../../proto/generated/orch.js';
import { deployStack, listStacks, removeStack } from '../../client/stack.js';
import { readStack, STACK_LABEL } from '../../compose/index.js';
import { parseDuration } from '../../shared/duration.js';
import { waitForServices } from '../progress.js';
import { table } from '../table.js';
import { printServices, type ServiceListFlags } from './service.js';
import { listTasks, TASK_HEADERS, taskListOptions, taskRow, type TaskListFlags } from './task-list.js';
import { collect, fail, formatOption, print, withControl, type Globals } from './common.js';

const warn = (lines: string[]) => process.stderr.write(lines.map((l) => `warning: ${l}\n`).join(''));

export function stackCommand(globals: Globals): Command {
  const cmd = new Command('stack').description('Manage stacks: applications deployed from Compose files');

  cmd
    .command('deploy')
    .description('Deploy a new stack or update an existing one')
    .argument('<stack>', 'stack name: its objects are named STACK_name')
    .requiredOption('-c, --compose-file <file>', 'Compose file (repeatable: later files are merged over earlier ones)', collect, [])
    .option('--prune', "remove the stack's services that are no longer in the file")
    .option('-d, --detach', 'exit once the stack is written instead of waiting for it to converge')
    .option('--timeout <duration>', 'give up waiting for convergence after this long', '5m')
    .action((stack: string, flags: { composeFile: string[]; prune?: boolean; detach?: boolean; timeout: string }) =>
      withControl(globals, async (ctl) => {
        const timeoutMs = parseDuration(flags.timeout, '--timeout');
        const { plan } = readStack(flags.composeFile, stack);
        warn(plan.warnings);
        const say = (line: string) => process.stdout.write(`${line}\n`);
        const result = await deployStack(ctl, plan, { prune: !!flags.prune, say });
        if (result.unchanged.length) say(`Unchanged: ${result.unchanged.join(', ')}`);
        if (!flags.detach) await waitForServices(ctl, plan.services.map((s) => s.name), process.stdout, timeoutMs);
      }),
    );

  cmd
    .command('config')
    .description('Print the Compose file(s) merged and interpolated, as orch reads them')
    .requiredOption('-c, --compose-file <file>', 'Compose file (repeatable)', collect, [])
    .option('--stack <name>', 'also check it as this stack (names, references, ports)', 'stack')
    .action((flags: { composeFile: string[]; stack: string }) => {
      try {
        const { loaded, plan } = readStack(flags.composeFile, flags.stack);
        warn(plan.warnings);
        process.stdout.write(stringify(loaded.model));
      } catch (err) {
        fail(err);
      }
    });

  cmd
    .command('ls')
    .description('List stacks')
    .addOption(formatOption())
    .action((flags: { format: string }) =>
      withControl(globals, async (ctl) => {
        const stacks = await listStacks(ctl);
        print(flags.format, stacks, () => table(['NAME', 'SERVICES'], stacks.map((s) => [s.name, String(s.services)])));
      }),
    );

  cmd
    .command('services')
    .description("List a stack's services")
    .argument('<stack>')
    .option('-q, --quiet', 'only the ids')
    .option('-f, --filter <key=value>', 'as service ls (repeatable)', collect, [])
    .addOption(formatOption())
    .action((stack: string, flags: ServiceListFlags) => withControl(globals, (ctl) => printServices(ctl, { ...flags, filter: [...flags.filter, `label=${STACK_LABEL}=${stack}`] })));

  taskListOptions(cmd.command('ps'))
    .description("List a stack's tasks")
    .argument('<stack>')
    .action((stack: string, flags: TaskListFlags) =>
      withControl(globals, async (ctl) => {
        const ids = new Set((await ctl.listServices({})).services.filter((s) => s.service!.spec!.labels[STACK_LABEL] === stack).map((s) => s.service!.id));
        const { tasks, host } = await listTasks(ctl, {}, { ...flags, quiet: false });
        const mine = tasks.filter((t) => ids.has(t.serviceId));
        if (flags.quiet) return void process.stdout.write(mine.map((t) => `${flags.trunc ? t.id.slice(0, 12) : t.id}\n`).join(''));
        print(flags.format, mine.map((t) => TaskMsg.toJSON(t)), () => table([...TASK_HEADERS], mine.map((t) => taskRow(t, host, flags.trunc))));
      }),
    );

  cmd
    .command('rm')
    .description('Remove stacks: their services, networks, secrets and configs')
    .argument('<stack...>')
    .action((stacks: string[]) =>
      withControl(globals, async (ctl) => {
        for (const s of stacks) await removeStack(ctl, s, (line) => process.stdout.write(`${line}\n`));
      }),
    );
  return cmd;
}

// `orch node …`: ls, ps, inspect, update, promote, demote, rm.
import { Command } from 'commander';
import { Node, NodeAvailability, Task, NodeState, nodeAvailabilityToJSON, nodeStateToJSON } from '../../proto/generated/orch.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { shortId } from '../../shared/ids.js';
import { table } from '../table.js';
import { listTasks, TASK_HEADERS, taskListOptions, taskRow, type TaskListFlags } from './task-list.js';
import { hasLabel, parseFilters, passes } from '../../shared/filters.js';
import { collect, formatOption, inspectCommand, keyValues, print, removeCommand, withControl, type Globals } from './common.js';
import { formatDuration } from '../../shared/duration.js';

const AVAILABILITY: Record<string, NodeAvailability> = { active: NodeAvailability.ACTIVE, pause: NodeAvailability.PAUSE, drain: NodeAvailability.DRAIN };

export function nodeCommand(globals: Globals): Command {
  const cmd = new Command('node').description('Manage nodes');
  cmd
    .command('ls')
    .description('List nodes')
    .option('-q, --quiet', 'only the ids')
    .option('-f, --filter <key=value>', 'only nodes of a role (role=manager|worker), with a label (label=k or label=k=v), whose hostname starts so (name=), id= (repeatable)', collect, [])
    .addOption(formatOption())
    .action((flags: { format: string; quiet?: boolean; filter: string[] }) =>
      withControl(globals, async (ctl) => {
        const filters = parseFilters(flags.filter, { role: ['manager', 'worker'], label: [], name: [], id: [] });
        const { nodes: all, storeAlarms, managerStatus } = await ctl.listNodes({});
        const nodes = all.filter(
          (n) =>
            passes(filters, 'role', (v) => v === n.role) &&
            passes(filters, 'label', (v) => hasLabel(n.labels, v)) &&
            passes(filters, 'name', (v) => (n.description?.hostname ?? '').startsWith(v)) &&
            passes(filters, 'id', (v) => n.id.startsWith(v)),
        );
        if (flags.quiet) return void process.stdout.write(nodes.map((n) => `${shortId(n.id)}\n`).join(''));
        if (storeAlarms.length) process.stderr.write(`WARNING: etcd has raised ${storeAlarms.join('; ')}: writes are refused; \`orch cluster maintain\` recovers\n`);
        print(flags.format, nodes.map((n) => ({ ...(Node.toJSON(n) as object), managerStatus: n.role === 'manager' ? managerStatus[n.id] : undefined })), () =>
          table(
            ['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ROLE', 'ENGINE VERSION', 'CERTIFICATE'],
            nodes.map((n) => [
              shortId(n.id),
              n.description?.hostname ?? '',
              nodeStatus(n, Date.now()),
              nodeAvailabilityToJSON(n.availability).toLowerCase().replace(/^./, (c) => c.toUpperCase()),
              n.role === 'manager' ? (managerStatus[n.id] ?? 'Unreachable') : '',
              n.role,
              n.description?.engineVersion ?? '',
              certExpiry(n.certExpiresAt, Date.now()),
            ]),
          ),
        );
      }),
    );
  taskListOptions(cmd.command('ps'))
    .description('List the tasks on a node (current and history)')
    .argument('<node>', 'node id, id prefix or hostname')
    .action((ref: string, flags: TaskListFlags) =>
      withControl(globals, async (ctl) => {
        const { tasks, host } = await listTasks(ctl, { node: ref }, flags);
        if (flags.quiet) return;
        print(flags.format, tasks.map((t) => Task.toJSON(t)), () => table(TASK_HEADERS, tasks.map((t) => taskRow(t, host, flags.trunc))));
      }),
    );
  cmd
    .command('update')
    .description("Update a node's availability and labels")
    .argument('<node>', 'node id, id prefix or hostname')
    .option('--availability <availability>', 'active, pause (place nothing new) or drain (move its tasks away)')
    .option('--label-add <k=v>', 'add or change a node label (repeatable)', collect, [])
    .option('--label-rm <k>', 'remove a node label (repeatable)', collect, [])
    .action((ref: string, f: { availability?: string; labelAdd: string[]; labelRm: string[] }) =>
      withControl(globals, async (ctl) => {
        let availability: NodeAvailability | undefined;
        if (f.availability !== undefined) {
          availability = AVAILABILITY[f.availability];
          if (availability === undefined) throw new InvalidArgumentError(`--availability: "${f.availability}" is not one of active, pause, drain`);
        }
        if (availability === undefined && f.labelAdd.length === 0 && f.labelRm.length === 0) {
          throw new InvalidArgumentError('nothing to update: give --availability, --label-add or --label-rm');
        }
        await ctl.updateNode({ ref, availability, labelAdd: keyValues(f.labelAdd, '--label-add'), labelRm: f.labelRm });
        process.stdout.write(`${ref}\n`);
      }),
    );
  for (const [verb, role, what] of [
    ['promote', 'manager', 'Make nodes managers: each gets a manager certificate and the cluster key (then run `orch manager` there)'],
    ['demote', 'worker', 'Make managers workers: a manager running there stops, and the node gets a worker certificate'],
  ] as const) {
    cmd
      .command(verb)
      .description(what)
      .argument('<node...>', 'node ids, id prefixes or hostnames')
      .action((refs: string[]) =>
        withControl(globals, async (ctl) => {
          for (const ref of refs) {
            await ctl.updateNode({ ref, labelAdd: {}, labelRm: [], role });
            process.stdout.write(`${ref}: ${role} (its agent gets the new certificate on its next session message)\n`);
          }
        }),
      );
  }
  removeCommand<{ force?: boolean }>(
    cmd,
    globals,
    'Remove one or more nodes from the cluster (a node that is up needs --force)',
    (ctl, ref, f) => ctl.removeNode({ ref, force: f.force ?? false }),
    (c) => c.option('-f, --force', 'remove a node even if it is up'),
  );
  inspectCommand(cmd, globals, 'nodes', 'node ids, id prefixes or hostnames', (ctl, ref) => ctl.getNode({ ref }), Node.toJSON);
  return cmd;
}

/** Ready or Down; a node that is down because its certificate ran out says so. */
function nodeStatus(n: Node, now: number): string {
  const state = nodeStateToJSON(n.state).replace('NODE_', '').toLowerCase().replace(/^./, (c) => c.toUpperCase());
  return n.state !== NodeState.NODE_READY && n.certExpiresAt && n.certExpiresAt.getTime() <= now ? `${state} (certificate expired: join again)` : state;
}

/** When the node's certificate ends, from now: "expires in 89d23h", "expired 2m ago". */
function certExpiry(at: Date | undefined, now: number): string {
  if (!at) return '';
  const ms = at.getTime() - now;
  const span = (d: number) => (d >= 86_400_000 ? `${Math.floor(d / 86_400_000)}d${Math.floor((d % 86_400_000) / 3_600_000)}h` : formatDuration(Math.round(d / 1000) * 1000));
  return ms > 0 ? `expires in ${span(ms)}` : `expired ${span(-ms)} ago`;
}

// `orch service …`: create, ls, ps, inspect, scale, update, rollback, history, rm.
import { Command } from 'commander';
import { ServiceRevision, ServiceSpec_Mode, UpdateStatus_State } from '../../proto/generated/orch.js';
import { Service, Task as TaskMsg } from '../../proto/generated/orch.js';
import type { Control } from '../../client/control.js';
import { parseDuration } from '../../shared/duration.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { shortId } from '../../shared/ids.js';
import { parseReplicas } from '../../shared/spec.js';
import { rollingOut } from '../../shared/states.js';
import { updateState, waitForRollout, waitForService } from '../progress.js';
import { CREATE_DEFAULTS, serviceCreateCommand, serviceUpdateCommand, specFromFlags, updatedSpec, type CreateFlags, type UpdateFlags } from '../spec-flags.js';
import { ago, table } from '../table.js';
import { listTasks, TASK_HEADERS, taskListOptions, taskRow, type TaskListFlags } from './task-list.js';
import { hasLabel, parseFilters, passes } from '../../shared/filters.js';
import { logsCommand } from './logs.js';
import { collect, formatOption, inspectCommand, print, removeCommand, withControl, type Globals } from './common.js';

/** `service ls`'s flags (`stack services` takes the same). */
export interface ServiceListFlags {
  format: string;
  quiet?: boolean;
  filter: string[];
}

/** Prints the services that pass the filters: a table, ids only (-q), or JSON. */
export async function printServices(ctl: Control, flags: ServiceListFlags): Promise<void> {
  const filters = parseFilters(flags.filter, { name: [], id: [], label: [], mode: ['replicated', 'global'] });
  const services = (await ctl.listServices({})).services.filter(({ service: s }) => {
    const mode = s!.spec!.mode === ServiceSpec_Mode.GLOBAL ? 'global' : 'replicated';
    return passes(filters, 'name', (v) => s!.spec!.name.startsWith(v)) && passes(filters, 'id', (v) => s!.id.startsWith(v)) && passes(filters, 'label', (v) => hasLabel(s!.spec!.labels, v)) && passes(filters, 'mode', (v) => v === mode);
  });
  if (flags.quiet) return void process.stdout.write(services.map((s) => `${shortId(s.service!.id)}\n`).join(''));
  print(flags.format, services.map((s) => ({ ...(Service.toJSON(s.service!) as object), running: s.running, desired: s.desired })), () =>
    table(
      ['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'UPDATE'],
      services.map((s) => [
        shortId(s.service!.id),
        s.service!.spec!.name,
        s.service!.spec!.mode === ServiceSpec_Mode.GLOBAL ? 'global' : 'replicated',
        `${s.running}/${s.desired}`,
        s.service!.spec!.container!.image,
        updateState(s.service!.updateStatus),
      ]),
    ),
  );
}

export function serviceCommand(globals: Globals): Command {
  const cmd = new Command('service').description('Manage services').enablePositionalOptions();

  cmd.addCommand(serviceCreateCommand().copyInheritedSettings(cmd).action((image: string, command: string[], flags: CreateFlags) =>
    withControl(globals, async (ctl) => {
      const spec = specFromFlags(image, command, flags);
      const timeoutMs = parseDuration(flags.timeout, '--timeout');
      const service = await ctl.createService(spec);
      process.stdout.write(`${service.id}\n`);
      if (!flags.detach) await waitForService(ctl, service.spec!.name, process.stdout, timeoutMs);
    }),
  ));

  cmd
    .command('ls')
    .description('List services')
    .option('-q, --quiet', 'only the ids')
    .option('-f, --filter <key=value>', 'only services whose name starts so (name=), with a label (label=k or label=k=v), of a mode (mode=replicated|global), id= (repeatable)', collect, [])
    .addOption(formatOption())
    .action((flags: ServiceListFlags) => withControl(globals, (ctl) => printServices(ctl, flags)));

  taskListOptions(cmd.command('ps'))
    .description("List a service's tasks (current and history)")
    .argument('<service>', 'service name or id')
    .action((ref: string, flags: TaskListFlags) =>
      withControl(globals, async (ctl) => {
        const service = await ctl.getService({ ref });
        const { tasks, host } = await listTasks(ctl, { service: service.id }, flags);
        if (flags.quiet) return;
        const { networks } = tasks.some((t) => t.networks.length) ? await ctl.listNetworks({}) : { networks: [] };
        const netName = new Map(networks.map((n) => [n.id, n.spec!.name]));
        const headers = [...TASK_HEADERS];
        if (netName.size) headers.push('ADDRESSES');
        const st = service.updateStatus?.state;
        const update = st === UpdateStatus_State.COMPLETED || st === UpdateStatus_State.ROLLBACK_COMPLETED ? '' : updateState(service.updateStatus);
        print(flags.format, tasks.map((t) => TaskMsg.toJSON(t)), () =>
          (update ? `update: ${update}${service.updateStatus!.message ? ` (${service.updateStatus!.message})` : ''}\n` : '') +
          table(headers, tasks.map((t) => [...taskRow(t, host, flags.trunc), ...(netName.size ? [t.networks.map((a) => `${netName.get(a.networkId) ?? shortId(a.networkId)}=${a.addr || '-'}`).join(' ')] : [])])),
        );
      }),
    );

  logsCommand(cmd, globals);

  inspectCommand(cmd, globals, 'services', 'service names or ids', (ctl, ref) => ctl.getService({ ref }), Service.toJSON);

  cmd
    .command('scale')
    .description('Scale one or more services: orch service scale web=5 [api=2 …]')
    .argument('<service=replicas...>')
    .option('-d, --detach', 'exit at once instead of waiting for convergence')
    .option('--timeout <duration>', 'give up waiting for convergence after this long', '2m')
    .action((pairs: string[], flags: { detach?: boolean; timeout: string }) =>
      withControl(globals, async (ctl) => {
        const timeoutMs = parseDuration(flags.timeout, '--timeout');
        const wanted = pairs.map(parseScale);
        for (const [ref, replicas] of wanted) {
          await ctl.scaleService({ ref, replicas });
          process.stdout.write(`${ref} scaled to ${replicas}\n`);
        }
        if (!flags.detach) for (const [ref] of wanted) await waitForService(ctl, ref, process.stdout, timeoutMs);
      }),
    );

  cmd.addCommand(serviceUpdateCommand().copyInheritedSettings(cmd).action((ref: string, flags: UpdateFlags) =>
    withControl(globals, async (ctl) => {
      const timeoutMs = parseDuration(flags.timeout, '--timeout');
      if (flags.rollback) return rollback(ctl, ref, 0n, flags.detach ?? false, timeoutMs);
      const cur = await ctl.getService({ ref });
      // Networks are kept by id: a name given to --network-rm is looked up.
      const networkRm = await Promise.all(flags.networkRm.map(async (n) => (await ctl.getNetwork({ ref: n }).catch(() => undefined))?.network?.id ?? n));
      const spec = updatedSpec(cur.spec!, { ...flags, networkRm });
      const next = await ctl.updateService({ ref: cur.id, version: cur.version, spec, rebalance: flags.rebalance ?? false });
      process.stdout.write(`${cur.spec!.name}\n`);
      if (flags.detach) return;
      if (next.version !== cur.version && rollingOut(next.updateStatus)) await waitForRollout(ctl, next, process.stdout, timeoutMs);
      else await waitForService(ctl, next.id, process.stdout, timeoutMs);
    }),
  ));

  cmd
    .command('rollback')
    .description('Roll a service back to its previous spec, or to a kept version')
    .argument('<service>', 'service name or id')
    .option('--to-version <n>', 'the version to go back to (`orch service history` lists them)')
    .option('-d, --detach', 'exit at once instead of waiting for the rollback to converge')
    .option('--timeout <duration>', 'give up waiting after this long', CREATE_DEFAULTS.timeout)
    .action((ref: string, flags: { toVersion?: string; detach?: boolean; timeout: string }) =>
      withControl(globals, async (ctl) => {
        const timeoutMs = parseDuration(flags.timeout, '--timeout');
        if (flags.toVersion !== undefined && !/^[1-9]\d*$/.test(flags.toVersion)) throw new InvalidArgumentError(`--to-version: "${flags.toVersion}" is not a version (1, 2, …)`);
        await rollback(ctl, ref, BigInt(flags.toVersion ?? 0), flags.detach ?? false, timeoutMs);
      }),
    );

  cmd
    .command('history')
    .description("List a service's kept versions, newest first")
    .argument('<service>', 'service name or id')
    .addOption(formatOption())
    .action((ref: string, flags: { format: string }) =>
      withControl(globals, async (ctl) => {
        const cur = await ctl.getService({ ref });
        const { revisions } = await ctl.serviceHistory({ ref: cur.id });
        print(flags.format, revisions.map((r) => ServiceRevision.toJSON(r)), () =>
          table(
            ['VERSION', 'CREATED', 'IMAGE', 'REPLICAS', ''],
            revisions.map((r) => [String(r.version), ago(r.createdAt), r.spec?.container?.image ?? '', String(r.spec?.replicas ?? ''), r.version === cur.version ? 'current' : '']),
          ),
        );
      }),
    );

  removeCommand(cmd, globals, 'Remove one or more services', (ctl, ref) => ctl.removeService({ ref }));

  return cmd;
}

/** Asks for a rollback and, unless detached, follows it. */
async function rollback(ctl: Control, ref: string, toVersion: bigint, detach: boolean, timeoutMs: number): Promise<void> {
  const cur = await ctl.getService({ ref });
  const next = await ctl.rollbackService({ ref: cur.id, version: cur.version, toVersion });
  process.stdout.write(`${cur.spec!.name}\n`);
  if (!detach) await waitForRollout(ctl, next, process.stdout, timeoutMs);
}

function parseScale(pair: string): [string, number] {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`"${pair}" is not SERVICE=REPLICAS (e.g. web=5)`);
  return [pair.slice(0, eq), parseReplicas(pair.slice(eq + 1), `scale ${pair.slice(0, eq)}`)];
}



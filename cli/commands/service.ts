// `orch service …`: create, ls, ps, inspect, scale, rm.
import { Command, Option } from 'commander';
import { RestartPolicy_Condition, type ServiceSpec, type Task } from '../../proto/generated/orch.js';
import { Service, Task as TaskMsg } from '../../proto/generated/orch.js';
import { parseDuration } from '../../shared/duration.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { shortId } from '../../shared/ids.js';
import { parseReplicas, validateServiceSpec } from '../../shared/spec.js';
import { stateName } from '../../shared/states.js';
import { waitForService } from '../progress.js';
import { ago, table } from '../table.js';
import { collect, formatOption, inspectCommand, print, withControl, type Globals } from './common.js';

const CONDITIONS: Record<string, RestartPolicy_Condition> = {
  any: RestartPolicy_Condition.RESTART_ANY,
  'on-failure': RestartPolicy_Condition.RESTART_ON_FAILURE,
  none: RestartPolicy_Condition.RESTART_NONE,
};

interface CreateFlags {
  name?: string;
  replicas: string;
  env: string[];
  label: string[];
  containerLabel: string[];
  restartCondition: string;
  restartDelay: string;
  restartMaxAttempts: string;
  restartWindow: string;
  stopGracePeriod: string;
  detach?: boolean;
  timeout: string;
}

/** Turns the flags of `service create` into a spec; throws on the first bad value. */
export function specFromFlags(image: string, command: string[], f: CreateFlags): ServiceSpec {
  const condition = CONDITIONS[f.restartCondition];
  if (condition === undefined) throw new InvalidArgumentError(`--restart-condition: "${f.restartCondition}" is not one of any, on-failure, none`);
  const maxAttempts = parseReplicas(f.restartMaxAttempts, '--restart-max-attempts');
  const spec: ServiceSpec = {
    name: f.name ?? '',
    labels: keyValues(f.label, '--label'),
    replicas: parseReplicas(f.replicas, '--replicas'),
    container: {
      image,
      command,
      env: f.env,
      labels: keyValues(f.containerLabel, '--container-label'),
      stopGracePeriodMs: parseDuration(f.stopGracePeriod, '--stop-grace-period'),
    },
    restart: {
      condition,
      delayMs: parseDuration(f.restartDelay, '--restart-delay'),
      maxAttempts,
      windowMs: f.restartWindow === '0s' ? 0 : parseDuration(f.restartWindow, '--restart-window'),
    },
  };
  validateServiceSpec(spec);
  return spec;
}

function keyValues(items: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (!key) throw new InvalidArgumentError(`${flag} "${item}": expected KEY=VALUE`);
    out[key] = eq < 0 ? '' : item.slice(eq + 1);
  }
  return out;
}

export function serviceCommand(globals: Globals): Command {
  const cmd = new Command('service').description('Manage services').enablePositionalOptions();

  cmd
    .command('create')
    .description('Create a new service')
    .argument('<image>', 'image to run')
    .argument('[command...]', 'command and arguments (replace the image CMD)')
    .passThroughOptions()
    .option('--name <name>', 'service name')
    .option('--replicas <n>', 'number of tasks', '1')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('-l, --label <k=v>', 'service label (repeatable)', collect, [])
    .option('--container-label <k=v>', 'container label (repeatable)', collect, [])
    .addOption(new Option('--restart-condition <cond>', 'restart when: any, on-failure, none').default('any'))
    .option('--restart-delay <duration>', 'delay between restart attempts', '5s')
    .option('--restart-max-attempts <n>', 'give up after this many restarts (0: never)', '0')
    .option('--restart-window <duration>', 'window in which restarts are counted (0s: forever)', '0s')
    .option('--stop-grace-period <duration>', 'time to wait before killing a container', '10s')
    .option('-d, --detach', 'exit at once instead of waiting for the service to converge')
    .option('--timeout <duration>', 'give up waiting for convergence after this long', '2m')
    .action((image: string, command: string[], flags: CreateFlags) =>
      withControl(globals, async (ctl) => {
        const spec = specFromFlags(image, command, flags);
        const timeoutMs = parseDuration(flags.timeout, '--timeout');
        const service = await ctl.createService(spec);
        process.stdout.write(`${service.id}\n`);
        if (!flags.detach) await waitForService(ctl, service.id, process.stdout, timeoutMs);
      }),
    );

  cmd
    .command('ls')
    .description('List services')
    .addOption(formatOption())
    .action((flags: { format: string }) =>
      withControl(globals, async (ctl) => {
        const { services } = await ctl.listServices({});
        print(flags.format, services.map((s) => ({ ...Service.toJSON(s.service!) as object, running: s.running, desired: s.desired })), () =>
          table(
            ['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE'],
            services.map((s) => [shortId(s.service!.id), s.service!.spec!.name, 'replicated', `${s.running}/${s.desired}`, s.service!.spec!.container!.image]),
          ),
        );
      }),
    );

  cmd
    .command('ps')
    .description("List a service's tasks (current and history)")
    .argument('<service>', 'service name or id')
    .addOption(formatOption())
    .action((ref: string, flags: { format: string }) =>
      withControl(globals, async (ctl) => {
        const { tasks } = await ctl.listTasks({ service: ref });
        const { nodes } = await ctl.listNodes({});
        const host = new Map(nodes.map((n) => [n.id, n.description?.hostname ?? shortId(n.id)]));
        print(flags.format, tasks.map((t) => TaskMsg.toJSON(t)), () => table(['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'], tasks.map((t) => psRow(t, host))));
      }),
    );

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

  cmd
    .command('rm')
    .alias('remove')
    .description('Remove one or more services')
    .argument('<service...>')
    .action((refs: string[]) =>
      withControl(globals, async (ctl) => {
        for (const ref of refs) {
          await ctl.removeService({ ref });
          process.stdout.write(`${ref}\n`);
        }
      }),
    );

  return cmd;
}

function parseScale(pair: string): [string, number] {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`"${pair}" is not SERVICE=REPLICAS (e.g. web=5)`);
  return [pair.slice(0, eq), parseReplicas(pair.slice(eq + 1), `scale ${pair.slice(0, eq)}`)];
}

function psRow(t: Task, host: Map<string, string>): string[] {
  const state = stateName(t.status!.state);
  const health = t.status?.health ? ` (${t.status.health})` : '';
  return [
    shortId(t.id),
    `${t.serviceName}.${t.slot}`,
    t.spec?.image ?? '',
    t.nodeId ? (host.get(t.nodeId) ?? shortId(t.nodeId)) : '',
    stateName(t.desiredState).replace(/^./, (c) => c.toUpperCase()),
    `${state[0]!.toUpperCase()}${state.slice(1)}${health} ${ago(t.status?.timestamp)}`,
    t.status?.err ?? '',
  ];
}


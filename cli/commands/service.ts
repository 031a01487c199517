// `orch service …`: create, ls, ps, inspect, scale, rm.
import { Command, Option } from 'commander';
import { EndpointSpec_Mode, RestartPolicy_Condition, ServiceSpec_Mode, type HealthConfig, type ServiceSpec, type Task } from '../../proto/generated/orch.js';
import { Service, Task as TaskMsg } from '../../proto/generated/orch.js';
import { parseDuration } from '../../shared/duration.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { shortId } from '../../shared/ids.js';
import { parseReplicas, validateServiceSpec } from '../../shared/spec.js';
import { parseBytes, parseCpus } from '../../shared/units.js';
import { parsePublish } from '../../shared/ports.js';
import { stateName } from '../../shared/states.js';
import { waitForService } from '../progress.js';
import { ago, table } from '../table.js';
import { collect, formatOption, inspectCommand, keyValues, print, removeCommand, withControl, type Globals } from './common.js';

const CONDITIONS: Record<string, RestartPolicy_Condition> = {
  any: RestartPolicy_Condition.RESTART_ANY,
  'on-failure': RestartPolicy_Condition.RESTART_ON_FAILURE,
  none: RestartPolicy_Condition.RESTART_NONE,
};

const MODES: Record<string, ServiceSpec_Mode> = { replicated: ServiceSpec_Mode.REPLICATED, global: ServiceSpec_Mode.GLOBAL };
const ENDPOINT_MODES: Record<string, EndpointSpec_Mode> = { vip: EndpointSpec_Mode.VIP, dnsrr: EndpointSpec_Mode.DNSRR };

export interface CreateFlags {
  name?: string;
  mode: string;
  replicas?: string;
  constraint: string[];
  reserveCpu?: string;
  reserveMemory?: string;
  limitCpu?: string;
  limitMemory?: string;
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthRetries?: string;
  healthStartPeriod?: string;
  healthcheck: boolean; // false with --no-healthcheck
  autoRebalance?: boolean;
  network: string[];
  publish: string[];
  endpointMode: string;
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

/** The flags of `service create` as commander fills them when none is given. */
export const CREATE_DEFAULTS: CreateFlags = {
  mode: 'replicated', constraint: [], network: [], publish: [], endpointMode: 'vip', env: [], label: [], containerLabel: [], restartCondition: 'any', restartDelay: '5s',
  restartMaxAttempts: '0', restartWindow: '0s', stopGracePeriod: '10s', timeout: '2m', healthcheck: true,
};

/** Turns the flags of `service create` into a spec; throws on the first bad value. */
export function specFromFlags(image: string, command: string[], f: CreateFlags): ServiceSpec {
  const condition = CONDITIONS[f.restartCondition];
  if (condition === undefined) throw new InvalidArgumentError(`--restart-condition: "${f.restartCondition}" is not one of any, on-failure, none`);
  const mode = MODES[f.mode];
  if (mode === undefined) throw new InvalidArgumentError(`--mode: "${f.mode}" is not one of replicated, global`);
  if (mode === ServiceSpec_Mode.GLOBAL && f.replicas !== undefined) throw new InvalidArgumentError('--replicas can only be used with replicated mode');
  const endpointMode = ENDPOINT_MODES[f.endpointMode];
  if (endpointMode === undefined) throw new InvalidArgumentError(`--endpoint-mode: "${f.endpointMode}" is not vip or dnsrr`);
  const maxAttempts = parseReplicas(f.restartMaxAttempts, '--restart-max-attempts');
  const spec: ServiceSpec = {
    name: f.name ?? '',
    labels: keyValues(f.label, '--label'),
    mode,
    replicas: mode === ServiceSpec_Mode.GLOBAL ? 0 : parseReplicas(f.replicas ?? '1', '--replicas'),
    placement: { constraints: f.constraint },
    autoRebalance: f.autoRebalance ?? false,
    networks: f.network,
    endpoint: { mode: endpointMode, ports: f.publish.flatMap(parsePublish) },
    container: {
      image,
      command,
      env: f.env,
      labels: keyValues(f.containerLabel, '--container-label'),
      stopGracePeriodMs: parseDuration(f.stopGracePeriod, '--stop-grace-period'),
      resources: {
        limits: {
          nanoCpus: f.limitCpu ? parseCpus(f.limitCpu, '--limit-cpu') : 0n,
          memoryBytes: f.limitMemory ? parseBytes(f.limitMemory, '--limit-memory') : 0n,
        },
        reservations: {
          nanoCpus: f.reserveCpu ? parseCpus(f.reserveCpu, '--reserve-cpu') : 0n,
          memoryBytes: f.reserveMemory ? parseBytes(f.reserveMemory, '--reserve-memory') : 0n,
        },
      },
      healthcheck: healthFromFlags(f),
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

/** `--health-*` and `--no-healthcheck`; undefined keeps the image's own healthcheck. */
function healthFromFlags(f: CreateFlags): HealthConfig | undefined {
  const tuned = f.healthInterval ?? f.healthTimeout ?? f.healthRetries ?? f.healthStartPeriod;
  if (!f.healthcheck) {
    if (f.healthCmd || tuned) throw new InvalidArgumentError('--no-healthcheck conflicts with --health-* options');
    return { test: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 };
  }
  if (!f.healthCmd) {
    if (tuned) throw new InvalidArgumentError('--health-interval/-timeout/-retries/-start-period need --health-cmd');
    return undefined;
  }
  return {
    test: ['CMD-SHELL', f.healthCmd],
    intervalMs: f.healthInterval ? parseDuration(f.healthInterval, '--health-interval') : 0,
    timeoutMs: f.healthTimeout ? parseDuration(f.healthTimeout, '--health-timeout') : 0,
    retries: f.healthRetries ? parseReplicas(f.healthRetries, '--health-retries') : 0,
    startPeriodMs: f.healthStartPeriod ? parseDuration(f.healthStartPeriod, '--health-start-period') : 0,
  };
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
    .option('--mode <mode>', 'replicated or global (one task on every eligible node)', 'replicated')
    .option('--replicas <n>', 'number of tasks (default 1)')
    .option('--constraint <expr>', 'placement constraint, e.g. node.labels.zone==a (repeatable)', collect, [])
    .option('--reserve-cpu <cpus>', 'CPUs reserved on the node for each task')
    .option('--reserve-memory <size>', 'memory reserved on the node for each task (e.g. 512m)')
    .option('--limit-cpu <cpus>', 'CPU limit of each container')
    .option('--limit-memory <size>', 'memory limit of each container')
    .option('--health-cmd <cmd>', 'command run to check health')
    .option('--health-interval <duration>', 'time between health checks')
    .option('--health-timeout <duration>', 'longest a health check may run')
    .option('--health-retries <n>', 'failures in a row before unhealthy')
    .option('--health-start-period <duration>', 'time to start before failures count')
    .option('--no-healthcheck', "disable the image's healthcheck")
    .option('--auto-rebalance', 'even the spread by itself when nodes join or return')
    .option('--network <network>', 'overlay network to join (repeatable)', collect, [])
    .option('-p, --publish <port>', 'publish a port: 8080:80[/udp], a range 7000-7002:7-9, or published=8080,target=80[,protocol=udp][,mode=host][,traffic=local] (repeatable)', collect, [])
    .option('--endpoint-mode <mode>', 'vip (one virtual IP, load-balanced) or dnsrr (DNS answers with task addresses)', 'vip')
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
        if (!flags.detach) await waitForService(ctl, service.spec!.name, process.stdout, timeoutMs);
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
            services.map((s) => [
              shortId(s.service!.id),
              s.service!.spec!.name,
              s.service!.spec!.mode === ServiceSpec_Mode.GLOBAL ? 'global' : 'replicated',
              `${s.running}/${s.desired}`,
              s.service!.spec!.container!.image,
            ]),
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
        const { networks } = tasks.some((t) => t.networks.length) ? await ctl.listNetworks({}) : { networks: [] };
        const netName = new Map(networks.map((n) => [n.id, n.spec!.name]));
        const headers = ['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'];
        if (netName.size) headers.push('ADDRESSES');
        print(flags.format, tasks.map((t) => TaskMsg.toJSON(t)), () =>
          table(headers, tasks.map((t) => [...psRow(t, host), ...(netName.size ? [t.networks.map((a) => `${netName.get(a.networkId) ?? shortId(a.networkId)}=${a.addr || '-'}`).join(' ')] : [])])),
        );
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
    .command('update')
    .description('Update a service: replicas and rebalancing')
    .argument('<service>', 'service name or id')
    .option('--replicas <n>', 'number of tasks')
    .option('--rebalance', 'even the spread over the eligible nodes now, never dropping below the desired count')
    .option('--auto-rebalance <bool>', 'even the spread by itself when nodes join or return (true|false)')
    .option('-d, --detach', 'exit at once instead of waiting for convergence')
    .option('--timeout <duration>', 'give up waiting for convergence after this long', '2m')
    .action((ref: string, flags: { replicas?: string; rebalance?: boolean; autoRebalance?: string; detach?: boolean; timeout: string }) =>
      withControl(globals, async (ctl) => {
        const timeoutMs = parseDuration(flags.timeout, '--timeout');
        if (flags.autoRebalance !== undefined && !['true', 'false'].includes(flags.autoRebalance)) {
          throw new InvalidArgumentError(`--auto-rebalance: "${flags.autoRebalance}" is not true or false`);
        }
        const replicas = flags.replicas === undefined ? undefined : parseReplicas(flags.replicas, '--replicas');
        const autoRebalance = flags.autoRebalance === undefined ? undefined : flags.autoRebalance === 'true';
        if (replicas === undefined && autoRebalance === undefined && !flags.rebalance) {
          throw new InvalidArgumentError('nothing to update: give --replicas, --rebalance or --auto-rebalance');
        }
        await ctl.updateService({ ref, replicas, rebalance: flags.rebalance ?? false, autoRebalance });
        process.stdout.write(`${ref}\n`);
        if (!flags.detach) await waitForService(ctl, ref, process.stdout, timeoutMs);
      }),
    );

  removeCommand(cmd, globals, 'Remove one or more services', (ctl, ref) => ctl.removeService({ ref }));

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
    t.targetNode ? `${t.serviceName}.${shortId(t.targetNode)}` : `${t.serviceName}.${t.slot}`,
    t.spec?.image ?? '',
    t.nodeId ? (host.get(t.nodeId) ?? shortId(t.nodeId)) : '',
    stateName(t.desiredState).replace(/^./, (c) => c.toUpperCase()),
    `${state[0]!.toUpperCase()}${state.slice(1)}${health} ${ago(t.status?.timestamp)}`,
    t.status?.err ?? '',
  ];
}


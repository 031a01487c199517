// Docker's `service create` and `service update` flags, and the specs they
// make: create builds a whole spec (defaults filled as Docker does); update
// changes a spec it read, one given flag at a time, so every field create
// takes can be changed and nothing not named is touched.
import { Command, Option } from 'commander';
import {
  ContainerSpec,
  EndpointSpec_Mode,
  RestartPolicy_Condition,
  ServiceSpec_Mode,
  UpdateConfig_FailureAction,
  type HealthConfig,
  type PortConfig,
  type ServiceSpec,
  type UpdateConfig,
} from '../proto/generated/orch.js';
import { parseDuration } from '../shared/duration.js';
import { InvalidArgumentError } from '../shared/errors.js';
import { parsePublish, portName } from '../shared/ports.js';
import { DEFAULT_UPDATE, parseReplicas, validateServiceSpec } from '../shared/spec.js';
import { parseBytes, parseCpus } from '../shared/units.js';
import { collect, keyValues } from './commands/common.js';
import { applyContainerCreate, applyContainerUpdate, CONTAINER_CREATE_DEFAULTS, containerCreateOptions, containerUpdateOptions, type ContainerCreateFlags, type ContainerUpdateFlags } from './container-flags.js';
import { edit } from './flag-values.js';
import { CONDITIONS, ENDPOINT_MODES, FAILURE_ACTIONS, MODES, ORDERS, pick, shellWords } from '../shared/words.js';

/** The flags both commands take (update's are all optional: absent means unchanged). */
export interface CommonFlags {
  replicas?: string;
  replicasMaxPerNode?: string;
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
  endpointMode?: string;
  restartCondition?: string;
  restartDelay?: string;
  restartMaxAttempts?: string;
  restartWindow?: string;
  stopGracePeriod?: string;
  detach?: boolean;
  timeout: string;
}

type RolloutKnob = 'Parallelism' | 'Delay' | 'FailureAction' | 'Monitor' | 'MaxFailureRatio' | 'Order' | 'ProgressDeadline';
/** --update-* and --rollback-*, as commander names them. */
type RolloutFlags = { [K in `${'update' | 'rollback'}${RolloutKnob}`]?: string };

export interface CreateFlags extends CommonFlags, RolloutFlags, ContainerCreateFlags {
  name?: string;
  mode: string;
  constraint: string[];
  autoRebalance?: boolean;
  network: string[];
  publish: string[];
  env: string[];
  label: string[];
  containerLabel: string[];
}

export interface UpdateFlags extends CommonFlags, RolloutFlags, ContainerUpdateFlags {
  image?: string;
  args?: string;
  envAdd: string[];
  envRm: string[];
  labelAdd: string[];
  labelRm: string[];
  containerLabelAdd: string[];
  containerLabelRm: string[];
  publishAdd: string[];
  publishRm: string[];
  networkAdd: string[];
  networkRm: string[];
  constraintAdd: string[];
  constraintRm: string[];
  autoRebalance?: string;
  rebalance?: boolean;
  force?: boolean;
  rollback?: boolean;
}

/** The flags of `service create` as commander fills them when none is given. */
export const CREATE_DEFAULTS: CreateFlags = {
  ...CONTAINER_CREATE_DEFAULTS,
  mode: 'replicated', constraint: [], network: [], publish: [], endpointMode: 'vip', env: [], label: [], containerLabel: [], restartCondition: 'any', restartDelay: '5s',
  restartMaxAttempts: '0', restartWindow: '0s', stopGracePeriod: '10s', timeout: '5m', healthcheck: true,
};

/** Adds the flags create and update share; `defaults` are create's (update has none: absent is unchanged). */
function commonOptions(cmd: Command, defaults: boolean): Command {
  const d = (key: keyof CreateFlags) => (defaults ? (CREATE_DEFAULTS[key] as string) : undefined);
  cmd
    .option('--replicas <n>', 'number of tasks' + (defaults ? ' (default 1)' : ''))
    .option('--replicas-max-per-node <n>', 'most tasks of the service on one node (0: no limit)')
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
    .option('--endpoint-mode <mode>', 'vip (one virtual IP, load-balanced) or dnsrr (DNS answers with task addresses)', d('endpointMode'))
    .addOption(new Option('--restart-condition <cond>', 'restart when: any, on-failure, none').default(d('restartCondition')))
    .option('--restart-delay <duration>', 'delay between restart attempts', d('restartDelay'))
    .option('--restart-max-attempts <n>', 'give up after this many restarts (0: never)', d('restartMaxAttempts'))
    .option('--restart-window <duration>', 'window in which restarts are counted (0s: forever)', d('restartWindow'))
    .option('--stop-grace-period <duration>', 'time to wait before killing a container', d('stopGracePeriod'));
  for (const [what, prefix] of [['update', '--update'], ['rollback', '--rollback']] as const) {
    const actions = what === 'update' ? 'pause, continue or rollback' : 'pause or continue';
    cmd
      .option(`${prefix}-parallelism <n>`, `slots ${what}d at once (0: all at once; default 1)`)
      .option(`${prefix}-delay <duration>`, `delay between ${what}s of one worker (default 0s)`)
      .option(`${prefix}-failure-action <action>`, `on failure: ${actions} (default pause)`)
      .option(`${prefix}-monitor <duration>`, 'watch each new task this long for a failure (default 5s)')
      .option(`${prefix}-max-failure-ratio <ratio>`, 'failures tolerated, from 0 to 1 (default 0)')
      .option(`${prefix}-order <order>`, 'stop-first or start-first (default stop-first)')
      .option(`${prefix}-progress-deadline <duration>`, `fail the ${what} if no slot is done for this long (0s: never; default 10m)`);
  }
  return cmd
    .option('-d, --detach', 'exit at once instead of waiting for the service to converge')
    .option('--timeout <duration>', 'give up waiting for convergence after this long', CREATE_DEFAULTS.timeout);
}

/** `service create` with its arguments and every flag; the caller gives the action (image, command, CreateFlags). */
export function serviceCreateCommand(): Command {
  const create = new Command('create')
    .description('Create a new service')
    .argument('<image>', 'image to run')
    .argument('[command...]', 'command and arguments (replace the image CMD)')
    .passThroughOptions()
    .option('--name <name>', 'service name')
    .option('--mode <mode>', 'replicated or global (one task on every eligible node)', CREATE_DEFAULTS.mode)
    .option('--constraint <expr>', 'placement constraint, e.g. node.labels.zone==a (repeatable)', collect, [])
    .option('--auto-rebalance', 'even the spread by itself when nodes join or return')
    .option('--network <network>', 'overlay network to join (repeatable)', collect, [])
    .option('-p, --publish <port>', 'publish a port: 8080:80[/udp], a range 7000-7002:7-9, or published=8080,target=80[,protocol=udp][,mode=host][,traffic=local] (repeatable)', collect, [])
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('-l, --label <k=v>', 'service label (repeatable)', collect, [])
    .option('--container-label <k=v>', 'container label (repeatable)', collect, []);
  return commonOptions(containerCreateOptions(create), true);
}

/** `service update` with its argument and every flag; the caller gives the action (service, UpdateFlags). */
export function serviceUpdateCommand(): Command {
  const update = new Command('update').description('Update a service: any field of its spec, rolled out under its update config').argument('<service>', 'service name or id');
  return commonOptions(updateOptions(update), false);
}

/** Adds update's own flags. */
function updateOptions(cmd: Command): Command {
  return containerUpdateOptions(cmd)
    .option('--image <image>', 'image to run')
    .option('--args <command>', 'command and arguments, in shell quoting ("" for the image\'s own)')
    .option('--env-add <KEY=VALUE>', 'add or change an environment variable (repeatable)', collect, [])
    .option('--env-rm <KEY>', 'remove an environment variable (repeatable)', collect, [])
    .option('--label-add <k=v>', 'add or change a service label (repeatable)', collect, [])
    .option('--label-rm <key>', 'remove a service label (repeatable)', collect, [])
    .option('--container-label-add <k=v>', 'add or change a container label (repeatable)', collect, [])
    .option('--container-label-rm <key>', 'remove a container label (repeatable)', collect, [])
    .option('--publish-add <port>', 'publish a port, as --publish in create (repeatable)', collect, [])
    .option('--publish-rm <port>', 'stop publishing: the published port, e.g. 8080 or 8080/udp, or a mapping (repeatable)', collect, [])
    .option('--network-add <network>', 'join a network (repeatable)', collect, [])
    .option('--network-rm <network>', 'leave a network (repeatable)', collect, [])
    .option('--constraint-add <expr>', 'add a placement constraint (repeatable)', collect, [])
    .option('--constraint-rm <expr>', 'remove a placement constraint (repeatable)', collect, [])
    .option('--auto-rebalance <bool>', 'even the spread by itself when nodes join or return (true|false)')
    .option('--rebalance', 'even the spread over the eligible nodes now, never dropping below the desired count')
    .option('--force', 'replace every task, even with no change to the spec')
    .option('--rollback', 'roll back to the previous spec (as `orch service rollback`)');
}

/** Turns the flags of `service create` into a spec; throws on the first bad value. */
export function specFromFlags(image: string, command: string[], f: CreateFlags): ServiceSpec {
  const mode = pick(MODES, f.mode, '--mode');
  if (mode === ServiceSpec_Mode.GLOBAL && f.replicas !== undefined) throw new InvalidArgumentError('--replicas can only be used with replicated mode');
  const spec: ServiceSpec = {
    name: f.name ?? '',
    labels: keyValues(f.label, '--label'),
    mode,
    replicas: mode === ServiceSpec_Mode.GLOBAL ? 0 : parseReplicas(f.replicas ?? '1', '--replicas'),
    placement: { constraints: f.constraint, maxReplicas: 0 },
    autoRebalance: f.autoRebalance ?? false,
    networks: f.network,
    endpoint: { mode: EndpointSpec_Mode.VIP, ports: f.publish.flatMap(parsePublish) },
    container: ContainerSpec.fromPartial({
      image,
      command,
      env: f.env,
      labels: keyValues(f.containerLabel, '--container-label'),
      resources: { limits: { nanoCpus: 0n, memoryBytes: 0n, pids: 0n }, reservations: { nanoCpus: 0n, memoryBytes: 0n, pids: 0n } },
    }),
    restart: { condition: RestartPolicy_Condition.RESTART_ANY, delayMs: 0, maxAttempts: 0, windowMs: 0 },
    updateConfig: { ...DEFAULT_UPDATE },
    rollbackConfig: { ...DEFAULT_UPDATE },
    forceUpdate: 0n,
    dependsOn: [],
    aliases: [],
  };
  applyContainerCreate(spec.container!, f);
  applyCommon(spec, f);
  validateServiceSpec(spec);
  return spec;
}

/** The spec `service update` asks for: `cur` with each given flag applied; throws on the first bad value. */
export function updatedSpec(cur: ServiceSpec, f: UpdateFlags): ServiceSpec {
  const spec: ServiceSpec = structuredClone(cur);
  const c = spec.container!;
  const name = spec.name;
  if (f.image !== undefined) c.image = f.image;
  if (f.args !== undefined) c.command = shellWords(f.args, '--args');
  c.env = edit(c.env, f.envAdd, f.envRm, (e) => e.slice(0, Math.max(e.indexOf('='), 0)) || e, notSet('--env-rm', name));
  applyContainerUpdate(c, f, name);
  spec.labels = editMap(spec.labels, f.labelAdd, f.labelRm, '--label', name);
  c.labels = editMap(c.labels, f.containerLabelAdd, f.containerLabelRm, '--container-label', name);
  spec.placement = { maxReplicas: 0, ...spec.placement, constraints: edit(spec.placement?.constraints ?? [], f.constraintAdd, f.constraintRm, (x) => x, notSet('--constraint-rm', name)) };
  spec.networks = removeNetworks(spec.networks, f.networkRm, name).concat(f.networkAdd);
  const ports = removePorts(spec.endpoint?.ports ?? [], f.publishRm, name).concat(f.publishAdd.flatMap(parsePublish));
  spec.endpoint = { mode: spec.endpoint?.mode ?? EndpointSpec_Mode.VIP, ports };
  if (f.replicas !== undefined) {
    if (spec.mode === ServiceSpec_Mode.GLOBAL) throw new InvalidArgumentError('--replicas can only be used with replicated mode');
    spec.replicas = parseReplicas(f.replicas, '--replicas');
  }
  if (f.autoRebalance !== undefined) {
    if (!['true', 'false'].includes(f.autoRebalance)) throw new InvalidArgumentError(`--auto-rebalance: "${f.autoRebalance}" is not true or false`);
    spec.autoRebalance = f.autoRebalance === 'true';
  }
  if (f.force) spec.forceUpdate += 1n;
  applyCommon(spec, f);
  validateServiceSpec(spec);
  return spec;
}

/** The flags create and update share, each applied only if given. */
function applyCommon(spec: ServiceSpec, f: CommonFlags & RolloutFlags): void {
  const c = spec.container!;
  if (f.endpointMode !== undefined) spec.endpoint = { ...spec.endpoint!, mode: pick(ENDPOINT_MODES, f.endpointMode, '--endpoint-mode') };
  const res = c.resources!;
  if (f.limitCpu !== undefined) res.limits = { ...res.limits!, nanoCpus: parseCpus(f.limitCpu, '--limit-cpu') };
  if (f.limitMemory !== undefined) res.limits = { ...res.limits!, memoryBytes: parseBytes(f.limitMemory, '--limit-memory') };
  if (f.reserveCpu !== undefined) res.reservations = { ...res.reservations!, nanoCpus: parseCpus(f.reserveCpu, '--reserve-cpu') };
  if (f.reserveMemory !== undefined) res.reservations = { ...res.reservations!, memoryBytes: parseBytes(f.reserveMemory, '--reserve-memory') };
  c.healthcheck = healthFromFlags(f, c.healthcheck);
  if (f.stopGracePeriod !== undefined) c.stopGracePeriodMs = parseDuration(f.stopGracePeriod, '--stop-grace-period');
  const r = spec.restart!;
  if (f.replicasMaxPerNode !== undefined) spec.placement = { constraints: spec.placement?.constraints ?? [], maxReplicas: parseReplicas(f.replicasMaxPerNode, '--replicas-max-per-node') };
  if (f.restartCondition !== undefined) r.condition = pick(CONDITIONS, f.restartCondition, '--restart-condition');
  if (f.restartDelay !== undefined) r.delayMs = parseDuration(f.restartDelay, '--restart-delay');
  if (f.restartMaxAttempts !== undefined) r.maxAttempts = parseReplicas(f.restartMaxAttempts, '--restart-max-attempts');
  if (f.restartWindow !== undefined) r.windowMs = f.restartWindow === '0s' ? 0 : parseDuration(f.restartWindow, '--restart-window');
  spec.updateConfig = rolloutFromFlags(spec.updateConfig ?? DEFAULT_UPDATE, f, 'update');
  spec.rollbackConfig = rolloutFromFlags(spec.rollbackConfig ?? DEFAULT_UPDATE, f, 'rollback');
}

function rolloutFromFlags(base: UpdateConfig, f: RolloutFlags, what: 'update' | 'rollback'): UpdateConfig {
  const u = { ...base };
  const flag = (name: string) => `--${what}-${name}`;
  const get = (k: RolloutKnob) => f[`${what}${k}`];
  const parallelism = get('Parallelism');
  if (parallelism !== undefined) u.parallelism = parseReplicas(parallelism, flag('parallelism'));
  const delay = get('Delay');
  if (delay !== undefined) u.delayMs = zeroOrDuration(delay, flag('delay'));
  const action = get('FailureAction');
  if (action !== undefined) {
    u.failureAction = pick(FAILURE_ACTIONS, action, flag('failure-action'));
    if (what === 'rollback' && u.failureAction === UpdateConfig_FailureAction.ROLLBACK) throw new InvalidArgumentError(`${flag('failure-action')}: a rollback cannot roll back; use pause or continue`);
  }
  const monitor = get('Monitor');
  if (monitor !== undefined) u.monitorMs = zeroOrDuration(monitor, flag('monitor'));
  const ratio = get('MaxFailureRatio');
  if (ratio !== undefined) {
    const n = Number(ratio);
    if (!/^\d*\.?\d+$/.test(ratio) || n > 1) throw new InvalidArgumentError(`${flag('max-failure-ratio')}: "${ratio}" is not a ratio from 0 to 1 (e.g. 0.2)`);
    u.maxFailureRatio = n;
  }
  const order = get('Order');
  if (order !== undefined) u.order = pick(ORDERS, order, flag('order'));
  const deadline = get('ProgressDeadline');
  if (deadline !== undefined) u.progressDeadlineMs = zeroOrDuration(deadline, flag('progress-deadline'));
  return u;
}

/** `--health-*` and `--no-healthcheck` over the current healthcheck (undefined: the image's own). */
function healthFromFlags(f: CommonFlags, cur: HealthConfig | undefined): HealthConfig | undefined {
  const tuned = f.healthInterval ?? f.healthTimeout ?? f.healthRetries ?? f.healthStartPeriod;
  if (!f.healthcheck) {
    if (f.healthCmd || tuned) throw new InvalidArgumentError('--no-healthcheck conflicts with --health-* options');
    return { test: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 };
  }
  const own = cur && cur.test[0] !== 'NONE' ? cur : undefined;
  if (!f.healthCmd && !own) {
    if (tuned) throw new InvalidArgumentError('--health-interval/-timeout/-retries/-start-period need --health-cmd');
    return cur;
  }
  return {
    test: f.healthCmd ? ['CMD-SHELL', f.healthCmd] : own!.test,
    intervalMs: f.healthInterval ? parseDuration(f.healthInterval, '--health-interval') : (own?.intervalMs ?? 0),
    timeoutMs: f.healthTimeout ? parseDuration(f.healthTimeout, '--health-timeout') : (own?.timeoutMs ?? 0),
    retries: f.healthRetries ? parseReplicas(f.healthRetries, '--health-retries') : (own?.retries ?? 0),
    startPeriodMs: f.healthStartPeriod ? parseDuration(f.healthStartPeriod, '--health-start-period') : (own?.startPeriodMs ?? 0),
  };
}

/** The error for removing what a service does not have. */
function notSet(flag: string, service: string): (key: string) => Error {
  return (key) => new InvalidArgumentError(`${flag}: ${key} is not set on service ${service}`);
}

function editMap(map: Record<string, string>, add: string[], rm: string[], flag: string, service: string): Record<string, string> {
  const out = { ...map };
  for (const k of rm) {
    if (!(k in out)) throw new InvalidArgumentError(`${flag}-rm: ${k} is not set on service ${service}`);
    delete out[k];
  }
  return { ...out, ...keyValues(add, `${flag}-add`) };
}

/** Networks are stored by id; `--network-rm` takes the id (or its prefix) as `service inspect` shows it, or a name the CLI resolved. */
function removeNetworks(ids: string[], rm: string[], service: string): string[] {
  let out = [...ids];
  for (const ref of rm) {
    const match = out.filter((id) => id === ref || id.startsWith(ref));
    if (match.length !== 1) throw new InvalidArgumentError(`--network-rm: service ${service} is not on network ${ref}`);
    out = out.filter((id) => id !== match[0]);
  }
  return out;
}

/** `--publish-rm 8080`, `8080/udp`, or a whole mapping: the published ports named go. */
function removePorts(ports: PortConfig[], rm: string[], service: string): PortConfig[] {
  let out = [...ports];
  for (const text of rm) {
    const m = /^(\d+)(?:\/(tcp|udp))?$/.exec(text.trim());
    const names = m ? [`${m[1]}/${m[2] ?? 'tcp'}`] : parsePublish(text).map(portName);
    for (const n of names) {
      if (!out.some((p) => portName(p) === n)) throw new InvalidArgumentError(`--publish-rm: service ${service} does not publish ${n}`);
      out = out.filter((p) => portName(p) !== n);
    }
  }
  return out;
}

function zeroOrDuration(text: string, flag: string): number {
  return text.trim() === '0' ? 0 : parseDuration(text, flag);
}

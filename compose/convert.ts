// A Compose model as orch objects, the way `docker stack deploy` maps it:
// every service, network, secret and config is named STACK_name and
// labelled com.docker.stack.namespace=STACK; services join STACK_default
// unless they name networks, and answer there to their short name too.
// Keys orch does not carry out are reported by name, never dropped silently.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import {
  ContainerSpec,
  Dependency_Condition,
  EndpointSpec_Mode,
  Mount_Type,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  PortConfig_TrafficPolicy,
  ServiceSpec,
  ServiceSpec_Mode,
  type HealthConfig,
  type Mount,
  type NetworkSpec,
  type PortConfig,
  type UpdateConfig,
} from '../proto/generated/orch.js';
import { parseDuration } from '../shared/duration.js';
import { InvalidArgumentError } from '../shared/errors.js';
import { parsePublish } from '../shared/ports.js';
import { fileTargetPath } from '../shared/container.js';
import { DEFAULT_RESTART, DEFAULT_UPDATE, NAME_RE, NAME_RULE, validateServiceSpec } from '../shared/spec.js';
import { parseBytes, parseCpus } from '../shared/units.js';
import { CONDITIONS, ENDPOINT_MODES, FAILURE_ACTIONS, MODES, ORDERS, pick, readEnvFile, shellWords } from '../shared/words.js';
import { ComposeProblem, type Loaded } from './load.js';

/** The label Docker's tooling reads a stack's name from. */
export const STACK_LABEL = 'com.docker.stack.namespace';

/** A secret or config the stack makes from a file, or one it expects to exist. */
export interface StackFile {
  name: string;
  /** Its value (from `file:`); undefined for `external:`. */
  data?: Uint8Array;
  labels: Record<string, string>;
}

export interface StackNetwork {
  spec: NetworkSpec;
  external: boolean;
}

/** Everything one deploy writes, checked whole before any of it is. */
export interface StackPlan {
  name: string;
  networks: StackNetwork[];
  secrets: StackFile[];
  configs: StackFile[];
  services: ServiceSpec[];
  /** Keys orch does not carry out, by name: "services.web.build: not supported (…)". */
  warnings: string[];
}

/** Keys a stack may hold that orch does not carry out, and why (Swarm drops most of them without a word). */
const UNSUPPORTED: Record<string, string> = {
  build: 'orch does not build images; build and push the image, then give image:',
  network_mode: 'tasks always join overlay networks',
  container_name: 'a service has many containers; they are named after their task',
  links: 'services reach each other by name on a shared network',
  external_links: 'services reach each other by name on a shared network',
  restart: 'use deploy.restart_policy',
  logging: 'logs stay with the engine (orch service logs reads them)',
  security_opt: 'not supported',
  pid: 'not supported',
  ipc: 'not supported',
  cgroup_parent: 'not supported',
  cgroup: 'not supported',
  devices: 'not supported in stacks',
  dns: "containers use orch's resolver",
  domainname: 'not supported',
  mac_address: 'not supported',
  userns_mode: 'not supported',
  volumes_from: 'not supported',
  blkio_config: 'not supported',
  cpu_shares: 'use deploy.resources',
  cpu_quota: 'use deploy.resources',
  cpu_period: 'use deploy.resources',
  cpus: 'use deploy.resources.limits.cpus',
  cpuset: 'not supported',
  mem_limit: 'use deploy.resources.limits.memory',
  mem_reservation: 'use deploy.resources.reservations.memory',
  memswap_limit: 'not supported',
  shm_size: 'not supported',
  oom_kill_disable: 'not supported',
  oom_score_adj: 'not supported',
  isolation: 'not supported',
  platform: 'not supported',
  profiles: 'every service of the file is deployed',
  pull_policy: 'the engine pulls when the image is missing',
  scale: 'use deploy.replicas',
  runtime: 'not supported',
  stdin_open: 'not supported',
  storage_opt: 'not supported',
  credential_spec: 'not supported',
  expose: 'every port is reachable on the service\'s networks',
  privileged: 'not supported in stacks',
  pids_limit: 'use deploy.resources.limits.pids',
};
const UNSUPPORTED_DEPLOY: Record<string, string> = {
  'placement.preferences': 'tasks are spread over the eligible nodes',
  'resources.reservations.generic_resources': 'not supported',
  'resources.reservations.devices': 'not supported',
};

/** Converts a loaded model into the objects of stack `stack`; throws a ComposeProblem (a key and what is wrong with it) at the first bad value. */
export function stackPlan(loaded: Loaded, stack: string): StackPlan {
  if (!NAME_RE.test(stack)) throw new InvalidArgumentError(`invalid stack name "${stack}": use ${NAME_RULE}`);
  const { model, dir, env } = loaded;
  const labels = { [STACK_LABEL]: stack };
  const scoped = (name: string) => `${stack}_${name}`;
  const warnings = [...loaded.warnings];
  const topNetworks = { ...(model.networks ?? {}) };
  const networks = new Map<string, StackNetwork>();
  const usedNetworks = new Set<string>();
  for (const [svcName, svc] of Object.entries(model.services)) {
    const nets = svc.networks ? (Array.isArray(svc.networks) ? svc.networks : Object.keys(svc.networks)) : ['default'];
    for (const n of nets as string[]) {
      if (n !== 'default' && !(n in topNetworks)) throw new ComposeProblem(['services', svcName, 'networks', n], `network "${n}" is not declared under the top-level networks key`);
      usedNetworks.add(n);
    }
  }
  for (const n of usedNetworks) {
    const def = (topNetworks[n] ?? {}) as Record<string, any>;
    const at = ['networks', n];
    const external = externalName(def, n, at);
    if (external) {
      networks.set(n, { spec: { name: external, driver: 'overlay', subnet: '', gateway: '', labels: {} }, external: true });
      continue;
    }
    if (def.driver && def.driver !== 'overlay') throw new ComposeProblem([...at, 'driver'], `driver "${def.driver}" is not supported; orch networks are overlay networks`);
    for (const k of ['driver_opts', 'attachable', 'internal', 'enable_ipv6']) if (def[k] !== undefined) warnings.push(`${[...at, k].join('.')}: not supported; ignored`);
    const configs = (def.ipam?.config ?? []) as Array<Record<string, any>>;
    if (configs.length > 1) throw new ComposeProblem([...at, 'ipam', 'config'], 'an orch network has one subnet; give one entry');
    networks.set(n, {
      spec: { name: def.name ?? scoped(n), driver: 'overlay', subnet: configs[0]?.subnet ?? '', gateway: configs[0]?.gateway ?? '', labels: { ...dict(def.labels), ...labels } },
      external: false,
    });
  }
  const files = (kind: 'secrets' | 'configs'): Map<string, StackFile> => {
    const out = new Map<string, StackFile>();
    for (const [n, def] of Object.entries(model[kind] ?? {})) {
      const at = [kind, n];
      const external = externalName(def, n, at);
      if (external) {
        out.set(n, { name: external, labels: {} });
        continue;
      }
      if (def.file === undefined) throw new ComposeProblem(at, `give file: (a path to its value) or external: true${def.environment !== undefined || def.content !== undefined ? '; environment: and content: are not supported' : ''}`);
      const path = resolve(dir, String(def.file));
      let data: Buffer;
      try {
        data = readFileSync(path);
      } catch (err) {
        throw new ComposeProblem([...at, 'file'], `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
      out.set(n, { name: def.name ?? scoped(n), data, labels: { ...dict(def.labels), ...labels } });
    }
    return out;
  };
  const secrets = files('secrets');
  const configs = files('configs');
  const volumes = new Map<string, StackVolume>();
  for (const [n, def] of Object.entries(model.volumes ?? {})) {
    const d = (def ?? {}) as Record<string, any>;
    if (d.driver && d.driver !== 'local') throw new ComposeProblem(['volumes', n, 'driver'], `driver "${d.driver}" is not supported; orch volumes are the engine's local volumes`);
    if (d.driver_opts) warnings.push(`volumes.${n}.driver_opts: not supported; ignored`);
    const external = externalName(d, n, ['volumes', n]);
    volumes.set(n, external ? { name: external, labels: {} } : { name: d.name ?? scoped(n), labels: { ...dict(d.labels), ...labels } });
  }

  const services: ServiceSpec[] = [];
  for (const [svcName, svc] of Object.entries(model.services)) {
    const at = (...rest: (string | number)[]) => ['services', svcName, ...rest];
    for (const k of Object.keys(svc)) if (UNSUPPORTED[k]) warnings.push(`${at(k).join('.')}: ${UNSUPPORTED[k]}; ignored`);
    for (const [k, why] of Object.entries(UNSUPPORTED_DEPLOY)) if (k.split('.').reduce<any>((o, p) => o?.[p], svc.deploy) !== undefined) warnings.push(`${at('deploy', ...k.split('.')).join('.')}: ${why}; ignored`);
    const name = scoped(svcName);
    if (!NAME_RE.test(name)) throw new ComposeProblem(at(), `"${name}" cannot be a service name: use ${NAME_RULE}`);
    if (!svc.image) throw new ComposeProblem(at(), svc.build ? 'needs image: orch does not build images (build and push it, then give image:)' : 'needs image:');
    const deploy = (svc.deploy ?? {}) as Record<string, any>;
    const mode = deploy.mode ? convert(at('deploy', 'mode'), () => pick(MODES, deploy.mode, 'mode')) : ServiceSpec_Mode.REPLICATED;
    const c = ContainerSpec.fromPartial({
      image: svc.image,
      command: words(svc.command, at('command')),
      entrypoint: words(svc.entrypoint, at('entrypoint')),
      env: environment(svc, dir, env, at),
      labels: { ...dict(svc.labels), ...labels },
      stopGracePeriodMs: svc.stop_grace_period !== undefined ? convert(at('stop_grace_period'), () => parseDuration(svc.stop_grace_period, 'stop_grace_period')) : 0,
      stopSignal: svc.stop_signal ?? '',
      user: svc.user ?? '',
      dir: svc.working_dir ?? '',
      hostname: svc.hostname ?? '',
      groups: (svc.group_add ?? []).map(String),
      capabilityAdd: svc.cap_add ?? [],
      capabilityDrop: svc.cap_drop ?? [],
      sysctls: Object.fromEntries(Object.entries(dict(svc.sysctls)).map(([k, v]) => [k, String(v)])),
      ulimits: Object.entries((svc.ulimits ?? {}) as Record<string, any>).map(([n, u]) => (typeof u === 'object' ? { name: n, soft: BigInt(u.soft), hard: BigInt(u.hard) } : { name: n, soft: BigInt(u), hard: BigInt(u) })),
      readOnly: !!svc.read_only,
      init: svc.init === undefined ? undefined : !!svc.init,
      tty: !!svc.tty,
      hosts: extraHosts(svc.extra_hosts),
      dnsConfig: { search: list(svc.dns_search), options: svc.dns_opt ?? [] },
      healthcheck: svc.healthcheck ? health(svc.healthcheck, at('healthcheck')) : undefined,
      resources: {
        limits: { nanoCpus: cpus(deploy.resources?.limits?.cpus, at('deploy', 'resources', 'limits', 'cpus')), memoryBytes: bytes(deploy.resources?.limits?.memory, at('deploy', 'resources', 'limits', 'memory')), pids: BigInt(deploy.resources?.limits?.pids ?? 0) },
        reservations: { nanoCpus: cpus(deploy.resources?.reservations?.cpus, at('deploy', 'resources', 'reservations', 'cpus')), memoryBytes: bytes(deploy.resources?.reservations?.memory, at('deploy', 'resources', 'reservations', 'memory')), pids: 0n },
      },
      mounts: [...(svc.volumes ?? []).map((v: unknown, i: number) => mount(v, at('volumes', i), dir, env.HOME, volumes)), ...list(svc.tmpfs).map((t) => tmpfs(t))],
      secrets: (svc.secrets ?? []).map((r: unknown, i: number) => {
        const ref = fileRef(r, at('secrets', i), secrets, 'secret');
        return { secretId: '', secretName: ref.name, file: ref.file };
      }),
      configs: (svc.configs ?? []).map((r: unknown, i: number) => {
        const ref = fileRef(r, at('configs', i), configs, 'config');
        return { configId: '', configName: ref.name, file: ref.file };
      }),
    });
    const joined = svc.networks ? (Array.isArray(svc.networks) ? (svc.networks as string[]).map((n) => [n, null] as const) : Object.entries(svc.networks as Record<string, any>)) : [['default', null] as const];
    const rp = (deploy.restart_policy ?? {}) as Record<string, any>;
    const spec = ServiceSpec.fromPartial({
      name,
      labels: { ...dict(deploy.labels), ...labels },
      container: c,
      mode,
      replicas: mode === ServiceSpec_Mode.GLOBAL ? 0 : (deploy.replicas ?? 1),
      placement: { constraints: deploy.placement?.constraints ?? [], maxReplicas: deploy.placement?.max_replicas_per_node ?? 0 },
      networks: joined.map(([n]) => networks.get(n)!.spec.name),
      aliases: joined.map(([n, opts]) => ({ network: networks.get(n)!.spec.name, names: [...new Set([svcName, ...((opts?.aliases as string[] | undefined) ?? [])])] })),
      endpoint: {
        mode: deploy.endpoint_mode ? convert(at('deploy', 'endpoint_mode'), () => pick(ENDPOINT_MODES, deploy.endpoint_mode, 'endpoint_mode')) : EndpointSpec_Mode.VIP,
        ports: (svc.ports ?? []).flatMap((p: unknown, i: number) => ports(p, at('ports', i))),
      },
      restart: {
        condition: rp.condition ? convert(at('deploy', 'restart_policy', 'condition'), () => pick(CONDITIONS, rp.condition, 'condition')) : DEFAULT_RESTART.condition,
        delayMs: rp.delay !== undefined ? duration(rp.delay, at('deploy', 'restart_policy', 'delay')) : DEFAULT_RESTART.delayMs,
        maxAttempts: rp.max_attempts ?? 0,
        windowMs: rp.window !== undefined ? duration(rp.window, at('deploy', 'restart_policy', 'window')) : 0,
      },
      updateConfig: rollout(deploy.update_config, at('deploy', 'update_config')),
      rollbackConfig: rollout(deploy.rollback_config, at('deploy', 'rollback_config')),
      dependsOn: dependencies(svc.depends_on, at('depends_on'), model.services).map((d) => ({ ...d, service: scoped(d.service) })),
    });
    convert(at(), () => validateServiceSpec(spec));
    services.push(spec);
  }
  const published = new Map<string, string>();
  for (const s of services) {
    for (const p of s.endpoint?.ports ?? []) {
      if (!p.publishedPort) continue;
      const key = `${p.publishedPort}/${p.protocol === PortConfig_Protocol.UDP ? 'udp' : 'tcp'}`;
      const other = published.get(key);
      if (other) throw new ComposeProblem(['services', s.name.slice(stack.length + 1), 'ports'], `port ${key} is also published by service ${other}`);
      published.set(key, s.name.slice(stack.length + 1));
    }
  }
  return {
    name: stack,
    networks: [...networks.values()],
    secrets: [...secrets.values()],
    configs: [...configs.values()],
    services: order(services),
    warnings,
  };
}

/** Services in dependency order (dependencies first), otherwise as in the file; a cycle is an error. */
function order(services: ServiceSpec[]): ServiceSpec[] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const out: ServiceSpec[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: ServiceSpec, chain: string[]) => {
    if (state.get(s.name) === 'done') return;
    if (state.get(s.name) === 'visiting') throw new InvalidArgumentError(`depends_on goes round in a circle: ${[...chain, s.name].join(' → ')}`);
    state.set(s.name, 'visiting');
    for (const d of s.dependsOn) visit(byName.get(d.service)!, [...chain, s.name]);
    state.set(s.name, 'done');
    out.push(s);
  };
  for (const s of services) visit(s, []);
  return out;
}

/** Runs a parser of shared/ and turns its error into one at the key. */
function convert<T>(at: (string | number)[], fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ComposeProblem) throw err;
    throw new ComposeProblem(at, (err as Error).message.replace(/^[a-z_]+: /, ''));
  }
}

function externalName(def: Record<string, any> | null | undefined, key: string, at: (string | number)[]): string {
  const ext = def?.external;
  if (!ext) return '';
  if (typeof ext === 'object' && ext.name) return String(ext.name);
  if (typeof ext === 'object' && Object.keys(ext).length === 0) return def?.name ?? key;
  if (ext === true) return def?.name ?? key;
  throw new ComposeProblem([...at, 'external'], 'must be true (or name the object)');
}

function dict(v: unknown): Record<string, string> {
  if (!v) return {};
  if (Array.isArray(v)) return Object.fromEntries(v.map((x) => String(x).split(/=(.*)/s).slice(0, 2) as [string, string]).map(([k, x]) => [k, x ?? '']));
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, x === null || x === undefined ? '' : String(x)]));
}

function list(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

function words(v: unknown, at: (string | number)[]): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map(String);
  return convert(at, () => shellWords(String(v), at[at.length - 1] as string));
}

/** env_file first, then environment over it; a variable with no value takes the one the files were read with (as Compose). */
function environment(svc: Record<string, any>, dir: string, env: Record<string, string | undefined>, at: (...rest: (string | number)[]) => (string | number)[]): string[] {
  const fromFiles = list(svc.env_file).flatMap((f, i) => convert(at('env_file', i), () => readEnvFile(resolve(dir, f), 'env_file')));
  const out = new Map(fromFiles.map((e) => [e.slice(0, e.indexOf('=')), e]));
  for (const [k, v] of Object.entries((svc.environment ?? {}) as Record<string, unknown>)) {
    if (v === null || v === undefined) {
      if (env[k] !== undefined) out.set(k, `${k}=${env[k]}`);
    } else out.set(k, `${k}=${String(v)}`);
  }
  return [...out.values()];
}

function extraHosts(v: unknown): string[] {
  if (!v) return [];
  const pairs = Array.isArray(v) ? v.map((x) => String(x).split(/[:=](.*)/s).slice(0, 2)) : Object.entries(v as Record<string, unknown>).map(([h, ip]) => [h, String(ip)]);
  return pairs.map(([host, ip]) => `${ip} ${host}`);
}

function health(h: Record<string, any>, at: (string | number)[]): HealthConfig {
  if (h.disable) return { test: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 };
  const test = typeof h.test === 'string' ? ['CMD-SHELL', h.test] : ((h.test ?? []) as string[]);
  if (test.length === 0) throw new ComposeProblem([...at, 'test'], 'give the command to run (or disable: true)');
  return {
    test,
    intervalMs: h.interval !== undefined ? duration(h.interval, [...at, 'interval']) : 0,
    timeoutMs: h.timeout !== undefined ? duration(h.timeout, [...at, 'timeout']) : 0,
    retries: h.retries ?? 0,
    startPeriodMs: h.start_period !== undefined ? duration(h.start_period, [...at, 'start_period']) : 0,
  };
}

function duration(v: unknown, at: (string | number)[]): number {
  return convert(at, () => parseDuration(String(v), String(at[at.length - 1])));
}

function cpus(v: unknown, at: (string | number)[]): bigint {
  return v === undefined ? 0n : convert(at, () => parseCpus(String(v), 'cpus'));
}

function bytes(v: unknown, at: (string | number)[]): bigint {
  return v === undefined ? 0n : convert(at, () => parseBytes(String(v), 'memory'));
}

function rollout(u: Record<string, any> | undefined, at: (string | number)[]): UpdateConfig {
  if (!u) return { ...DEFAULT_UPDATE };
  return {
    parallelism: u.parallelism ?? DEFAULT_UPDATE.parallelism,
    delayMs: u.delay !== undefined ? duration(u.delay, [...at, 'delay']) : DEFAULT_UPDATE.delayMs,
    failureAction: u.failure_action ? convert([...at, 'failure_action'], () => pick(FAILURE_ACTIONS, u.failure_action, 'failure_action')) : DEFAULT_UPDATE.failureAction,
    monitorMs: u.monitor !== undefined ? duration(u.monitor, [...at, 'monitor']) : DEFAULT_UPDATE.monitorMs,
    maxFailureRatio: u.max_failure_ratio ?? DEFAULT_UPDATE.maxFailureRatio,
    order: u.order ? pick(ORDERS, u.order, 'order') : DEFAULT_UPDATE.order,
    progressDeadlineMs: DEFAULT_UPDATE.progressDeadlineMs,
  };
}

const CONDITION: Record<string, Dependency_Condition> = {
  service_started: Dependency_Condition.STARTED,
  service_healthy: Dependency_Condition.HEALTHY,
  service_completed_successfully: Dependency_Condition.COMPLETED,
};

function dependencies(v: unknown, at: (string | number)[], services: Record<string, unknown>): Array<{ service: string; condition: Dependency_Condition }> {
  if (!v) return [];
  const entries = Array.isArray(v) ? v.map((s) => [String(s), { condition: 'service_started' }] as const) : Object.entries(v as Record<string, Record<string, any>>);
  return entries.map(([service, d]) => {
    if (!(service in services)) throw new ComposeProblem([...at, service], `there is no service "${service}" in the file`);
    return { service, condition: CONDITION[d.condition ?? 'service_started']! };
  });
}

/** Short ("8080:80", "8080:80/udp", "80", 80) or long ({target, published, protocol, mode}) syntax. */
function ports(p: unknown, at: (string | number)[]): PortConfig[] {
  if (typeof p === 'number' || typeof p === 'string') {
    const text = String(p);
    if (/^[\d.]+:\d/.test(text) && text.split(':').length === 3) throw new ComposeProblem(at, `"${text}": a host IP is not supported; a published port answers on every node`);
    return convert(at, () => parsePublish(text));
  }
  const l = p as Record<string, any>;
  const published = l.published === undefined ? [0] : convert([...at, 'published'], () => parsePublish(`${l.published}:${l.target}`).map((x) => x.publishedPort));
  return published.map((n) => ({
    targetPort: Number(l.target),
    publishedPort: n,
    protocol: l.protocol === 'udp' ? PortConfig_Protocol.UDP : PortConfig_Protocol.TCP,
    publishMode: l.mode === 'host' ? PortConfig_PublishMode.HOST : PortConfig_PublishMode.INGRESS,
    trafficPolicy: PortConfig_TrafficPolicy.CLUSTER,
  }));
}

/** A named volume as its mounts make it: its name and labels (the stack's, unless external). */
interface StackVolume {
  name: string;
  labels: Record<string, string>;
}

/** Short ("data:/var/lib", "./conf:/etc/x:ro", "/tmp") or long syntax; named volumes take their stack name. */

function mount(v: unknown, at: (string | number)[], dir: string, home: string | undefined, volumes: Map<string, StackVolume>): Mount {
  let type: string;
  let source = '';
  let target: string;
  let readOnly = false;
  let noCopy = false;
  let size: bigint | undefined;
  if (typeof v === 'string') {
    const parts = v.split(':');
    if (parts.length === 1) [type, target] = ['volume', parts[0]!];
    else {
      [source, target] = [parts[0]!, parts[1]!];
      const opts = (parts[2] ?? '').split(',');
      readOnly = opts.includes('ro');
      noCopy = opts.includes('nocopy');
      type = source.startsWith('/') || source.startsWith('.') || source.startsWith('~') ? 'bind' : 'volume';
    }
  } else {
    const l = v as Record<string, any>;
    type = l.type;
    source = l.source ?? '';
    target = l.target;
    readOnly = !!l.read_only;
    noCopy = !!l.volume?.nocopy;
    if (l.tmpfs?.size !== undefined) size = bytes(l.tmpfs.size, [...at, 'tmpfs', 'size']);
    if (!['volume', 'bind', 'tmpfs'].includes(type)) throw new ComposeProblem([...at, 'type'], `type "${type}" is not supported; use volume, bind or tmpfs`);
  }
  if (type === 'bind') {
    source = isAbsolute(source) ? source : resolve(dir, source.replace(/^~(?=\/)/, home ?? '~'));
    return { type: Mount_Type.BIND, source, target, readOnly, volumeOptions: undefined, tmpfsOptions: undefined };
  }
  if (type === 'tmpfs') return { type: Mount_Type.TMPFS, source: '', target, readOnly, volumeOptions: undefined, tmpfsOptions: { sizeBytes: size ?? 0n, mode: 0 } };
  if (source && !volumes.has(source)) throw new ComposeProblem(at, `volume "${source}" is not declared under the top-level volumes key`);
  const vol = source ? volumes.get(source)! : undefined;
  const labels = vol?.labels ?? {};
  return { type: Mount_Type.VOLUME, source: vol?.name ?? '', target, readOnly, volumeOptions: noCopy || Object.keys(labels).length ? { noCopy, labels } : undefined, tmpfsOptions: undefined };
}

function tmpfs(t: string): Mount {
  const [target, ...opts] = t.split(':');
  const size = /size=(\d+[kmg]?)/i.exec(opts.join(':'))?.[1];
  return { type: Mount_Type.TMPFS, source: '', target: target!, readOnly: false, volumeOptions: undefined, tmpfsOptions: { sizeBytes: size ? parseBytes(size, 'tmpfs size') : 0n, mode: 0 } };
}

/** A service's secret or config: short ("db_password") or long ({source, target, uid, gid, mode}). */
function fileRef(r: unknown, at: (string | number)[], declared: Map<string, StackFile>, what: 'secret' | 'config') {
  const l = typeof r === 'string' ? { source: r } : (r as Record<string, any>);
  const f = declared.get(l.source);
  if (!f) throw new ComposeProblem(at, `${what} "${l.source}" is not declared under the top-level ${what}s key`);
  // Without a target, the file is named after the key in the file, not the stack's object (as Docker does).
  const target = l.target ?? l.source;
  const mode = l.mode === undefined ? 0 : typeof l.mode === 'number' ? l.mode : parseInt(String(l.mode), 8);
  return { name: f.name, file: { name: fileTargetPath(what, String(target)), uid: Number(l.uid ?? 0), gid: Number(l.gid ?? 0), mode } };
}

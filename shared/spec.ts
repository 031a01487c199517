// Validation of service specs: the one place that decides what a valid
// request is, used by the CLI (early, friendly) and the manager (authoritative).
import { RestartPolicy_Condition, ServiceSpec_Mode, UpdateConfig_FailureAction, UpdateConfig_Order, type RestartPolicy, type ServiceSpec, type UpdateConfig } from '../proto/generated/orch.js';
import { parseConstraint } from './constraints.js';
import { validatePorts } from './ports.js';
import { InvalidArgumentError } from './errors.js';
import { validateContainer } from './container.js';

/**
 * Service and network names become DNS names: lower-case letters, digits,
 * '-' and '_' (a stack's `app_web`, as Docker names them); 1–63 long.
 */
export const NAME_RE = /^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/;
/** The rule in words, for errors. */
export const NAME_RULE = "1 to 63 lower-case letters, digits, '-' and '_', starting and ending with a letter or digit";
/** A network alias: a DNS name, possibly dotted. */
const ALIAS_RE = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,253})$/;
/** As Docker: any name without '=' or white space (Elasticsearch reads discovery.type=…). */
const ENV_RE = /^[^=\s]+=/s;
const IMAGE_RE = /^[a-z0-9][a-z0-9._\-/:@]*$/;

/** Largest replica count one service may ask for. */
export const MAX_REPLICAS = 10_000;

/** Docker's defaults: restart on any exit, after 5 s, without limit. */
export const DEFAULT_RESTART: RestartPolicy = {
  condition: RestartPolicy_Condition.RESTART_ANY,
  delayMs: 5000,
  maxAttempts: 0,
  windowMs: 0,
};

/**
 * Swarm's rollout defaults, for updates and rollbacks alike: one slot at a
 * time, no delay, stop the old task first, watch each new one for 5 s, pause
 * at the first failure. The progress deadline is Kubernetes' (10 min).
 */
export const DEFAULT_UPDATE: UpdateConfig = {
  parallelism: 1,
  delayMs: 0,
  failureAction: UpdateConfig_FailureAction.PAUSE,
  monitorMs: 5000,
  maxFailureRatio: 0,
  order: UpdateConfig_Order.STOP_FIRST,
  progressDeadlineMs: 600_000,
};

/** The spec with every default filled in: what the managers store. */
export function withDefaults(spec: ServiceSpec): ServiceSpec {
  return {
    ...spec,
    restart: spec.restart ?? DEFAULT_RESTART,
    updateConfig: spec.updateConfig ?? DEFAULT_UPDATE,
    rollbackConfig: spec.rollbackConfig ?? DEFAULT_UPDATE,
  };
}

/** Checks a service name; throws with the reason and the rule. */
export function validateName(name: string): void {
  if (!name) throw new InvalidArgumentError('a service needs a name: pass --name NAME');
  if (!NAME_RE.test(name)) {
    throw new InvalidArgumentError(`invalid service name "${name}": use ${NAME_RULE}`);
  }
}

/** Checks a replica count given as text (from a flag or `scale NAME=N`). */
export function parseReplicas(text: string, where: string): number {
  if (!/^\d+$/.test(text.trim())) {
    throw new InvalidArgumentError(`${where}: "${text}" is not a replica count; give a whole number from 0 to ${MAX_REPLICAS}`);
  }
  const n = Number(text);
  if (n > MAX_REPLICAS) throw new InvalidArgumentError(`${where}: ${n} replicas is more than the ${MAX_REPLICAS} allowed`);
  return n;
}

/** Checks a whole spec; throws InvalidArgumentError naming the first problem found. */
export function validateServiceSpec(spec: ServiceSpec): void {
  validateName(spec.name);
  const image = spec.container?.image ?? '';
  if (!image.trim()) throw new InvalidArgumentError('a service needs an image: orch service create [OPTIONS] IMAGE [COMMAND] [ARG...]');
  if (!IMAGE_RE.test(image)) {
    throw new InvalidArgumentError(`invalid image reference "${image}": expected something like nginx:1.27 or registry.example/app@sha256:…`);
  }
  if (spec.replicas > MAX_REPLICAS) {
    throw new InvalidArgumentError(`${spec.replicas} replicas is more than the ${MAX_REPLICAS} allowed`);
  }
  for (const e of spec.container?.env ?? []) {
    if (!ENV_RE.test(e)) throw new InvalidArgumentError(`invalid --env "${e}": expected KEY=VALUE with a KEY of no spaces`);
  }
  if (spec.mode === ServiceSpec_Mode.GLOBAL && spec.replicas !== 0) {
    throw new InvalidArgumentError('replicas can only be set in replicated mode; a global service runs one task on every eligible node');
  }
  for (const c of spec.placement?.constraints ?? []) parseConstraint(c);
  validatePorts(spec.endpoint?.ports ?? []);
  const res = spec.container?.resources;
  for (const [what, r] of [['limit', res?.limits], ['reservation', res?.reservations]] as const) {
    if (r && (r.nanoCpus < 0n || r.memoryBytes < 0n)) throw new InvalidArgumentError(`a ${what} cannot be negative`);
  }
  const test = spec.container?.healthcheck?.test ?? [];
  if (spec.container?.healthcheck && test.length === 0) throw new InvalidArgumentError('a healthcheck needs a command: --health-cmd CMD, or --no-healthcheck');
  for (const [flag, u] of [['--update', spec.updateConfig], ['--rollback', spec.rollbackConfig]] as const) {
    if (!u) continue;
    if (!(u.maxFailureRatio >= 0 && u.maxFailureRatio <= 1)) throw new InvalidArgumentError(`${flag}-max-failure-ratio: ${u.maxFailureRatio} is not between 0 and 1`);
  }
  if (spec.rollbackConfig?.failureAction === UpdateConfig_FailureAction.ROLLBACK) {
    throw new InvalidArgumentError('--rollback-failure-action: a rollback cannot roll back; use pause or continue');
  }
  if (spec.placement?.maxReplicas && spec.mode === ServiceSpec_Mode.GLOBAL) throw new InvalidArgumentError('--replicas-max-per-node is for replicated services; a global one runs one task per node');
  for (const d of spec.dependsOn ?? []) {
    if (!NAME_RE.test(d.service)) throw new InvalidArgumentError(`depends on "${d.service}", which is not a service name`);
    if (d.service === spec.name) throw new InvalidArgumentError(`service "${spec.name}" depends on itself`);
  }
  for (const a of spec.aliases ?? []) {
    if (!a.network) throw new InvalidArgumentError('a network alias needs its network');
    for (const n of a.names) if (!ALIAS_RE.test(n)) throw new InvalidArgumentError(`network alias "${n}" is not a DNS name (letters, digits, '.', '-', '_')`);
  }
  if (spec.container) validateContainer(spec.container);
  for (const [k] of Object.entries({ ...spec.labels, ...spec.container?.labels })) {
    if (!k || k.startsWith('orch.')) throw new InvalidArgumentError(`invalid label key "${k}": it must be non-empty and not start with "orch." (reserved)`);
  }
}

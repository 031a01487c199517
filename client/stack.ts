// Deploying and removing a stack through the control API, as `docker stack
// deploy` does from the client: what the plan names is created, a service
// already there is updated with the whole new spec (the managers leave an
// unchanged one alone and roll a changed one out with its update_config),
// and --prune removes the stack's services the file no longer has. Every
// check that can refuse the deploy runs before the first write.
import type { Service, ServiceSpec } from '../proto/generated/orch.js';
import { FailedPreconditionError, NotFoundError } from '../shared/errors.js';
import { portName } from '../shared/ports.js';
import { STACK_LABEL, type StackPlan } from '../compose/convert.js';
import type { Control } from './control.js';

/** What a deploy did, by service name. */
export interface DeployResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  removed: string[];
}

/** How long `stack rm` waits for a network's last task addresses to be let go. */
const NETWORK_RM_MS = 60_000;

const inStack = (labels: Record<string, string> | undefined, stack: string) => labels?.[STACK_LABEL] === stack;

/** Deploys `plan`; `say` hears each step ("Creating service app_web"). */
export async function deployStack(ctl: Control, plan: StackPlan, opts: { prune: boolean; say: (line: string) => void }): Promise<DeployResult> {
  const [{ services }, { networks }, { secrets }, { configs }] = await Promise.all([ctl.listServices({}), ctl.listNetworks({}), ctl.listSecrets({}), ctl.listConfigs({})]);
  const current = new Map(services.map((s) => [s.service!.spec!.name, s.service!]));
  const netByName = new Map(networks.map((n) => [n.spec!.name, n]));
  const secretByName = new Map(secrets.map((s) => [s.spec!.name, s]));
  const configByName = new Map(configs.map((c) => [c.spec!.name, c]));

  // Checks: nothing is written until all pass.
  for (const n of plan.networks) {
    const have = netByName.get(n.spec.name);
    if (n.external && !have) throw new NotFoundError(`network ${n.spec.name} is declared external but does not exist; create it first (orch network create ${n.spec.name})`);
    if (!n.external && have && !inStack(have.spec!.labels, plan.name)) throw new FailedPreconditionError(`network ${n.spec.name} exists and is not stack ${plan.name}'s; remove it or name the network otherwise`);
  }
  for (const [what, list, byName] of [['secret', plan.secrets, secretByName], ['config', plan.configs, configByName]] as const) {
    for (const f of list) {
      const have = byName.get(f.name);
      if (!f.data && !have) throw new NotFoundError(`${what} ${f.name} is declared external but does not exist; create it first (orch ${what} create ${f.name} FILE)`);
      if (f.data && have && !inStack(have.spec!.labels, plan.name)) throw new FailedPreconditionError(`${what} ${f.name} exists and is not stack ${plan.name}'s; remove it or name the ${what} otherwise`);
    }
  }
  for (const f of plan.configs) {
    const have = f.data && configByName.get(f.name);
    if (have && !Buffer.from(have.spec!.data).equals(Buffer.from(f.data!))) {
      throw new FailedPreconditionError(`config ${f.name} changed, and a config cannot change: give it a new name in the file (e.g. ${f.name.slice(plan.name.length + 1)}_v2) and deploy again`);
    }
  }
  const ours = new Set(plan.services.map((s) => s.name));
  for (const spec of plan.services) {
    const cur = current.get(spec.name);
    if (cur && !inStack(cur.spec!.labels, plan.name)) throw new FailedPreconditionError(`service ${spec.name} exists and is not stack ${plan.name}'s; remove it or rename the service in the file`);
    if (cur && cur.spec!.mode !== spec.mode) throw new FailedPreconditionError(`service ${spec.name}: its mode cannot change; remove it (orch service rm ${spec.name}) and deploy again`);
    for (const p of spec.endpoint?.ports ?? []) {
      const holder = p.publishedPort ? services.find((s) => !ours.has(s.service!.spec!.name) && s.service!.spec!.endpoint?.ports.some((q) => portName(q) === portName(p))) : undefined;
      if (holder) throw new FailedPreconditionError(`service ${spec.name}: port ${portName(p)} is already published by service ${holder.service!.spec!.name}; pick another published port`);
    }
  }

  for (const n of plan.networks) {
    if (n.external || netByName.has(n.spec.name)) continue;
    opts.say(`Creating network ${n.spec.name}`);
    await ctl.createNetwork(n.spec);
  }
  for (const f of plan.secrets) {
    if (!f.data || secretByName.has(f.name)) continue;
    opts.say(`Creating secret ${f.name}`);
    await ctl.createSecret({ name: f.name, labels: f.labels, data: f.data });
  }
  for (const f of plan.configs) {
    if (!f.data || configByName.has(f.name)) continue;
    opts.say(`Creating config ${f.name}`);
    await ctl.createConfig({ name: f.name, labels: f.labels, data: f.data });
  }
  const result: DeployResult = { created: [], updated: [], unchanged: [], removed: [] };
  for (const spec of plan.services) {
    const cur = current.get(spec.name);
    if (!cur) {
      opts.say(`Creating service ${spec.name}`);
      await ctl.createService(spec);
      result.created.push(spec.name);
      continue;
    }
    const next = await ctl.updateService({ ref: cur.id, version: cur.version, spec: keepAssigned(spec, cur), rebalance: false });
    if (next.version === cur.version) result.unchanged.push(spec.name);
    else {
      opts.say(`Updating service ${spec.name}`);
      result.updated.push(spec.name);
    }
  }
  if (opts.prune) {
    for (const s of services.map((x) => x.service!).filter((s) => inStack(s.spec!.labels, plan.name) && !ours.has(s.spec!.name))) {
      opts.say(`Removing service ${s.spec!.name}`);
      await ctl.removeService({ ref: s.id });
      result.removed.push(s.spec!.name);
    }
  }
  return result;
}

/** What the managers chose and the file does not say: a published port picked from the range, `update --force` counts. */
function keepAssigned(spec: ServiceSpec, cur: Service): ServiceSpec {
  const held = cur.spec!.endpoint?.ports ?? [];
  const ports = (spec.endpoint?.ports ?? []).map((p) => {
    if (p.publishedPort) return p;
    const same = held.find((q) => q.targetPort === p.targetPort && q.protocol === p.protocol && q.publishMode === p.publishMode);
    return same ? { ...p, publishedPort: same.publishedPort } : p;
  });
  return { ...spec, forceUpdate: cur.spec!.forceUpdate, endpoint: { mode: spec.endpoint?.mode ?? 0, ports } };
}

/** The names of the stacks that have services, each with its service count. */
export async function listStacks(ctl: Control): Promise<Array<{ name: string; services: number }>> {
  const count = new Map<string, number>();
  for (const { service } of (await ctl.listServices({})).services) {
    const stack = service!.spec!.labels[STACK_LABEL];
    if (stack) count.set(stack, (count.get(stack) ?? 0) + 1);
  }
  return [...count].sort(([a], [b]) => a.localeCompare(b)).map(([name, services]) => ({ name, services }));
}

/** Removes every service, network, secret and config labelled with the stack; nothing else. */
export async function removeStack(ctl: Control, stack: string, say: (line: string) => void): Promise<void> {
  const [{ services }, { networks }, { secrets }, { configs }] = await Promise.all([ctl.listServices({}), ctl.listNetworks({}), ctl.listSecrets({}), ctl.listConfigs({})]);
  const mine = services.map((s) => s.service!).filter((s) => inStack(s.spec!.labels, stack));
  const nets = networks.filter((n) => inStack(n.spec!.labels, stack));
  const files = [...secrets.filter((s) => inStack(s.spec!.labels, stack)).map((s) => ['secret', s.spec!.name] as const), ...configs.filter((c) => inStack(c.spec!.labels, stack)).map((c) => ['config', c.spec!.name] as const)];
  if (!mine.length && !nets.length && !files.length) throw new NotFoundError(`nothing found in stack: ${stack}`);
  for (const s of mine) {
    say(`Removing service ${s.spec!.name}`);
    await ctl.removeService({ ref: s.id });
  }
  for (const [what, name] of files) {
    say(`Removing ${what} ${name}`);
    await (what === 'secret' ? ctl.removeSecret({ ref: name }) : ctl.removeConfig({ ref: name }));
  }
  for (const n of nets) {
    say(`Removing network ${n.spec!.name}`);
    // Refused while the removed services' tasks still hold addresses on it: they are on their way out.
    const deadline = Date.now() + NETWORK_RM_MS;
    for (;;) {
      try {
        await ctl.removeNetwork({ ref: n.id });
        break;
      } catch (err) {
        if (!(err instanceof FailedPreconditionError) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
}

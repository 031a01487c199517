// The lab: N hosts on this machine (DESIGN.md §6). Each host is a network
// namespace on a shared bridge (underlay 198.18.<index>.0/24) with its own
// dockerd (own data root, exec root, socket, bridge range and cgroup parent),
// its own agent, and, on the first M hosts, an etcd member and a manager.
//
//   root namespace                 host h1 (netns orch-<lab>-h1)
//   bridge orch-<lab> 198.18.i.1 ── veth ── eth0 198.18.i.11: dockerd, etcd, manager, agent
//                                └─ veth ── eth0 198.18.i.12: dockerd, agent        (h2)
//
// Everything made is recorded in the state file and removed by `down`
// (down.ts), which also cleans leftovers of a killed run. A host's own life
// (namespace, daemons, join) is in hosts.ts; what happens to a host (killed,
// restarted, a daemon lost, cut off) in host-faults.ts.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, UnavailableError } from '../shared/errors.js';
import { waitForPort } from './etcd.js';
import { memberStatuses } from '../manager/store/members.js';
import { alive, killAndWait } from './processes.js';
import { sh } from '../shared/sh.js';
import { labDown } from './down.js';
import {
  createHost,
  etcdCertsOn,
  forwardRule,
  hostState,
  initOn,
  joinOn,
  joinToken,
  startAgent,
  startEtcdOn,
  startOrch,
  waitForNodes,
  type HostOptions,
} from './hosts.js';
import {
  checkLabName,
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  findHost,
  hostStateDir,
  labDir,
  labEtcdTls,
  loadState,
  MANAGER_PORT,
  saveState,
  stateFile,
  tryLoadState,
  UNDERLAY_PREFIX,
  type HostState,
  type LabState,
} from './state.js';

const MAX_HOSTS = 200;

export interface UpOptions {
  name: string;
  /** Picks the underlay subnet 198.18.<index>.0/24; labs side by side need different ones. */
  index: number;
  hosts: number;
  managers: number;
  /** Capacity each agent offers (default: the machine's). */
  cpus?: string;
  memory?: string;
  /** Flags added to every `orch manager` (e.g. `--compact-every 10s`). */
  managerArgs?: string[];
  /** etcd's --quota-backend-bytes on every member. */
  etcdQuotaBytes?: number;
  progress?: (line: string) => void;
}

/** Builds a lab from nothing (removing leftovers of one with the same name first). */
export async function labUp(o: UpOptions): Promise<LabState> {
  checkLabName(o.name);
  if (process.getuid?.() !== 0) throw new InvalidArgumentError('the lab needs root: it makes network namespaces and runs dockerd');
  if (!Number.isInteger(o.index) || o.index < 0 || o.index > 255) throw new InvalidArgumentError(`--index ${o.index}: give 0 to 255`);
  if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > MAX_HOSTS) throw new InvalidArgumentError(`--hosts ${o.hosts}: give 1 to ${MAX_HOSTS}`);
  if (!Number.isInteger(o.managers) || o.managers < 1 || o.managers > o.hosts) throw new InvalidArgumentError(`--managers ${o.managers}: give 1 to the number of hosts (${o.hosts})`);
  const say = o.progress ?? (() => undefined);
  await labDown(o.name, say);
  const taken = otherLabIndexes(o.name);
  if (taken.has(o.index)) throw new InvalidArgumentError(`underlay 198.18.${o.index}.0/24 is used by lab "${taken.get(o.index)}"; pick another --index`);

  const dir = labDir(o.name);
  mkdirSync(dir, { recursive: true });
  const bridge = `orch-${o.name}`;
  const bridgeAddr = `${UNDERLAY_PREFIX}.${o.index}.1`;
  const state: LabState = { name: o.name, index: o.index, dir, bridge, bridgeAddr, hosts: [], managers: [], etcd: [], managerArgs: o.managerArgs ?? [], etcdQuotaBytes: o.etcdQuotaBytes, createdAt: new Date().toISOString() };
  saveState(state); // from here on, `down` knows what to remove

  await sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await sh('ip', ['addr', 'add', `${bridgeAddr}/24`, 'dev', bridge]);
  await sh('ip', ['link', 'set', bridge, 'up']);
  // Docker's FORWARD policy is DROP; bridged traffic between lab hosts must pass.
  await sh('iptables', ['-I', 'FORWARD', '1', ...forwardRule(bridge)]);
  say(`bridge ${bridge} ${bridgeAddr}/24`);

  for (let i = 1; i <= o.hosts; i++) state.hosts.push(hostState(state, i, i <= o.managers, o));
  for (const h of state.hosts.filter((x) => x.manager)) {
    state.managers.push(`${h.addr}:${MANAGER_PORT}`);
    state.etcd.push(`https://${h.addr}:${ETCD_CLIENT_PORT}`);
  }
  saveState(state);

  await Promise.all(state.hosts.map((h) => createHost(state, h, say)));
  saveState(state);
  // What a person does on real hosts: etcd's certificates first, then etcd, locked.
  await etcdCertsOn(state, state.hosts[0]!, state.hosts.filter((h) => h.manager));
  await startEtcdCluster(state);
  say(`etcd: ${state.etcd.join(', ')}`);
  // What a person does on real hosts: init on the first manager, start it,
  // then join every other host with a token, managers first.
  const [first, ...rest] = state.hosts;
  await initOn(state, first!);
  startOrch(state, first!);
  saveState(state);
  if (!(await waitForPort(first!.addr, MANAGER_PORT, 15_000))) throw new UnavailableError(`the manager on ${first!.name} did not start; see ${join(first!.dir, 'manager.log')}`);
  const tokens = { manager: await joinToken(state, 'manager'), worker: await joinToken(state, 'worker') };
  await Promise.all(rest.filter((h) => h.manager).map((h) => joinOn(state, h, tokens.manager)));
  for (const h of rest.filter((x) => x.manager)) startOrch(state, h);
  await Promise.all(rest.filter((h) => !h.manager).map((h) => joinOn(state, h, tokens.worker)));
  for (const h of rest.filter((x) => !x.manager)) startOrch(state, h);
  saveState(state);
  say(`cluster initialised on ${first!.name}; ${rest.length} hosts joined with tokens`);
  await waitForNodes(state, state.hosts.length);
  say(`managers: ${state.managers.join(', ')}; ${state.hosts.length} nodes ready`);
  return state;
}

/** Adds a worker host to a running lab and waits until its node is ready. */
export async function labAdd(name: string, o: HostOptions = {}): Promise<HostState> {
  const state = loadState(name);
  const n = Math.max(0, ...state.hosts.map((h) => Number(h.name.slice(1)))) + 1;
  if (n > MAX_HOSTS) throw new InvalidArgumentError(`a lab has at most ${MAX_HOSTS} hosts`);
  const h = hostState(state, n, false, o);
  state.hosts.push(h);
  saveState(state);
  await createHost(state, h, o.progress ?? (() => undefined));
  await joinOn(state, h, await joinToken(state, 'worker'));
  startOrch(state, h);
  saveState(state);
  await waitForNodes(state, state.hosts.filter((x) => x.status !== 'killed').length);
  return h;
}

/**
 * The host joins again under a new node id, as a person does after `orch node
 * rm`: its agent stopped (killed), its credentials removed, `orch join` with a
 * fresh worker token, the agent started. Its containers stay: the new node
 * removes what the old one left.
 */
export async function labRejoin(name: string, host: string): Promise<void> {
  const state = loadState(name);
  const h = findHost(state, host);
  if (h.manager) throw new InvalidArgumentError(`${host} runs a manager: re-join a worker`);
  if (h.pids.agent) await killAndWait([h.pids.agent]);
  rmSync(hostStateDir(h), { recursive: true, force: true });
  await joinOn(state, h, await joinToken(state, 'worker'));
  startAgent(state, h);
  saveState(state);
}

/** Starts every manager host's etcd member as one new cluster (on data they already have, the same cluster). */
async function startEtcdCluster(state: LabState): Promise<void> {
  const members = state.hosts.filter((h) => h.manager);
  const initialCluster = members.map((h) => `${h.name}=https://${h.addr}:${ETCD_PEER_PORT}`).join(',');
  for (const h of members) h.pids.etcd = startEtcdOn(state, h, initialCluster);
  saveState(state);
  for (const h of members) {
    if (!(await waitForPort(h.addr, ETCD_CLIENT_PORT, 15_000))) throw new UnavailableError(`etcd on ${h.name} did not start; see ${join(h.dir, 'etcd.log')}`);
  }
  // Listening is not serving: every member answers and knows its leader before anyone is let at it.
  for (let i = 0; i < 60; i++) {
    const statuses = await memberStatuses(state.etcd.join(','), labEtcdTls(state));
    if (statuses.every((m) => m.answering && m.hasLeader)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new UnavailableError(`the lab's etcd did not elect a leader within 15 s; see each manager host's etcd.log`);
}

/** Loses the store for good, as a restore drill starts: kills every etcd member, removes its data, and starts a new, empty etcd cluster. */
export async function labNewEtcd(name: string): Promise<void> {
  const state = loadState(name);
  const members = state.hosts.filter((h) => h.manager);
  await killAndWait(members.map((h) => h.pids.etcd).filter((p): p is number => !!p && alive(p)));
  for (const h of members) rmSync(join(h.dir, 'etcd'), { recursive: true, force: true });
  await startEtcdCluster(state);
}

/** The environment a command run "on" the host gets: its Docker socket. */
export function hostEnv(h: HostState): NodeJS.ProcessEnv {
  return { ...process.env, DOCKER_HOST: `unix://${h.dockerSocket}`, ORCH_MANAGER: undefined };
}

/** Whether each of the host's daemons is alive, as `lab ls` shows it. */
export function hostProcesses(h: HostState): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const [k, pid] of Object.entries(h.pids)) out[k] = alive(pid);
  return out;
}

// ---------------------------------------------------------------- helpers --

/** Labs on this machine other than `name`, by underlay index. */
function otherLabIndexes(name: string): Map<number, string> {
  const out = new Map<number, string>();
  const base = join(labDir(name), '..');
  for (const other of existsSync(base) ? readdirSync(base) : []) {
    if (other === name || !existsSync(stateFile(other))) continue;
    const s = tryLoadState(other);
    if (s) out.set(s.index, s.name);
  }
  return out;
}

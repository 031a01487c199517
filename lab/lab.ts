// The lab: N hosts on this machine (DESIGN.md §6). Each host is a network
// namespace on a shared bridge (underlay 198.18.<index>.0/24) with its own
// dockerd (own data root, exec root, socket, bridge range and cgroup parent),
// its own agent, and, on the first M hosts, an etcd member and a manager.
//
//   root namespace                 host h1 (netns orch-<lab>-h1)
//   bridge orch-<lab> 198.18.i.1 ── veth ── eth0 198.18.i.11: dockerd, etcd, manager, agent
//                                └─ veth ── eth0 198.18.i.12: dockerd, agent        (h2)
//
// kill = SIGKILL of every process in the host's namespace and of its
// containers (found by cgroup); restart = the same processes again on the old
// data; partition = the host's link down. Everything made is recorded in the
// state file and removed by `down`, which also cleans leftovers of a killed run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { NodeState } from '../proto/generated/orch.js';
import { connect } from '../cli/client.js';
import { InvalidArgumentError, UnavailableError } from '../shared/errors.js';
import { etcdArgs, waitForPort } from './etcd.js';
import { MAIN, runOrch } from './run.js';
import { loadTls, nodeIdIn } from '../shared/tls/credentials.js';
import { PLUGIN_DIR } from '../agent/network/plugin.js';
import { alive, cgroupPids, killAndWait, netnsInodePids, netnsPids, removeCgroups, spawnIn, terminate } from './processes.js';
import { sh, shQuiet } from '../shared/sh.js';
import {
  checkLabName,
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  findHost,
  hostStateDir,
  labAdminDir,
  labCliDir,
  labDir,
  loadState,
  MANAGER_PORT,
  saveState,
  stateFile,
  tryLoadState,
  UNDERLAY_PREFIX,
  type HostState,
  type LabState,
} from './state.js';

const BUILD_IMAGES = resolve(import.meta.dirname, '../../scripts/build-test-images.sh');
const MAX_HOSTS = 200;
const READY_TIMEOUT_MS = 60_000;

export interface UpOptions {
  name: string;
  /** Picks the underlay subnet 198.18.<index>.0/24; labs side by side need different ones. */
  index: number;
  hosts: number;
  managers: number;
  /** Capacity each agent offers (default: the machine's). */
  cpus?: string;
  memory?: string;
  progress?: (line: string) => void;
}

export interface HostOptions {
  cpus?: string;
  memory?: string;
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
  const state: LabState = { name: o.name, index: o.index, dir, bridge, bridgeAddr, hosts: [], managers: [], etcd: [], createdAt: new Date().toISOString() };
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
    state.etcd.push(`http://${h.addr}:${ETCD_CLIENT_PORT}`);
  }
  saveState(state);

  await Promise.all(state.hosts.map((h) => createHost(state, h, say)));
  saveState(state);
  const initialCluster = state.hosts.filter((h) => h.manager).map((h) => `${h.name}=http://${h.addr}:${ETCD_PEER_PORT}`).join(',');
  for (const h of state.hosts.filter((x) => x.manager)) h.pids.etcd = startEtcdOn(h, initialCluster);
  saveState(state);
  for (const h of state.hosts.filter((x) => x.manager)) {
    if (!(await waitForPort(h.addr, ETCD_CLIENT_PORT, 15_000))) throw new UnavailableError(`etcd on ${h.name} did not start; see ${join(h.dir, 'etcd.log')}`);
  }
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

/** SIGKILLs everything of the host: its daemons and its containers. */
export async function labKill(name: string, host: string): Promise<void> {
  const state = loadState(name);
  const h = findHost(state, host);
  await killHost(h);
  h.status = 'killed';
  h.pids = {};
  saveState(state);
}

/** Brings a host back on its old data: dockerd, etcd and manager if it has them, agent. */
export async function labRestart(name: string, host: string, progress?: (line: string) => void): Promise<void> {
  const state = loadState(name);
  const h = findHost(state, host);
  await killHost(h);
  if (h.status === 'partitioned') await sh('ip', ['link', 'set', h.veth, 'up']);
  // dockerd restores its networks at start and waits for their driver, which
  // is the agent: both start together, or dockerd hangs on the plugin.
  spawnDocker(h);
  if (h.manager) h.pids.etcd = startEtcdOn(h, '');
  startOrch(state, h);
  await dockerUp(h, progress ?? (() => undefined));
  h.status = 'up';
  saveState(state);
}

/** SIGKILLs only the host's agent and starts it again (its containers and the kernel state stay). */
export async function labRestartAgent(name: string, host: string): Promise<void> {
  const state = loadState(name);
  const h = findHost(state, host);
  if (h.pids.agent) await killAndWait([h.pids.agent]);
  startAgent(state, h);
  saveState(state);
}

export type Daemon = 'dockerd' | 'etcd' | 'manager' | 'agent';

/** Signals one daemon of a host; after SIGKILL, waits until it is gone and forgets its pid. */
export async function labSignal(name: string, host: string, daemon: Daemon, sig: NodeJS.Signals): Promise<void> {
  const state = loadState(name);
  const h = findHost(state, host);
  const pid = h.pids[daemon];
  if (!pid || !alive(pid)) throw new InvalidArgumentError(`${host} runs no ${daemon}`);
  if (sig !== 'SIGKILL') {
    process.kill(pid, sig);
    return;
  }
  await killAndWait([pid]);
  delete h.pids[daemon];
  saveState(state);
}

/** Starts a host's dockerd or etcd member again, or its manager (again, or on a promoted worker), on its data. */
export async function labStartDaemon(name: string, host: string, daemon: 'dockerd' | 'etcd' | 'manager'): Promise<void> {
  const state = loadState(name);
  const h = findHost(state, host);
  if (daemon === 'etcd' && !h.manager) throw new InvalidArgumentError(`${host} has no etcd member`);
  if (daemon === 'manager' && loadTls(hostStateDir(h)).identity.role !== 'manager') throw new InvalidArgumentError(`${host} holds no manager certificate: \`orch node promote ${host}\` first`);
  if (alive(h.pids[daemon])) throw new InvalidArgumentError(`${host}'s ${daemon} is running`);
  if (daemon === 'dockerd') {
    // The agent still runs: the engine finds its network plugin at start.
    spawnDocker(h);
    await dockerUp(h, () => undefined);
  } else if (daemon === 'etcd') h.pids.etcd = startEtcdOn(h, '');
  else h.pids.manager = startManager(state, h);
  saveState(state);
}

/** Cuts the host off the underlay (its link goes down); its processes keep running. */
export function labPartition(name: string, host: string): Promise<void> {
  return setLink(name, host, false);
}

/** Undoes a partition. */
export function labHeal(name: string, host: string): Promise<void> {
  return setLink(name, host, true);
}

async function setLink(name: string, host: string, up: boolean): Promise<void> {
  const state = loadState(name);
  const h = findHost(state, host);
  await sh('ip', ['link', 'set', h.veth, up ? 'up' : 'down']);
  if (!up) h.status = 'partitioned';
  else if (h.status === 'partitioned') h.status = 'up';
  saveState(state);
}

/** The environment a command run "on" the host gets: its Docker socket. */
export function hostEnv(h: HostState): NodeJS.ProcessEnv {
  return { ...process.env, DOCKER_HOST: `unix://${h.dockerSocket}`, ORCH_MANAGER: undefined };
}

/**
 * Removes everything a lab of this name made, from its state file and, for
 * leftovers of a run that was killed before it could record them, by name.
 * Safe to run when nothing is there.
 */
export async function labDown(name: string, progress?: (line: string) => void): Promise<LabState | undefined> {
  checkLabName(name);
  const say = progress ?? (() => undefined);
  const state = tryLoadState(name);
  const prefix = `orch-${name}-h`;
  const namespaces = (await sh('ip', ['netns', 'list']).catch(() => ''))
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)));
  const recorded = state?.hosts ?? [];
  const cgroups = new Set([...namespaces, ...recorded.map((h) => h.cgroupParent)]);
  // Kill in rounds: a process born while the previous round was dying (a
  // container shim, say) is caught by the next one.
  for (let round = 0; round < 5; round++) {
    const pids = new Set<number>(round === 0 ? recorded.flatMap((h) => Object.values(h.pids).filter((p): p is number => !!p)) : []);
    for (const ns of namespaces) for (const p of await netnsPids(ns)) pids.add(p);
    for (const h of recorded) if (h.netnsInode) for (const p of netnsInodePids(h.netnsInode)) pids.add(p);
    for (const cg of cgroups) for (const p of cgroupPids(cg)) pids.add(p);
    const live = [...pids].filter(alive);
    if (live.length === 0) break;
    say(`stopping ${live.length} processes`);
    await terminate(live, round === 0 ? 3000 : 500);
  }
  // What the hosts' agents made outside the lab's own dirs: network namespaces and plugin sockets.
  for (const nodeId of recorded.map((h) => readNodeId(h)).filter((x): x is string => !!x)) {
    const short = nodeId.slice(0, 12);
    for (const ns of (await sh('ip', ['netns', 'list']).catch(() => '')).split('\n').map((l) => l.split(' ')[0]!)) {
      if (ns.startsWith(`orchnet-${short}-`)) await shQuiet('ip', ['netns', 'del', ns]);
    }
    rmSync(join(PLUGIN_DIR, `orch-${short}.sock`), { force: true });
  }
  unmountUnder(labDir(name));
  for (const cg of cgroups) removeCgroups(cg);
  for (const ns of namespaces) await shQuiet('ip', ['netns', 'del', ns]);
  // A host end whose namespace outlived its name (something held it) still holds the link name.
  for (const h of recorded) await shQuiet('ip', ['link', 'del', h.veth]);
  const bridge = state?.bridge ?? `orch-${name}`;
  for (let i = 0; i < 10; i++) {
    try {
      await sh('iptables', ['-D', 'FORWARD', ...forwardRule(bridge)]);
    } catch {
      break;
    }
  }
  await shQuiet('ip', ['link', 'del', bridge]);
  rmSync(labDir(name), { recursive: true, force: true });
  if (state || namespaces.length > 0) say(`lab ${name} removed`);
  return state;
}

/** Whether each of the host's daemons is alive, as `lab ls` shows it. */
export function hostProcesses(h: HostState): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const [k, pid] of Object.entries(h.pids)) out[k] = alive(pid);
  return out;
}

// ------------------------------------------------------------------ hosts --

function hostState(state: LabState, n: number, manager: boolean, o: HostOptions): HostState {
  const name = `h${n}`;
  const dir = join(state.dir, name);
  return {
    name,
    netns: `orch-${state.name}-${name}`,
    veth: `o${state.name}${name}`,
    addr: `${UNDERLAY_PREFIX}.${state.index}.${10 + n}`,
    dir,
    dockerSocket: join(dir, 'docker.sock'),
    cgroupParent: `orch-${state.name}-${name}`,
    manager,
    cpus: o.cpus,
    memory: o.memory,
    status: 'up',
    pids: {},
  };
}

async function createHost(state: LabState, h: HostState, say: (line: string) => void): Promise<void> {
  mkdirSync(h.dir, { recursive: true });
  await sh('ip', ['netns', 'add', h.netns]);
  h.netnsInode = statSync(`/var/run/netns/${h.netns}`).ino;
  await sh('ip', ['link', 'add', h.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns]);
  await sh('ip', ['link', 'set', h.veth, 'master', state.bridge, 'up']);
  await sh('ip', ['-n', h.netns, 'addr', 'add', `${h.addr}/24`, 'dev', 'eth0']);
  await sh('ip', ['-n', h.netns, 'link', 'set', 'eth0', 'up']);
  await sh('ip', ['-n', h.netns, 'link', 'set', 'lo', 'up']);
  await startDocker(h, say);
  await sh('bash', [BUILD_IMAGES, `unix://${h.dockerSocket}`], { timeoutMs: 60_000 });
  say(`${h.name}: ${h.addr}, dockerd ready, test images loaded`);
}

async function startDocker(h: HostState, say: (line: string) => void): Promise<void> {
  spawnDocker(h);
  await dockerUp(h, say);
}

function spawnDocker(h: HostState): void {
  const pidfile = join(h.dir, 'docker.pid');
  // A SIGKILLed dockerd leaves its pid file (and would refuse to start) and its
  // containerd's (and would wait for that pid, possibly a zombie or reused).
  rmSync(pidfile, { force: true });
  rmSync(join(h.dir, 'exec', 'containerd', 'containerd.pid'), { force: true });
  const n = Number(h.name.slice(1));
  h.pids.dockerd = spawnIn(h.netns, 'dockerd', [
    '--data-root', join(h.dir, 'docker'),
    '--exec-root', join(h.dir, 'exec'),
    '--pidfile', pidfile,
    '-H', `unix://${h.dockerSocket}`,
    '--bip', `172.31.${n}.1/24`,
    '--cgroup-parent', h.cgroupParent,
    '--log-level', 'warn',
  ], join(h.dir, 'dockerd.log'));
}

/** Waits (at most 30 s) until the host's dockerd answers. */
async function dockerUp(h: HostState, say: (line: string) => void): Promise<void> {
  const docker = new Docker({ socketPath: h.dockerSocket });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await docker.ping().then(() => true, () => false)) return;
    if (!alive(h.pids.dockerd)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  say(`${h.name}: dockerd failed`);
  const tail = readFileSync(join(h.dir, 'dockerd.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
  throw new UnavailableError(`dockerd on ${h.name} did not come up (${tail}); see ${join(h.dir, 'dockerd.log')}`);
}

function startEtcdOn(h: HostState, initialCluster: string): number {
  const args = etcdArgs({ name: h.name, dataDir: join(h.dir, 'etcd'), clientPort: ETCD_CLIENT_PORT, peerPort: ETCD_PEER_PORT, host: h.addr, initialCluster: initialCluster || undefined });
  mkdirSync(join(h.dir, 'etcd'), { recursive: true });
  return spawnIn(h.netns, 'etcd', args, join(h.dir, 'etcd.log'));
}

const daemonEnv = () => ({ ...process.env, ORCH_LOG_LEVEL: process.env.ORCH_LOG_LEVEL ?? 'info' });

/** `orch init` on the host, as a person runs it; the CLI's context and admin certificate land in the lab's cli dir. */
async function initOn(state: LabState, h: HostState): Promise<void> {
  await orchOn(h, ['init', '--etcd', state.etcd.join(','), '--state-dir', hostStateDir(h), '--advertise', `${h.addr}:${MANAGER_PORT}`], { ORCH_CONFIG_DIR: labCliDir(state) });
}

/** `orch join-token -q ROLE`, with the lab's admin certificate. */
async function joinToken(state: LabState, role: 'worker' | 'manager'): Promise<string> {
  const r = await runOrch({ ORCH_MANAGER: state.managers.join(','), ORCH_TLS_DIR: labAdminDir(state) }, ['join-token', '-q', role]);
  if (r.code !== 0) throw new UnavailableError(`orch join-token ${role} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** `orch join` on the host, as a person runs it. */
async function joinOn(state: LabState, h: HostState, token: string): Promise<void> {
  await orchOn(h, ['join', '--token', token, '--state-dir', hostStateDir(h), '--hostname', h.name, state.managers[0]!]);
}

/** Runs an `orch` command in the host's network namespace and waits for it. */
async function orchOn(h: HostState, args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
  await sh('nsenter', [`--net=/var/run/netns/${h.netns}`, process.execPath, MAIN, ...args], { env: { ...process.env, ...env } });
}

/** Starts the manager (on manager hosts) and the agent. */
function startOrch(state: LabState, h: HostState): void {
  if (h.manager) h.pids.manager = startManager(state, h);
  startAgent(state, h);
}

function startManager(state: LabState, h: HostState): number {
  const args = [MAIN, 'manager', '--etcd', state.etcd.join(','), '--listen', `${h.addr}:${MANAGER_PORT}`, '--state-dir', hostStateDir(h)];
  return spawnIn(h.netns, process.execPath, args, join(h.dir, 'manager.log'), daemonEnv());
}

function startAgent(state: LabState, h: HostState): void {
  const agentArgs = [MAIN, '--manager', state.managers.join(','), 'agent', '--docker-socket', h.dockerSocket, '--state-dir', hostStateDir(h), '--hostname', h.name, '--addr', h.addr, '--cluster', state.name];
  if (h.cpus) agentArgs.push('--cpus', h.cpus);
  if (h.memory) agentArgs.push('--memory', h.memory);
  h.pids.agent = spawnIn(h.netns, process.execPath, agentArgs, join(h.dir, 'agent.log'), daemonEnv());
}

async function killHost(h: HostState): Promise<void> {
  const pids = new Set([...(await netnsPids(h.netns)), ...cgroupPids(h.cgroupParent)]);
  await killAndWait([...pids]);
}

/** Waits until at least `count` nodes are ready, asking the lab's managers. */
async function waitForNodes(state: LabState, count: number): Promise<void> {
  const ctl = connect(state.managers.join(','), loadTls(labAdminDir(state)));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let ready = 0;
  try {
    while (Date.now() < deadline) {
      const { nodes } = await ctl.listNodes({}).catch(() => ({ nodes: [] }));
      ready = nodes.filter((n) => n.state === NodeState.NODE_READY).length;
      if (ready >= count) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    ctl.close();
  }
  throw new UnavailableError(`only ${ready} of ${count} lab nodes became ready within ${READY_TIMEOUT_MS / 1000}s; logs are in ${state.dir}/h*/`);
}

// ---------------------------------------------------------------- helpers --

/** The node id in the host's certificate, if it joined. */
export function readNodeId(h: HostState): string | undefined {
  try {
    return nodeIdIn(hostStateDir(h));
  } catch {
    return undefined;
  }
}

function forwardRule(bridge: string): string[] {
  return ['-i', bridge, '-o', bridge, '-j', 'ACCEPT', '-m', 'comment', '--comment', 'orch lab'];
}

/** dockerd leaves bind mounts (its data root, namespaces) behind when killed. */
function unmountUnder(dir: string): void {
  if (!existsSync('/proc/self/mounts')) return;
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  // umount(2) is not in Node; the lab may shell out (lazy: a busy mount goes when freed).
  for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore', timeout: 10_000 });
}

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

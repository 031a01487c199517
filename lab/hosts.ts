// A lab host's life: its state record, its namespace and link, its dockerd
// (with the test images), its etcd member, `orch init`/`join` on it, its
// manager and agent, killing everything it runs, and waiting for its node.
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { NodeState } from '../proto/generated/orch.js';
import { connect } from '../client/control.js';
import { UnavailableError } from '../shared/errors.js';
import { etcdArgs } from './etcd.js';
import { MAIN, runOrch } from './run.js';
import { loadTls, nodeIdIn } from '../shared/tls/credentials.js';
import { alive, cgroupPids, killAndWait, netnsPids, spawnIn } from './processes.js';
import { sh } from '../shared/sh.js';
import {
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  hostStateDir,
  labAdminDir,
  labCliDir,
  labEtcdPkiDir,
  MANAGER_PORT,
  MANAGER_METRICS_PORT,
  UI_PORT,
  AGENT_METRICS_PORT,
  UNDERLAY_PREFIX,
  type HostState,
  type LabState,
} from './state.js';


/** What a new host gets: its capacity as the agent reports it (the lab's hosts share one machine). */
export interface HostOptions {
  cpus?: string;
  memory?: string;
  progress?: (line: string) => void;
}

const BUILD_IMAGES = resolve(import.meta.dirname, '../../scripts/build-test-images.sh');
const READY_TIMEOUT_MS = 60_000;

export function hostState(state: LabState, n: number, manager: boolean, o: HostOptions): HostState {
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

export async function createHost(state: LabState, h: HostState, say: (line: string) => void): Promise<void> {
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

export async function startDocker(h: HostState, say: (line: string) => void): Promise<void> {
  spawnDocker(h);
  await dockerUp(h, say);
}

export function spawnDocker(h: HostState): void {
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
    // Containers outlive a dockerd restart (an upgrade, a crash), as on a real host set up per docs/deploy.md.
    '--live-restore',
    '--log-level', 'warn',
  ], join(h.dir, 'dockerd.log'));
}

/** Waits (at most 30 s) until the host's dockerd answers. */
export async function dockerUp(h: HostState, say: (line: string) => void): Promise<void> {
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

/** `orch etcd certs` on the host, before etcd runs: etcd's CA in its state directory, a certificate for each member. */
export async function etcdCertsOn(state: LabState, h: HostState, members: HostState[]): Promise<void> {
  await orchOn(h, ['etcd', 'certs', '--state-dir', hostStateDir(h), '--out', labEtcdPkiDir(state), ...members.map((m) => `${m.name}=${m.addr}`)]);
}

export function startEtcdOn(state: LabState, h: HostState, initialCluster: string): number {
  const pki = join(labEtcdPkiDir(state), h.name);
  const tls = { ca: join(pki, 'ca.crt'), cert: join(pki, 'server.crt'), key: join(pki, 'server.key') };
  const args = etcdArgs({ name: h.name, dataDir: join(h.dir, 'etcd'), clientPort: ETCD_CLIENT_PORT, peerPort: ETCD_PEER_PORT, host: h.addr, initialCluster: initialCluster || undefined, quotaBytes: state.etcdQuotaBytes, tls });
  mkdirSync(join(h.dir, 'etcd'), { recursive: true });
  return spawnIn(h.netns, 'etcd', args, join(h.dir, 'etcd.log'));
}

const daemonEnv = () => ({ ...process.env, ORCH_LOG_LEVEL: process.env.ORCH_LOG_LEVEL ?? 'info' });

/** `orch init` on the host, as a person runs it; the CLI's context and admin certificate land in the lab's cli dir. */
export async function initOn(state: LabState, h: HostState): Promise<void> {
  await orchOn(h, ['init', '--etcd', state.etcd.join(','), '--state-dir', hostStateDir(h), '--advertise', `${h.addr}:${MANAGER_PORT}`], { ORCH_CONFIG_DIR: labCliDir(state) });
}

/** `orch join-token -q ROLE`, with the lab's admin certificate. */
export async function joinToken(state: LabState, role: 'worker' | 'manager'): Promise<string> {
  const r = await runOrch({ ORCH_MANAGER: state.managers.join(','), ORCH_TLS_DIR: labAdminDir(state) }, ['join-token', '-q', role]);
  if (r.code !== 0) throw new UnavailableError(`orch join-token ${role} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** `orch join` on the host, as a person runs it. */
export async function joinOn(state: LabState, h: HostState, token: string): Promise<void> {
  await orchOn(h, ['join', '--token', token, '--state-dir', hostStateDir(h), '--hostname', h.name, state.managers[0]!]);
}

/** Runs an `orch` command in the host's network namespace and waits for it. */
async function orchOn(h: HostState, args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
  await sh('nsenter', [`--net=/var/run/netns/${h.netns}`, process.execPath, MAIN, ...args], { env: { ...process.env, ...env } });
}

/** Starts the manager (on manager hosts) and the agent. */
export function startOrch(state: LabState, h: HostState): void {
  if (h.manager) h.pids.manager = startManager(state, h);
  startAgent(state, h);
}

export function startManager(state: LabState, h: HostState): number {
  const args = [MAIN, 'manager', '--etcd', state.etcd.join(','), '--listen', `${h.addr}:${MANAGER_PORT}`, '--state-dir', hostStateDir(h), '--metrics-addr', `${h.addr}:${MANAGER_METRICS_PORT}`, '--ui-addr', `${h.addr}:${UI_PORT}`, ...(state.managerArgs ?? [])];
  return spawnIn(h.netns, process.execPath, args, join(h.dir, 'manager.log'), daemonEnv());
}

export function startAgent(state: LabState, h: HostState): void {
  const agentArgs = [MAIN, '--manager', state.managers.join(','), 'agent', '--docker-socket', h.dockerSocket, '--state-dir', hostStateDir(h), '--hostname', h.name, '--addr', h.addr, '--cluster', state.name, '--metrics-addr', `${h.addr}:${AGENT_METRICS_PORT}`];
  if (h.cpus) agentArgs.push('--cpus', h.cpus);
  if (h.memory) agentArgs.push('--memory', h.memory);
  h.pids.agent = spawnIn(h.netns, process.execPath, agentArgs, join(h.dir, 'agent.log'), daemonEnv());
}

export async function killHost(h: HostState): Promise<void> {
  const pids = new Set([...(await netnsPids(h.netns)), ...cgroupPids(h.cgroupParent)]);
  await killAndWait([...pids]);
}

/** Waits until at least `count` nodes are ready, asking the lab's managers. */
export async function waitForNodes(state: LabState, count: number): Promise<void> {
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

/** The node id in the host's certificate, if it joined. */
export function readNodeId(h: HostState): string | undefined {
  try {
    return nodeIdIn(hostStateDir(h));
  } catch {
    return undefined;
  }
}

/** The FORWARD rule that lets the lab bridge through (Docker sets the policy to DROP). */
export function forwardRule(bridge: string): string[] {
  return ['-i', bridge, '-o', bridge, '-j', 'ACCEPT', '-m', 'comment', '--comment', 'orch lab'];
}

// A lab seen from a test or benchmark: brings one up under its own name and
// underlay, runs the CLI against its managers (never touching the user's CLI
// context), and reads what each host's engine really runs.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { Task, TaskState } from '../proto/generated/orch.js';
import { LABEL } from '../agent/exec/labels.js';
import { labDown } from './down.js';
import { readNodeId } from './hosts.js';
import { labAdd, labNewEtcd, labRejoin, labUp, type UpOptions } from './lab.js';
import { labHeal, labKill, labPartition, labRestart, labRestartAgent, labSignal, labStartDaemon, type Daemon } from './host-faults.js';
import { connectEtcd, keys, type EtcdClient } from '../manager/store/index.js';
import { labAdminDir, labEtcdTls, loadState, type HostState, type LabState } from './state.js';
import { connect, type Control } from '../client/control.js';
import { loadTls } from '../shared/tls/credentials.js';
import { followOrch, runOrch, waitFor, type RunResult } from './run.js';
import { sh } from '../shared/sh.js';

export class LabCluster {
  private readonly configDir = mkdtempSync(join(tmpdir(), 'orch-lab-cli-'));
  private etcd: EtcdClient | undefined;

  private constructor(public state: LabState) {}

  static async up(o: UpOptions): Promise<LabCluster> {
    return new LabCluster(await labUp(o));
  }

  get name(): string {
    return this.state.name;
  }

  /** Runs `orch ARGS` against the lab's managers, with the lab's admin certificate. */
  orch(...args: string[]): Promise<RunResult> {
    return runOrch(this.env(), args);
  }

  /** Starts `orch ARGS` that runs until stopped (`events`), its output into `file`; returns how to stop it. */
  follow(file: string, ...args: string[]): () => Promise<void> {
    return followOrch(this.env(), args, file);
  }

  private env(): NodeJS.ProcessEnv {
    return { ORCH_MANAGER: this.state.managers.join(','), ORCH_CONFIG_DIR: this.configDir, ORCH_TLS_DIR: labAdminDir(this.state) };
  }

  /** A control client on the lab's managers with the admin certificate. */
  control(): Control {
    return connect(this.state.managers.join(','), loadTls(labAdminDir(this.state)));
  }

  /** Like orch(), but throws with its stderr unless it exits 0. */
  async ok(...args: string[]): Promise<string> {
    const r = await this.orch(...args);
    if (r.code !== 0) throw new Error(`orch ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** The service's tasks, as `service ps --format json` reports them. */
  async tasks(service: string): Promise<Task[]> {
    return (JSON.parse(await this.ok('service', 'ps', service, '--format', 'json')) as unknown[]).map((j) => Task.fromJSON(j));
  }

  /** Hostname of every node id. */
  async hostnames(): Promise<Map<string, string>> {
    const nodes = JSON.parse(await this.ok('node', 'ls', '--format', 'json')) as Array<{ id: string; description?: { hostname?: string } }>;
    return new Map(nodes.map((n) => [n.id, n.description?.hostname ?? n.id]));
  }

  /** The last `lines` lines of every host's manager and agent logs, headed by host and daemon (for a failed test's report). */
  logTails(lines = 20): string {
    const out: string[] = [];
    for (const h of this.state.hosts) {
      for (const daemon of ['manager', 'agent']) {
        const file = join(h.dir, `${daemon}.log`);
        if (!existsSync(file)) continue;
        const tail = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
        if (tail.join('') !== '') out.push(`--- ${h.name} ${daemon}.log`, ...tail);
      }
    }
    return out.join('\n');
  }

  /** Running tasks (desired running) per host, as the managers see them. */
  async placement(service: string): Promise<Record<string, number>> {
    const names = await this.hostnames();
    const out: Record<string, number> = {};
    for (const t of await this.tasks(service)) {
      if (t.desiredState !== TaskState.RUNNING || t.status?.state !== TaskState.RUNNING) continue;
      const host = names.get(t.nodeId) ?? t.nodeId;
      out[host] = (out[host] ?? 0) + 1;
    }
    return out;
  }

  host(name: string): HostState {
    const h = this.state.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** The node id in the host's certificate (empty before it joined). */
  nodeId(host: string): string {
    return readNodeId(this.host(host)) ?? '';
  }

  /** The host's own Docker Engine. */
  engine(host: string): Docker {
    return new Docker({ socketPath: this.host(host).dockerSocket });
  }

  /** What the host's own engine runs for a service (running only, unless `all`). */
  async containers(host: string, service: string, all = false): Promise<Docker.ContainerInfo[]> {
    return this.engine(host).listContainers({ all, filters: { label: [`${LABEL.cluster}=${this.name}`, `${LABEL.serviceName}=${service}`] } });
  }

  /** Runs a shell command in a container on a host; resolves with its output (throws on a non-zero exit). */
  exec(host: string, containerId: string, cmd: string): Promise<string> {
    return sh('docker', ['-H', `unix://${this.host(host).dockerSocket}`, 'exec', containerId, 'sh', '-c', cmd], { timeoutMs: 20_000 });
  }

  /** Runs a command in a lab host's network namespace. */
  onHost(host: string, cmd: string, args: string[]): Promise<string> {
    return sh('nsenter', [`--net=/var/run/netns/${this.host(host).netns}`, cmd, ...args]);
  }

  /** Running containers of a service on every live host, by host. */
  async running(service: string): Promise<Record<string, Docker.ContainerInfo[]>> {
    const out: Record<string, Docker.ContainerInfo[]> = {};
    for (const h of this.state.hosts.filter((x) => x.status !== 'killed')) out[h.name] = await this.containers(h.name, service).catch(() => []);
    return out;
  }

  waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    return waitFor(check, timeoutMs, what);
  }

  kill(host: string): Promise<void> {
    return this.afterOp(labKill(this.name, host));
  }

  restart(host: string): Promise<void> {
    return this.afterOp(labRestart(this.name, host));
  }

  restartAgent(host: string): Promise<void> {
    return this.afterOp(labRestartAgent(this.name, host));
  }

  /** Joins the (worker) host again under a new node id; see labRejoin. */
  rejoin(host: string): Promise<void> {
    return this.afterOp(labRejoin(this.name, host));
  }

  partition(host: string): Promise<void> {
    return this.afterOp(labPartition(this.name, host));
  }

  heal(host: string): Promise<void> {
    return this.afterOp(labHeal(this.name, host));
  }

  /** Signals one daemon of a host (SIGKILL waits until it is gone). */
  signal(host: string, daemon: Daemon, sig: NodeJS.Signals): Promise<void> {
    return this.afterOp(labSignal(this.name, host, daemon, sig));
  }

  /** Starts a killed dockerd, etcd member or manager again. */
  startDaemon(host: string, daemon: Daemon): Promise<void> {
    return this.afterOp(labStartDaemon(this.name, host, daemon));
  }

  /** Replaces the whole etcd with a new, empty one (see labNewEtcd). */
  newEtcd(): Promise<void> {
    return this.afterOp(labNewEtcd(this.name));
  }

  /** The host whose manager leads, as the leader key in etcd says (undefined: none now). */
  async leaderHost(): Promise<string | undefined> {
    // One client for the lab's life: it learns which members went silent, as a manager's does.
    this.etcd ??= connectEtcd(this.state.etcd.join(','), labEtcdTls(this.state));
    const raw = await this.etcd.get(keys.leader()).string();
    if (!raw) return undefined;
    const { addr } = JSON.parse(raw) as { addr: string };
    return this.state.hosts.find((h) => addr.startsWith(`${h.addr}:`))?.name;
  }

  async add(o: { cpus?: string; memory?: string } = {}): Promise<HostState> {
    const h = await labAdd(this.name, o);
    this.reload();
    return h;
  }

  async down(): Promise<void> {
    this.etcd?.close();
    await labDown(this.name);
    rmSync(this.configDir, { recursive: true, force: true });
  }

  /** Waits for a lab operation, then re-reads the state it changed. */
  private async afterOp(op: Promise<void>): Promise<void> {
    await op;
    this.reload();
  }

  private reload(): void {
    this.state = loadState(this.name);
  }
}

// A real single-host cluster of real processes, for end-to-end tests and
// benchmarks: a throwaway etcd, and the `orch manager` and `orch agent`
// processes (dist/cli/main.js) on the local Docker Engine. Each cluster stamps
// its own cluster id on its containers, so clusters running side by side never
// touch each other's (or anyone's) containers.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { LABEL } from '../agent/exec/labels.js';
import { PLUGIN_DIR } from '../agent/network/plugin.js';
import { newId } from '../shared/ids.js';
import { loadTls } from '../shared/tls/credentials.js';
import { hostKey, hostLockPath } from '../agent/host.js';
import { connect, type Control } from '../client/control.js';
import { initCluster } from '../manager/ca/init.js';
import { PREFIX, prefixEnd } from '../manager/store/keys.js';
import { connectEtcd } from '../manager/store/etcd.js';
import { freePort } from './ports.js';
import { tempEtcd, type TempEtcd } from './etcd.js';
import { MAIN, runOrch, waitFor, type RunResult } from './run.js';

export class LocalCluster {
  readonly cluster = `t${newId().slice(0, 10)}`;
  readonly docker = new Docker({ socketPath: '/var/run/docker.sock' });
  readonly dir = mkdtempSync(join(tmpdir(), 'orch-cluster-'));
  etcd!: TempEtcd;
  managerAddr = '';
  manager: ChildProcess | undefined;
  agent: ChildProcess | undefined;

  /** Starts etcd, a manager and an agent; resolves once the node is ready. */
  static async start(): Promise<LocalCluster> {
    const c = new LocalCluster();
    c.etcd = await tempEtcd();
    c.managerAddr = `127.0.0.1:${await freePort()}`;
    await initCluster({ etcd: c.etcd.endpoint, stateDir: c.stateDir, adminDir: c.adminDir, advertise: c.managerAddr });
    c.startManager();
    c.startAgent();
    await c.waitFor(async () => (await c.orch('node', 'ls', '--format', 'json')).stdout.includes('NODE_READY'), 20_000, 'node ready');
    return c;
  }

  /** The one host's state directory, shared by its manager and agent (as on any manager host). */
  get stateDir(): string {
    return join(this.dir, 'node');
  }

  /** The admin certificate the CLI shows. */
  get adminDir(): string {
    return join(this.dir, 'admin');
  }

  startManager(): void {
    this.manager = this.daemon('manager', ['manager', '--etcd', this.etcd.endpoint, '--listen', this.managerAddr, '--state-dir', this.stateDir]);
  }

  startAgent(): void {
    this.agent = this.daemon('agent', ['agent', '--state-dir', this.stateDir, '--cluster', this.cluster, '--hostname', this.cluster]);
  }

  /** SIGKILLs a daemon and waits for it to be gone. */
  async kill(which: 'manager' | 'agent'): Promise<void> {
    const p = this[which];
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  private daemon(name: string, args: string[]): ChildProcess {
    const log = openSync(join(this.dir, `${name}.log`), 'a');
    return spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', log, log], env: { ...process.env, ORCH_LOG_LEVEL: 'debug' } });
  }

  /** A control client with the admin certificate. */
  control(): Control {
    return connect(this.managerAddr, loadTls(this.adminDir));
  }

  /** Runs the CLI against this cluster; resolves with its exit code and output. */
  orch(...args: string[]): Promise<RunResult> {
    return runOrch({ ORCH_MANAGER: this.managerAddr, ORCH_TLS_DIR: this.adminDir }, args);
  }

  /** This cluster's containers (running or not) for a service name, or all. */
  async containers(service?: string, all = true): Promise<Docker.ContainerInfo[]> {
    const label = [`${LABEL.cluster}=${this.cluster}`];
    if (service) label.push(`${LABEL.serviceName}=${service}`);
    return this.docker.listContainers({ all, filters: { label } });
  }

  /** Every orch key and value in etcd (to prove a rejected request changed nothing). */
  async etcdState(): Promise<Map<string, string>> {
    const client = connectEtcd(this.etcd.endpoint);
    try {
      const res = await client.kv.range({ key: Buffer.from(PREFIX), range_end: Buffer.from(prefixEnd(PREFIX)) });
      return new Map(res.kvs.filter((kv) => !kv.key.toString().includes('/election/')).map((kv) => [kv.key.toString(), kv.value.toString()]));
    } finally {
      client.close();
    }
  }

  waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    return waitFor(check, timeoutMs, what);
  }

  /** Kills the daemons and etcd, removes this cluster's containers and files. */
  async destroy(): Promise<void> {
    await this.kill('agent');
    await this.kill('manager');
    await this.etcd?.destroy();
    for (const c of await this.containers()) await this.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    // A SIGKILLed agent leaves its claim on the host and its network plugin socket behind (both named by the host).
    const lock = hostLockPath(hostKey());
    if (existsSync(lock) && Number(readFileSync(lock, 'utf8')) === this.agent?.pid) {
      rmSync(join(PLUGIN_DIR, `orch-${hostKey()}.sock`), { force: true });
      rmSync(lock, { force: true });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

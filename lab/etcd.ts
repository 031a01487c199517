// Starting a real etcd member as a child process (Debian's etcd-server), for
// `orch dev`, the tests and the lab. The caller owns the returned process.
import { spawn, type ChildProcess } from 'node:child_process';
import { fstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '../shared/errors.js';
import { freePort } from './ports.js';
import { systemTool } from '../shared/sh.js';

export interface EtcdOptions {
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  host?: string;
  /** All members as name=peerURL (default: this one alone). */
  initialCluster?: string;
  /** The database's size limit (--quota-backend-bytes; default DEFAULT_QUOTA_BYTES). */
  quotaBytes?: number;
  /** Serve clients and peers over TLS with this certificate, and demand of both a certificate signed by `ca`. */
  tls?: { ca: string; cert: string; key: string };
}

/** etcd's own default, set explicitly: past it etcd raises NOSPACE and refuses writes. */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3;

/** etcd's command line for one member; a member with data already ignores the initial-* flags. */
export function etcdArgs(o: EtcdOptions): string[] {
  const host = o.host ?? '127.0.0.1';
  const scheme = o.tls ? 'https' : 'http';
  const client = `${scheme}://${host}:${o.clientPort}`;
  const peer = `${scheme}://${host}:${o.peerPort}`;
  const tls = o.tls
    ? [
        ...['--cert-file', o.tls.cert, '--key-file', o.tls.key, '--client-cert-auth', '--trusted-ca-file', o.tls.ca],
        ...['--peer-cert-file', o.tls.cert, '--peer-key-file', o.tls.key, '--peer-client-cert-auth', '--peer-trusted-ca-file', o.tls.ca],
      ]
    : [];
  return [
    ...tls,
    '--name', o.name,
    '--data-dir', join(o.dataDir, 'data'),
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', o.initialCluster ?? `${o.name}=${peer}`,
    // Hosts on one LAN: a dead raft leader is replaced in 0.5–1 s, not the default 1–2 s
    // (the orch leader on the same host waits for it before it can be replaced).
    '--heartbeat-interval', '100',
    '--election-timeout', '500',
    // orch's managers ping every member each second, to find a silent one within 2.5 s (manager/store/etcd.ts).
    '--grpc-keepalive-min-time', '500ms',
    // A member that comes back asks before it campaigns, instead of deposing a healthy raft leader (etcd 3.5's default).
    '--pre-vote',
    // orch's leader compacts and defragments (manager/upkeep); the quota is stated, not assumed.
    '--quota-backend-bytes', String(o.quotaBytes ?? DEFAULT_QUOTA_BYTES),
    // etcd 3.5's default: 3.4 keeps 100,000 raft entries in memory between snapshots, so its memory grows for hours under churn.
    '--snapshot-count', '10000',
    '--log-level', 'warn',
    '--logger', 'zap',
  ];
}

export interface EtcdProcess {
  endpoint: string;
  pid: number;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after 5 s; resolves when it has exited. */
  stop(): Promise<void>;
}

/** Starts etcd and waits (at most 15 s) until it accepts connections. */
export async function startEtcd(o: EtcdOptions): Promise<EtcdProcess> {
  const host = o.host ?? '127.0.0.1';
  mkdirSync(o.dataDir, { recursive: true });
  const logFile = join(o.dataDir, 'etcd.log');
  const log = openSync(logFile, 'a');
  const logFrom = fstatSync(log).size; // what this start writes: an earlier start's lines say nothing of it
  const client = `${o.tls ? 'https' : 'http'}://${host}:${o.clientPort}`;
  // Something answering there already would pass for our member (an etcd a killed `orch dev` of an older orch left, say).
  if (await canConnect(host, o.clientPort)) throw new UnavailableError(`something already listens on ${host}:${o.clientPort}: stop it (\`ss -ltnp 'sport = :${o.clientPort}'\` names it) or choose another port`);
  // The member dies with its parent: a killed `orch dev` or test leaves no etcd behind.
  const child = spawn(systemTool('setpriv'), ['--pdeathsig', 'KILL', systemTool('etcd'), ...etcdArgs(o)], { stdio: ['ignore', log, log] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proc: EtcdProcess = {
    endpoint: client,
    pid: child.pid ?? 0,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      if (readFileSync(logFile).subarray(logFrom).toString('utf8').includes('bind: address already in use')) throw new PortTakenError(`etcd could not listen on ${host}:${o.clientPort} or :${o.peerPort}: in use; see ${logFile}`);
      throw new UnavailableError(`etcd exited at start (code ${child.exitCode}); see ${logFile}`);
    }
    if (await canConnect(host, o.clientPort)) return proc;
    await new Promise((r) => setTimeout(r, 100));
  }
  await proc.stop();
  throw new UnavailableError(`etcd did not start listening on ${client} within 15s; see ${logFile}`);
}

/** Polls until something accepts TCP connections at host:port; false after `timeoutMs`. */
export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await canConnect(host, port)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A port given to etcd was taken before it could listen there (a free port picked, then another process's connection took it). */
export class PortTakenError extends UnavailableError {}

/** Runs `start` (which picks its own free ports) again while a port it picked was taken meanwhile: three tries at most. */
export async function onFreePorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (!(err instanceof PortTakenError) || attempt === 3) throw err;
    }
  }
}

export interface TempEtcd extends EtcdProcess {
  dir: string;
  /** Stops etcd and removes its data. */
  destroy(): Promise<void>;
}

/** A throwaway etcd on free loopback ports with its data in a temp dir (and a quota, if given). */
export async function tempEtcd(name = 'orch', quotaBytes?: number): Promise<TempEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'orch-etcd-'));
  const proc = await onFreePorts(async () => startEtcd({ name, dataDir: dir, clientPort: await freePort(), peerPort: await freePort(), quotaBytes }));
  return {
    ...proc,
    dir,
    async destroy() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

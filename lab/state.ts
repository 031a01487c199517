// The lab's state file: where everything the lab made is (namespaces, links,
// sockets, addresses, pids), so that `lab` commands, tests, the chaos harness
// and benchmarks can find it, and `lab down` can remove exactly that.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../shared/errors.js';

/** Where labs live unless $ORCH_LAB_DIR says otherwise. */
export const LAB_BASE = process.env.ORCH_LAB_DIR ?? '/var/lib/orch/lab';
/** Underlay: 198.18.<index>.0/24 (RFC 2544 benchmarking range), bridge at .1, host N at .(10+N). */
export const UNDERLAY_PREFIX = '198.18';
export const MANAGER_PORT = 4242;
/** Where each lab host's manager and agent serve their Prometheus metrics. */
export const MANAGER_METRICS_PORT = 9464;
export const AGENT_METRICS_PORT = 9465;
/** Where each lab manager serves the dashboard (with the cluster's token: not on loopback). */
export const UI_PORT = 4280;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

export interface HostState {
  name: string; // h1, h2, …
  netns: string; // orch-<lab>-h1
  /** The namespace's inode: finds what still runs in it after its name is gone. */
  netnsInode?: number;
  veth: string; // root-side end of the host's link
  addr: string; // underlay address
  dir: string; // data: docker, etcd, agent state, logs
  dockerSocket: string;
  cgroupParent: string;
  manager: boolean;
  cpus?: string;
  memory?: string;
  /** What the lab believes: up, killed (lab kill) or partitioned (lab partition). */
  status: 'up' | 'killed' | 'partitioned';
  pids: { dockerd?: number; etcd?: number; manager?: number; agent?: number };
}

export interface LabState {
  name: string;
  index: number;
  dir: string;
  bridge: string;
  bridgeAddr: string;
  hosts: HostState[];
  /** Manager gRPC addresses (host:port) and etcd client URLs. */
  managers: string[];
  etcd: string[];
  /** Flags added to every `orch manager`, and etcd's quota (UpOptions). */
  managerArgs?: string[];
  etcdQuotaBytes?: number;
  /** The CLI context that was current before `lab up`, restored by `lab down`. */
  previousContext?: string;
  createdAt: string;
}

/** Where `orch init` on the first host put the CLI's config (its admin certificate under certs/). */
export function labCliDir(state: LabState): string {
  return join(state.dir, 'cli');
}

/** The lab's admin certificate (what `orch init` wrote). */
export function labAdminDir(state: LabState): string {
  return join(labCliDir(state), 'certs', 'orch');
}

/** etcd's certificates, as `orch etcd certs` on the first host wrote them: DIR/hN/ for each member, DIR/client/ for the operator. */
export function labEtcdPkiDir(state: LabState): string {
  return join(state.dir, 'etcd-pki');
}

/** The operator's etcd client certificate (the lab's own checks and tests use it; managers have theirs). */
export function labEtcdTls(state: LabState): { ca: string; cert: string; key: string } {
  const dir = join(labEtcdPkiDir(state), 'client');
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'client.crt'), key: join(dir, 'client.key') };
}

/** A host's state directory: its certificate, the cluster key on managers, the managers' addresses. */
export function hostStateDir(h: HostState): string {
  return join(h.dir, 'node');
}

/** A lab name: it becomes part of interface names, which the kernel caps at 15 characters. */
export function checkLabName(name: string): void {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(name)) throw new InvalidArgumentError(`lab name "${name}": use 1 to 8 lower-case letters and digits, starting with a letter`);
}

export function labDir(name: string): string {
  return join(LAB_BASE, name);
}

export function stateFile(name: string): string {
  return join(labDir(name), 'state.json');
}

export function loadState(name: string): LabState {
  try {
    return JSON.parse(readFileSync(stateFile(name), 'utf8')) as LabState;
  } catch {
    throw new NotFoundError(`no lab named "${name}" (no ${stateFile(name)}); \`orch lab up\` makes one`);
  }
}

export function tryLoadState(name: string): LabState | undefined {
  try {
    return loadState(name);
  } catch {
    return undefined;
  }
}

/** Writes the state atomically (a reader never sees half a file). */
export function saveState(s: LabState): void {
  const file = stateFile(s.name);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function findHost(s: LabState, name: string): HostState {
  const h = s.hosts.find((x) => x.name === name);
  if (!h) throw new NotFoundError(`lab "${s.name}" has no host "${name}"; it has ${s.hosts.map((x) => x.name).join(', ')}`);
  return h;
}

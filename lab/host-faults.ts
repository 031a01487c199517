// What happens to a lab host: it dies as a machine does (silent, then
// killed), comes back on its old data, loses or gets back one daemon, or is
// cut off the underlay and healed. The chaos harness and the lab tests drive
// these; building a lab and adding hosts is lab.ts.
import { InvalidArgumentError } from '../shared/errors.js';
import { loadTls } from '../shared/tls/credentials.js';
import { sh } from '../shared/sh.js';
import { alive, killAndWait } from './processes.js';
import { dockerUp, killHost, spawnDocker, startAgent, startEtcdOn, startManager, startOrch } from './hosts.js';
import { findHost, hostStateDir, loadState, saveState } from './state.js';

/**
 * The host dies as a machine does: it goes silent first (its link goes down,
 * so its kernel closes no connection and answers no packet), then everything
 * of it is SIGKILLed: its daemons and its containers. It stays off the
 * underlay until it is restarted.
 */
export async function labKill(name: string, host: string): Promise<void> {
  const state = loadState(name);
  const h = findHost(state, host);
  await sh('ip', ['link', 'set', h.veth, 'down']);
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
  if (h.status === 'partitioned' || h.status === 'killed') await sh('ip', ['link', 'set', h.veth, 'up']);
  // dockerd restores its networks at start and waits for their driver, which
  // is the agent: both start together, or dockerd hangs on the plugin.
  spawnDocker(h);
  if (h.manager) h.pids.etcd = startEtcdOn(state, h, '');
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

/** Starts a host's dockerd, etcd member or agent again, or its manager (again, or on a promoted worker), on its data. */
export async function labStartDaemon(name: string, host: string, daemon: Daemon): Promise<void> {
  const state = loadState(name);
  const h = findHost(state, host);
  if (daemon === 'etcd' && !h.manager) throw new InvalidArgumentError(`${host} has no etcd member`);
  if (daemon === 'manager' && loadTls(hostStateDir(h)).identity.role !== 'manager') throw new InvalidArgumentError(`${host} holds no manager certificate: \`orch node promote ${host}\` first`);
  if (alive(h.pids[daemon])) throw new InvalidArgumentError(`${host}'s ${daemon} is running`);
  if (daemon === 'dockerd') {
    // The agent still runs: the engine finds its network plugin at start.
    spawnDocker(h);
    await dockerUp(h, () => undefined);
  } else if (daemon === 'etcd') h.pids.etcd = startEtcdOn(state, h, '');
  else if (daemon === 'agent') startAgent(state, h);
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


// Which host this agent owns, and that it owns it alone.
//
// A "host" is the network namespace the agent runs in: the root namespace of
// a real machine, or one of the lab's simulated hosts (which share the
// machine's /run/netns and /run/docker/plugins). Everything the agent makes
// outside its containers (network namespaces, the Docker network driver's
// socket) is named by the host key, not by the node id, so an agent that
// starts with a new identity on the same host (`orch dev --reset`, a
// re-join after `orch node rm`) recognises what its predecessor left and
// takes it over, and an agent on another lab host never matches it.
import { closeSync, mkdirSync, openSync, readFileSync, readlinkSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConflictError, FailedPreconditionError } from '../shared/errors.js';

/** Where an agent's claim on its host is kept, by host key. */
export function hostLockPath(key: string): string {
  return join('/run/orch', `agent-${key}.pid`);
}

/** The key of the host the calling process is on: its network namespace's inode, in base 36. */
export function hostKey(pid: number | 'self' = 'self'): string {
  return statSync(`/proc/${pid}/ns/net`).ino.toString(36);
}

/** The host key of a lab host whose network namespace has this inode. */
export function hostKeyOfInode(inode: number): string {
  return inode.toString(36);
}

/**
 * One agent per host: a pid file per host key, taken with O_EXCL. A file
 * whose process is gone (or is no longer an agent on this host) is stale and
 * taken over; a live one is refused with who holds it.
 */
export class HostLock {
  private constructor(private readonly path: string) {}

  /** Takes the host; throws FailedPreconditionError if another live agent holds it. */
  static take(key: string): HostLock {
    const path = hostLockPath(key);
    mkdirSync(dirname(path), { recursive: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return new HostLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = Number(readHolder(path));
      if (holder !== process.pid && agentOn(holder, key)) {
        throw new FailedPreconditionError(`another orch agent (pid ${holder}) already runs on this host; one agent owns a host's networks: stop it first`);
      }
      rmSync(path, { force: true });
    }
    throw new ConflictError(`could not take ${path}: another agent is starting on this host at the same time`);
  }

  /** Gives the host up (only if the file is still ours). */
  release(): void {
    if (Number(readHolder(this.path)) === process.pid) rmSync(this.path, { force: true });
  }
}

/** The pid in a lock file; '' if it went meanwhile (then it is taken on the next attempt). */
function readHolder(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Whether `pid` is a live node process on the host `key` (a reused pid is something else). */
function agentOn(pid: number, key: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    return hostKey(pid) === key && readlinkSync(`/proc/${pid}/exe`) === readlinkSync('/proc/self/exe');
  } catch {
    return false;
  }
}

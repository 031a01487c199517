// Named network namespaces, as `ip netns` keeps them (a bind mount of the
// namespace at /var/run/netns/<name>, so it outlives the process that made
// it), made and removed through libc via koffi. Making one switches the
// calling thread into a new namespace, binds it, and switches back before
// returning: all synchronous, so Node's main thread never stays switched.
//
// The directory itself is made a shared mount point of its own before the
// first bind, exactly as iproute2 does: otherwise a later `ip netns add`
// mounts the directory over itself and hides our binds under it, where no
// path reaches them and `ip netns del` fails with EBUSY.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errno, libc } from './libc.js';
import { CLONE_NEWNET } from './netlink/constants.js';
import { NetlinkError } from './netlink/errors.js';

export const NETNS_DIR = '/var/run/netns';
const MS_BIND = 4096;
const MS_REC = 16384;
const MS_SHARED = 1 << 20;
const MNT_DETACH = 2;
const EINVAL = 22;


export function netnsPath(name: string): string {
  return join(NETNS_DIR, name);
}

/** How many mounts stand at a path (mountinfo names the real path: /var/run is usually a link to /run). */
function mountsAt(path: string): number {
  const target = realpathSync(path);
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === target).length;
}

/** Whether /var/run/netns/<name> is a mounted namespace (not just a leftover file). */
export function netnsExists(name: string): boolean {
  return existsSync(netnsPath(name)) && mountsAt(netnsPath(name)) > 0;
}

/** Makes /var/run/netns a shared mount point (iproute2's netns_add does the same). */
function prepareNetnsDir(): void {
  mkdirSync(NETNS_DIR, { recursive: true });
  if (libc.mount('', NETNS_DIR, 'none', MS_SHARED | MS_REC, null) === 0) return;
  if (errno() !== EINVAL) throw new NetlinkError(errno(), `make ${NETNS_DIR} shared`);
  // Not a mount point yet: bind it onto itself, then share it.
  if (libc.mount(NETNS_DIR, NETNS_DIR, 'none', MS_BIND | MS_REC, null) !== 0) throw new NetlinkError(errno(), `bind ${NETNS_DIR}`);
  if (libc.mount('', NETNS_DIR, 'none', MS_SHARED | MS_REC, null) !== 0) throw new NetlinkError(errno(), `make ${NETNS_DIR} shared`);
}

/** Makes the named namespace unless it exists. */
export function createNetns(name: string): void {
  if (netnsExists(name)) return;
  prepareNetnsDir();
  const target = netnsPath(name);
  if (!existsSync(target)) writeFileSync(target, '');
  switched(
    () => {
      if (libc.unshare(CLONE_NEWNET) !== 0) throw new NetlinkError(errno(), `unshare for netns ${name}`);
    },
    () => {
      if (libc.mount('/proc/thread-self/ns/net', target, 'none', MS_BIND, null) !== 0) throw new NetlinkError(errno(), `bind-mount netns ${name}`);
    },
  );
}

/** Removes the named namespace (its devices go with it once nothing holds it); every mount stacked on its path goes. */
export function deleteNetns(name: string): void {
  const target = netnsPath(name);
  if (!existsSync(target)) return;
  for (let n = mountsAt(target); n > 0; n--) if (libc.umount2(target, MNT_DETACH) !== 0) throw new NetlinkError(errno(), `unmount netns ${name}`);
  rmSync(target, { force: true });
}

/** Names of the namespaces in /var/run/netns starting with `prefix`. */
export function listNetns(prefix: string): string[] {
  try {
    return readdirSync(NETNS_DIR).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

/** Runs `fn` with an open fd of the named namespace (for IFLA_NET_NS_FD). */
export function withNetnsFd<T>(name: string, fn: (fd: number) => T): T {
  const fd = openSync(netnsPath(name), 'r');
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a sysctl (e.g. net/ipv4/ip_forward) inside the named namespace; /proc/sys/net belongs to the opener's namespace. */
export function setSysctlIn(name: string, key: string, value: string): void {
  inNetns(netnsPath(name), () => writeFileSync(`/proc/sys/${key}`, value));
}

/** Runs `fn` with the calling thread inside the namespace at `path`, synchronously, and switches back. */
export function inNetns<T>(path: string, fn: () => T): T {
  const there = openSync(path, 'r');
  try {
    return switched(() => {
      if (libc.setns(there, CLONE_NEWNET) !== 0) throw new NetlinkError(errno(), `setns ${path}`);
    }, fn);
  } finally {
    closeSync(there);
  }
}

/** Enters another namespace (`enter`), runs `fn`, and always switches back; staying switched would be worse than dying. */
function switched<T>(enter: () => void, fn: () => T): T {
  const here = openSync('/proc/thread-self/ns/net', 'r');
  try {
    enter();
    try {
      return fn();
    } finally {
      if (libc.setns(here, CLONE_NEWNET) !== 0) {
        process.stderr.write(`fatal: could not switch back to the agent's network namespace (errno ${errno()})\n`);
        process.exit(70);
      }
    }
  } finally {
    closeSync(here);
  }
}

/**
 * Moves the calling thread into the namespace for good. Only for a worker
 * thread that exists to live there (the DNS resolver): never on the main thread.
 */
export function enterNetns(path: string): void {
  const fd = openSync(path, 'r');
  try {
    if (libc.setns(fd, CLONE_NEWNET) !== 0) throw new NetlinkError(errno(), `setns ${path}`);
  } finally {
    closeSync(fd);
  }
}

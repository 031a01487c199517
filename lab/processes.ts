// The lab's processes: started detached inside a host's network namespace
// (`nsenter --net`, not `ip netns exec`, which remounts /sys and breaks
// dockerd), found again by namespace and cgroup, and killed by pid.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sh, systemTool } from '../shared/sh.js';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Starts `cmd` in the namespace, detached from us, output appended to `logFile`; returns its pid. */
export function spawnIn(netns: string, cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): number {
  const log = openSync(logFile, 'a');
  try {
    const child = spawn(systemTool('nsenter'), [`--net=/var/run/netns/${netns}`, systemTool(cmd), ...args], { detached: true, stdio: ['ignore', log, log], env });
    child.unref();
    if (!child.pid) throw new Error(`could not start ${cmd} in ${netns}`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/**
 * Whether the process lives: some thread of it is not a zombie. A killed
 * multithreaded process (etcd in an fsync, say) shows its first thread as a
 * zombie while the others are still exiting and still hold its sockets.
 */
export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const zombie = (stat: string) => /^\d+ \(.*\) Z/.test(stat);
  const threads = safeReaddir(`/proc/${pid}/task`);
  if (threads.length === 0) return !zombie(safeRead(`/proc/${pid}/stat`));
  return threads.some((tid) => {
    const stat = safeRead(`/proc/${pid}/task/${tid}/stat`);
    return stat !== '' && !zombie(stat);
  });
}

/** Every process whose network namespace is `netns`. */
export async function netnsPids(netns: string): Promise<number[]> {
  const out = await sh('ip', ['netns', 'pids', netns]).catch(() => '');
  return out.split(/\s+/).filter(Boolean).map(Number);
}

/** Every process whose network namespace has this inode (named or not any more). */
export function netnsInodePids(inode: number): number[] {
  const want = `net:[${inode}]`;
  const out: number[] = [];
  for (const e of safeReaddir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/net`) === want) out.push(Number(e));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/** The cgroup directories (v1 controllers, or v2) named `parent`, where the host's containers live. */
export function cgroupDirs(parent: string): string[] {
  const dirs: string[] = [];
  const v2 = join(CGROUP_ROOT, parent);
  if (existsSync(join(CGROUP_ROOT, 'cgroup.controllers')) && existsSync(v2)) dirs.push(v2);
  // Controllers may be symbolic links (cpu → cpu,cpuacct): stat follows them.
  for (const ctrl of safeReaddir(CGROUP_ROOT)) {
    const d = join(CGROUP_ROOT, ctrl, parent);
    if (isDir(d)) dirs.push(d);
  }
  return dirs;
}

/** Every directory of the cgroup subtree `parent`, each before the ones below it. */
function cgroupTree(parent: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    out.push(dir);
    for (const e of subdirs(dir)) walk(join(dir, e));
  };
  for (const d of cgroupDirs(parent)) walk(d);
  return out;
}

/** Every process in the cgroup subtree `parent` (the containers of one lab host). */
export function cgroupPids(parent: string): number[] {
  const pids = new Set<number>();
  for (const dir of cgroupTree(parent)) for (const line of safeRead(join(dir, 'cgroup.procs')).split('\n')) if (line) pids.add(Number(line));
  return [...pids];
}

/** Removes the (empty) cgroup subtree `parent`, deepest first. */
export function removeCgroups(parent: string): void {
  for (const dir of cgroupTree(parent).reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      // busy or already gone
    }
  }
}

/** SIGKILLs the pids and waits (at most `timeoutMs`) until none is alive. */
export async function killAndWait(pids: number[], timeoutMs = 5000): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** Sends SIGTERM, then SIGKILL to what is left after `graceMs`. */
export async function terminate(pids: number[], graceMs = 5000): Promise<void> {
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await killAndWait(pids.filter(alive));
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The directories in `dir`, read without a stat each: a container's cgroup may go while the walk runs. */
function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

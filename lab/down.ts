// Removing a lab: everything its state file records and, for a run killed
// before it could record them, what is found by name (namespaces, cgroups,
// the agents' namespaces, plugin sockets and host locks, mounts, the bridge).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PLUGIN_DIR } from '../agent/network/plugin.js';
import { FILES_ROOT } from '../agent/exec/files.js';
import { hostKeyOfInode, hostLockPath } from '../agent/host.js';
import { alive, cgroupPids, netnsInodePids, netnsPids, removeCgroups, terminate } from './processes.js';
import { sh, shQuiet } from '../shared/sh.js';
import { forwardRule, readNodeId } from './hosts.js';
import { checkLabName, labDir, tryLoadState, type LabState } from './state.js';


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
  // What the hosts' agents made outside the lab's own dirs: network namespaces, plugin sockets and host locks, named by host key
  // (and, from agents before host keys, by node id).
  const made = (await sh('ip', ['netns', 'list']).catch(() => '')).split('\n').map((l) => l.split(' ')[0]!);
  for (const h of recorded) {
    const names = [h.netnsInode ? hostKeyOfInode(h.netnsInode) : '', readNodeId(h)?.slice(0, 12) ?? ''].filter(Boolean);
    for (const ns of made) if (names.some((k) => ns.startsWith(`orchnet.${k}.`) || ns.startsWith(`orchnet-${k}-`))) await shQuiet('ip', ['netns', 'del', ns]);
    for (const k of names) rmSync(join(PLUGIN_DIR, `orch-${k}.sock`), { force: true });
    // The tmpfs of its tasks' secrets and configs.
    if (h.netnsInode) {
      const files = join(FILES_ROOT, hostKeyOfInode(h.netnsInode));
      unmountUnder(files);
      rmSync(files, { recursive: true, force: true });
    }
    if (h.netnsInode) rmSync(hostLockPath(hostKeyOfInode(h.netnsInode)), { force: true });
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

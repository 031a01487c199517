// What an orch agent on this machine's own host may leave behind, for the
// tests that run one there (orch dev, the Compose test cluster).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { hostKey, hostLockPath } from '../../agent/host.js';
import { PLUGIN_DIR } from '../../agent/network/plugin.js';
import { listNetns } from '../../agent/network/netns.js';
import { sh } from '../../shared/sh.js';

/** What an orch agent on this host may have left in the kernel and the engine, listed (empty: nothing). */
export async function leftovers(docker: Docker, cluster: string): Promise<string[]> {
  const key = hostKey();
  const found: string[] = listNetns(`orchnet.${key}.`).map((n) => `namespace ${n}`);
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) if (l.includes(`/netns/orchnet.${key}.`)) found.push(`mount ${l.split(' ')[4]}`);
  for (const n of await docker.listNetworks({ filters: { label: [`orch.cluster=${cluster}`] } })) found.push(`docker network ${n.Name}`);
  if (await sh('nft', ['list', 'table', 'ip', 'orch-ingress']).then(() => true, () => false)) found.push('nft table orch-ingress');
  for (const r of (await sh('iptables', ['-S', 'DOCKER-USER']).catch(() => '')).split('\n')) if (/ ovi\d+ /.test(r)) found.push(`iptables ${r}`);
  if (existsSync(join(PLUGIN_DIR, `orch-${key}.sock`))) found.push('plugin socket');
  if (existsSync(hostLockPath(key))) found.push('host lock');
  return found;
}


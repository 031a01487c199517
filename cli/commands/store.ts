// `orch cluster …`: the store that holds the cluster. status (etcd's members,
// sizes and alarms), maintain (compact, defragment, disarm a full etcd),
// backup FILE (through a manager) and restore FILE (straight into a new etcd,
// before the managers start); and the cluster's settings: inspect, update.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { connectMaintenance, type Maintenance } from '../../client/maintenance.js';
import { ClusterSettings, StoreStatus, type StoreMember } from '../../proto/generated/orch.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { loadTls } from '../../shared/tls/credentials.js';
import { formatBytes } from '../../shared/units.js';
import { table } from '../table.js';
import { etcdTls, etcdTlsOptions, fail, formatOption, print, withClient, withControl, type Globals } from './common.js';
import { parseBool } from '../flag-values.js';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { DEFAULT_STATE_DIR } from './cluster.js';

export function clusterCommand(globals: Globals): Command {
  const cmd = new Command('cluster').description("Look after the cluster: its settings, and its store (etcd): status, maintenance, backup and restore");
  cmd
    .command('inspect')
    .description('What the cluster allows (its settings)')
    .addOption(formatOption())
    .action((f: { format: string }) =>
      withControl(globals, async (ctl) => {
        const s = await ctl.getClusterSettings({});
        print(f.format, ClusterSettings.toJSON(s), () => settingsText(s));
      }),
    );
  cmd
    .command('update')
    .description('Change what the cluster allows and how long its certificates last')
    .option('--allow-privileged [bool]', 'let services ask for --privileged and --device (true|false; alone: true)')
    .option('--cert-expiry <duration>', 'lifetime of node certificates issued from now on (default 2160h, 90 days; at least 1m): each node renews its own before it ends')
    .addOption(formatOption())
    .action((f: { allowPrivileged?: string | boolean; certExpiry?: string; format: string }) =>
      withControl(globals, async (ctl) => {
        if (f.allowPrivileged === undefined && f.certExpiry === undefined) throw new InvalidArgumentError('nothing to update: give --allow-privileged [true|false] or --cert-expiry DURATION');
        const s = await ctl.updateClusterSettings({
          allowPrivileged: f.allowPrivileged === undefined ? undefined : parseBool(f.allowPrivileged, '--allow-privileged'),
          certExpirySeconds: f.certExpiry === undefined ? undefined : BigInt(Math.round(parseDuration(f.certExpiry, '--cert-expiry') / 1000)),
        });
        print(f.format, ClusterSettings.toJSON(s), () => settingsText(s));
      }),
    );
  cmd
    .command('status')
    .description("etcd's members, their database sizes, the last compaction and any alarm")
    .addOption(formatOption())
    .action((f: { format: string }) =>
      withMaintenance(globals, async (m) => {
        const s = await m.status();
        print(f.format, StoreStatus.toJSON(s), () => describe(s));
      }),
    );
  cmd
    .command('maintain')
    .description("Compact etcd's history, defragment each member in turn and disarm a NOSPACE alarm: the way out of \"etcd is out of space\"")
    .addOption(formatOption())
    .action((f: { format: string }) =>
      withMaintenance(globals, async (m) => {
        const s = await m.maintain((step) => f.format !== 'json' && process.stdout.write(`${step}\n`));
        print(f.format, StoreStatus.toJSON(s), () => describe(s));
      }),
    );
  cmd
    .command('backup')
    .description('Write every key of the cluster, read at one etcd revision, to FILE (the cluster key is not in it: keep it apart)')
    .argument('<file>', 'where to write the backup')
    .addOption(formatOption())
    .action((file: string, f: { format: string }) =>
      withMaintenance(globals, async (m) => {
        process.stderr.write('taking a backup…\n');
        const data = await m.backup();
        const { readBackup } = await import('../../manager/upkeep/backup.js');
        const { header, keys } = readBackup(data, 'the backup the manager sent');
        // Whole or not at all: a cut write never passes for a backup.
        writeFileSync(`${file}.partial`, data, { mode: 0o600 });
        renameSync(`${file}.partial`, file);
        print(f.format, { file, clusterId: header.clusterId, revision: header.revision, keys: keys.length, bytes: data.length, takenAt: header.takenAt }, () =>
          `Backed up ${keys.length} keys of cluster ${header.clusterId} at etcd revision ${header.revision} to ${file} (${formatBytes(data.length)}).\n` +
            "Keep each manager's cluster.key (in its --state-dir) apart from it: the secrets in the backup open only with that key.\n",
        );
      }),
    );
  etcdTlsOptions(cmd.command('restore'))
    .description('Write a backup into a new, empty etcd; then start the managers on it (agents reconnect and keep their containers)')
    .argument('<file>', 'a file `orch cluster backup` wrote')
    .option('--etcd <endpoints>', 'etcd endpoints, comma-separated', process.env.ORCH_ETCD ?? 'http://127.0.0.1:2379')
    .option('--state-dir <dir>', "a manager's state directory: its etcd client certificate (unless --etcd-cert and co. are given)", DEFAULT_STATE_DIR)
    .addOption(formatOption())
    .action(async (file: string, f: { etcd: string; stateDir: string; format: string; etcdCa?: string; etcdCert?: string; etcdKey?: string }) => {
      try {
        const { readBackup, restoreBackup } = await import('../../manager/upkeep/backup.js');
        const { Store } = await import('../../manager/store/index.js');
        let data: Buffer;
        try {
          data = readFileSync(file);
        } catch (err) {
          throw new InvalidArgumentError(`cannot read ${file}: ${(err as Error).message}`);
        }
        const backup = readBackup(data, file);
        const store = new Store(f.etcd, etcdTls(f));
        try {
          await store.call(() => restoreBackup(store.etcd, backup, (done, total) => process.stderr.write(`restored ${done}/${total} keys\n`)));
        } finally {
          store.etcd.close();
        }
        print(f.format, { clusterId: backup.header.clusterId, keys: backup.keys.length, takenAt: backup.header.takenAt, etcd: f.etcd }, () =>
          `Restored cluster ${backup.header.clusterId} (${backup.keys.length} keys, taken ${backup.header.takenAt}) into ${f.etcd}.\n` +
            'Start the managers with their state directories (each holds the cluster key); agents reconnect by themselves.\n',
        );
      } catch (err) {
        fail(err);
      }
    });
  return cmd;
}

function withMaintenance(globals: Globals, fn: (m: Maintenance) => Promise<void>): Promise<never> {
  return withClient(() => connectMaintenance(globals.manager(), loadTls(globals.tlsDir())), fn);
}

function raft(m: StoreMember): string {
  if (!m.answering) return 'down';
  if (m.leader) return 'leader';
  return m.hasLeader ? 'follower' : 'no leader';
}

function describe(s: StoreStatus): string {
  const rows = s.members.map((m: StoreMember) => [m.endpoint, m.id, raft(m), m.answering ? formatBytes(m.dbSize) : '', m.answering ? formatBytes(m.dbSizeInUse) : '', m.error]);
  const lines = [table(['ENDPOINT', 'ID', 'RAFT', 'DB SIZE', 'IN USE', 'ERROR'], rows).trimEnd()];
  lines.push(`revision ${s.revision}; ${s.compactedRevision ? `compacted up to ${s.compactedRevision} at ${s.compactedAt?.toISOString()}` : 'no compaction recorded'}`);
  lines.push(s.alarms.length ? `ALARMS: ${s.alarms.join('; ')}` : 'no alarms');
  return `${lines.join('\n')}\n`;
}

function settingsText(s: ClusterSettings): string {
  const expiry = s.certExpirySeconds ? formatDuration(Number(s.certExpirySeconds) * 1000) : '2160h (the default, 90 days)';
  return `privileged services (--privileged, --device): ${s.allowPrivileged ? 'allowed' : 'not allowed'}\ncertificate lifetime (--cert-expiry): ${expiry}\n`;
}

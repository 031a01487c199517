// Making and growing a cluster: `orch init` on the first manager, `orch join`
// on every other host, `orch join-token` to print or rotate the tokens.
import { hostname } from 'node:os';
import { Command } from 'commander';
import { InvalidArgumentError } from '../../shared/errors.js';
import { contextTlsDir, useNewContext } from '../context.js';
import { etcdTls, etcdTlsOptions, fail, withControl, type Globals } from './common.js';
import { insecureEtcd } from '../../shared/etcd-endpoints.js';

/** Where a host keeps its certificate, the cluster key (managers) and the managers' addresses. */
export const DEFAULT_STATE_DIR = '/var/lib/orch';

export function initCommand(): Command {
  return etcdTlsOptions(new Command('init'))
    .description('Make a new cluster on an empty etcd: its CA, join tokens, this manager\'s certificate and an admin certificate for the CLI')
    .option('--etcd <endpoints>', 'etcd endpoints, comma-separated', process.env.ORCH_ETCD ?? 'http://127.0.0.1:2379')
    .option('--state-dir <dir>', "this manager's state directory", DEFAULT_STATE_DIR)
    .option('--advertise <addr>', 'host:port the manager will serve at (what joiners and the CLI dial)', '127.0.0.1:4242')
    .option('--context <name>', 'name of the CLI context made for this cluster (it becomes current)', 'orch')
    .action(async (f: { etcd: string; stateDir: string; advertise: string; context: string; etcdCa?: string; etcdCert?: string; etcdKey?: string }) => {
      try {
        const { initCluster } = await import('../../manager/ca/init.js');
        const adminDir = contextTlsDir(f.context);
        const r = await initCluster({ etcd: f.etcd, etcdTls: etcdTls({ ...f, stateDir: undefined }), stateDir: f.stateDir, adminDir, advertise: f.advertise });
        useNewContext(f.context, { managers: [f.advertise], tlsDir: adminDir, description: `cluster ${r.clusterId}` });
        const etcdNote = {
          orch: "etcd: reached with this manager's client certificate from etcd's CA (now sealed in etcd); managers that join get theirs.",
          operator: 'etcd: reached with the client certificate you gave (--etcd-cert); give it to every manager.',
          none: insecureEtcd(f.etcd).length
            ? `WARNING: etcd at ${insecureEtcd(f.etcd).join(', ')} is plain HTTP with no client authentication: whoever reaches it controls the cluster. Lock it: \`orch etcd certs\` (docs/security.md).`
            : 'etcd: plain HTTP on loopback (a single-host cluster).',
        }[r.etcdAuth];
        process.stdout.write(
          [
            `Cluster ${r.clusterId} initialised; this host is manager node ${r.nodeId}.`,
            etcdNote,
            `Its certificate and the cluster key are in ${f.stateDir}; the CLI's admin certificate is in ${adminDir} (context "${f.context}", now current).`,
            '',
            'Start this host\'s manager and agent:',
            `    orch manager --state-dir ${f.stateDir} --etcd ${f.etcd} --listen ${f.advertise}`,
            `    orch agent --state-dir ${f.stateDir}`,
            '',
            'To add a worker, run on it:',
            `    orch join --token ${r.tokens.worker} ${f.advertise}`,
            'To add a manager, run on it:',
            `    orch join --token ${r.tokens.manager} ${f.advertise}`,
            '',
          ].join('\n'),
        );
      } catch (err) {
        fail(err);
      }
    });
}

export function joinCommand(): Command {
  return new Command('join')
    .description('Join this host to a cluster with a token from `orch join-token`; the manager is checked against the token before anything is sent')
    .argument('<manager>', 'host:port of a manager')
    .requiredOption('--token <token>', 'worker or manager join token')
    .option('--state-dir <dir>', "this host's state directory", DEFAULT_STATE_DIR)
    .option('--hostname <name>', 'hostname to record (default: the kernel hostname)')
    .action(async (manager: string, f: { token: string; stateDir: string; hostname?: string }) => {
      try {
        const { joinCluster } = await import('../../shared/tls/join.js');
        const r = await joinCluster({ token: f.token, manager, stateDir: f.stateDir, hostname: f.hostname ?? hostname() });
        const lines = [`This host joined the cluster as a ${r.role}: node ${r.nodeId}; its certificate is in ${f.stateDir}.`, 'Start its agent:', `    orch agent --state-dir ${f.stateDir}`];
        if (r.role === 'manager') lines.push('and its manager:', `    orch manager --state-dir ${f.stateDir} --etcd ${r.etcd} --listen HOST:PORT`);
        process.stdout.write(`${lines.join('\n')}\n`);
      } catch (err) {
        fail(err);
      }
    });
}

export function joinTokenCommand(globals: Globals): Command {
  return new Command('join-token')
    .description('Print the join token for workers or managers, or --rotate it (the old one stops working)')
    .argument('<role>', 'worker or manager')
    .option('--rotate', 'replace the token')
    .option('-q, --quiet', 'print the token only')
    .action(async (role: string, f: { rotate?: boolean; quiet?: boolean }) => {
      if (role !== 'worker' && role !== 'manager') fail(new InvalidArgumentError(`"${role}" is not worker or manager`));
      await withControl(globals, async (ctl) => {
        const r = await ctl.getJoinToken({ role, rotate: !!f.rotate });
        if (f.quiet) process.stdout.write(`${r.token}\n`);
        else process.stdout.write(`${f.rotate ? 'Rotated. ' : ''}To add a ${role} to this cluster, run on it:\n    orch join --token ${r.token} ${r.managers[0] ?? 'MANAGER'}\n`);
      });
    });
}

// `orch etcd certs`: etcd's certificates, before etcd first starts (see
// manager/ca/etcd-certs.ts). It prints the flags each member runs with.
import { join } from 'node:path';
import { Command } from 'commander';
import { DEFAULT_STATE_DIR } from './cluster.js';
import { fail } from './common.js';

export function etcdCommand(): Command {
  const cmd = new Command('etcd').description("etcd's certificates: members and clients authenticate each other with a CA of etcd's own");
  cmd
    .command('certs')
    .description('Issue a certificate to each etcd member (making etcd\'s CA on the first run, before `orch init`), and one for the operator')
    .argument('<member...>', "NAME=IP[,IP...]: etcd's --name and the addresses it serves at")
    .option('--state-dir <dir>', "the first manager's state directory (etcd's CA waits there for `orch init`)", DEFAULT_STATE_DIR)
    .option('--out <dir>', 'where the certificates go: DIR/NAME/ for each member, DIR/client/ for the operator', '/etc/orch/etcd')
    .option('--etcd <endpoints>', 'on a manager of a cluster that exists: etcd endpoints (its CA is sealed there)', process.env.ORCH_ETCD)
    .action(async (args: string[], f: { stateDir: string; out: string; etcd?: string }) => {
      try {
        const { etcdCerts, parseMember } = await import('../../manager/ca/etcd-certs.js');
        const members = args.map(parseMember);
        const r = await etcdCerts({ stateDir: f.stateDir, out: f.out, members, etcd: f.etcd });
        const lines = [
          r.created ? `Made etcd's CA (in ${f.stateDir} until \`orch init\` seals it into etcd).` : "Issued with etcd's existing CA.",
          `Certificates for ${members.map((m) => m.name).join(', ')} are in ${f.out}/NAME/; copy each to its member's host. Run each member with:`,
          `    etcd --name NAME --cert-file ${join(f.out, 'NAME', 'server.crt')} --key-file ${join(f.out, 'NAME', 'server.key')} --trusted-ca-file ${join(f.out, 'NAME', 'ca.crt')} --client-cert-auth \\`,
          `         --peer-cert-file … --peer-key-file … --peer-trusted-ca-file … --peer-client-cert-auth   (the same three files), every URL https://`,
          `The operator's client certificate (etcdctl; keep it as safe as the cluster key) is in ${join(f.out, 'client')}.`,
          r.created ? `Then: orch init --etcd https://… --state-dir ${f.stateDir}` : '',
        ];
        process.stdout.write(`${lines.filter(Boolean).join('\n')}\n`);
      } catch (err) {
        fail(err);
      }
    });
  return cmd;
}

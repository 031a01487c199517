// `orch dev`: the embedded default. One command gives a working single-host
// cluster: a local etcd (data under --data-dir), a manager and an agent on the
// local Docker Engine, and a demo service whose replicas answer HTTP.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { fail } from './common.js';
import { compactionOptions, LOG_FORMAT_FLAG, LOG_FORMAT_HELP, type CompactionFlags } from './daemons.js';
import { setLogFormat } from '../../shared/log.js';

/** The flags of `orch dev`. */
export interface DevFlags extends CompactionFlags {
  dataDir: string;
  listen: string;
  etcdPort: string;
  demo: boolean;
  reset?: boolean;
  dockerSocket: string;
  cluster: string;
  logFormat?: string;
  uiAddr: string;
}

export function devCommand(): Command {
  return compactionOptions(new Command('dev'))
    .description('Run a local single-host cluster (etcd + manager + agent) with a demo service')
    .option('--data-dir <dir>', 'where etcd and the agent keep their data', join(homedir(), '.orch', 'dev'))
    .option('--listen <addr>', 'manager gRPC address', '127.0.0.1:4242')
    .option('--etcd-port <port>', 'etcd client port (peer port is this + 10)', '23790')
    .option('--docker-socket <path>', 'Docker Engine socket', '/var/run/docker.sock')
    .option('--cluster <id>', 'cluster id stamped on the containers', 'dev')
    .option('--no-demo', 'do not deploy the demo service')
    .option('--reset', 'start from scratch: remove the data dir first (the new node removes what the old one left on this host)')
    .option('--ui-addr <host:port>', 'where the dashboard is served ("" for none)', '127.0.0.1:4280')
    .option(LOG_FORMAT_FLAG, LOG_FORMAT_HELP)
    .action(async (f: DevFlags) => {
      try {
        setLogFormat(f.logFormat);
      } catch (err) {
        fail(err);
      }
      await (await import('./dev-run.js')).runDev(f).catch(fail);
    });
}


#!/usr/bin/env node
// The `orch` command: Docker-like verbs for services and nodes, and the
// daemons (manager, agent, dev) it also runs.
import { Command } from 'commander';
import { caCommand } from './commands/ca.js';
import { chaosCommand } from './commands/chaos.js';
import { contextCommand } from './commands/context.js';
import { devCommand } from './commands/dev.js';
import { etcdCommand } from './commands/etcd.js';
import { labCommand } from './commands/lab.js';
import { managerAddr, tlsDir } from './commands/common.js';
import { initCommand, joinCommand, joinTokenCommand } from './commands/cluster.js';
import { agentCommand, managerCommand } from './commands/daemons.js';
import { networkCommand } from './commands/network.js';
import { configCommand, secretCommand } from './commands/files.js';
import { volumeCommand } from './commands/volume.js';
import { nodeCommand } from './commands/node.js';
import { serviceCommand } from './commands/service.js';
import { stackCommand } from './commands/stack.js';
import { clusterCommand } from './commands/store.js';
import { eventsCommand } from './commands/events.js';
import { dashboardCommand } from './commands/dashboard.js';
import { dropTlsIpNameWarning } from '../shared/warnings.js';

dropTlsIpNameWarning();

const program = new Command('orch')
  .description('A Swarm-like container orchestrator')
  .option('--manager <addr>', 'manager address(es) host:port[,host:port] (default: $ORCH_MANAGER, the current context, or 127.0.0.1:4242)')
  .option('--tls-dir <dir>', "the admin certificate's directory (default: $ORCH_TLS_DIR, or the current context's)")
  .enablePositionalOptions()
  .showSuggestionAfterError();

type GlobalFlags = { manager?: string; tlsDir?: string };
const globals = {
  manager: () => managerAddr(program.opts<GlobalFlags>().manager),
  explicitManager: () => program.opts<GlobalFlags>().manager ?? process.env.ORCH_MANAGER,
  tlsDir: () => tlsDir(program.opts<GlobalFlags>().tlsDir),
};

program.addCommand(serviceCommand(globals));
program.addCommand(stackCommand(globals));
program.addCommand(nodeCommand(globals));
program.addCommand(networkCommand(globals));
program.addCommand(volumeCommand(globals));
program.addCommand(secretCommand(globals));
program.addCommand(configCommand(globals));
program.addCommand(etcdCommand());
program.addCommand(initCommand());
program.addCommand(joinCommand());
program.addCommand(joinTokenCommand(globals));
program.addCommand(caCommand(globals));
program.addCommand(clusterCommand(globals));
program.addCommand(eventsCommand(globals));
program.addCommand(dashboardCommand(globals));
program.addCommand(managerCommand());
program.addCommand(agentCommand(globals));
program.addCommand(devCommand());
program.addCommand(labCommand());
program.addCommand(contextCommand(globals));
program.addCommand(chaosCommand());

await program.parseAsync(process.argv);

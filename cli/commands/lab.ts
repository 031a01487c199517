// `orch lab …`: many hosts on this machine (lab/lab.ts). After `lab up` the
// CLI talks to the lab's managers (a context named lab-<name> becomes
// current); `lab down` restores the context that was current before.
import { spawn } from 'node:child_process';
import { Command } from 'commander';
import { table } from '../table.js';
import { removeContext, useNewContext } from '../context.js';
import { fail } from './common.js';

const DEFAULT_LAB = 'lab';

/** Lazily loaded: the lab's code is only needed by lab commands. */
const lab = () => import('../../lab/lab.js');
const hostFaults = () => import('../../lab/host-faults.js');
const labState = () => import('../../lab/state.js');

function run(fn: () => Promise<void>): Promise<void> {
  return fn().catch(fail);
}

const say = (line: string) => process.stdout.write(`==> ${line}\n`);

export function labCommand(): Command {
  const cmd = new Command('lab').description('Run a cluster of simulated hosts on this machine (network namespaces, a dockerd each)').enablePositionalOptions();
  const nameOption = (c: Command) => c.option('--name <name>', 'lab name', DEFAULT_LAB);

  nameOption(cmd.command('up'))
    .description('Create the lab: hosts, dockerd per host, etcd, managers, agents')
    .option('--hosts <n>', 'number of hosts', '3')
    .option('--managers <n>', 'hosts that also run an etcd member and a manager', '1')
    .option('--index <n>', 'underlay 198.18.<n>.0/24 (labs side by side need different ones)', '0')
    .option('--cpus <cpus>', 'CPUs each host offers (default: the machine\'s)')
    .option('--memory <size>', 'memory each host offers, e.g. 2g (default: the machine\'s)')
    .action((f: { name: string; hosts: string; managers: string; index: string; cpus?: string; memory?: string }) =>
      run(async () => {
        const { labUp } = await lab();
        const { labAdminDir, saveState } = await labState();
        const started = Date.now();
        const state = await labUp({ name: f.name, index: Number(f.index), hosts: Number(f.hosts), managers: Number(f.managers), cpus: f.cpus, memory: f.memory, progress: say });
        state.previousContext = useNewContext(`lab-${state.name}`, { managers: state.managers, tlsDir: labAdminDir(state), description: `orch lab ${state.name}` });
        saveState(state);
        say(`lab ${state.name} up in ${((Date.now() - started) / 1000).toFixed(1)}s; the CLI now talks to it (context lab-${state.name}); \`orch lab down\` removes it`);
      }),
    );

  nameOption(cmd.command('add'))
    .description('Add a worker host to the lab (it joins the cluster)')
    .option('--cpus <cpus>', 'CPUs the host offers')
    .option('--memory <size>', 'memory the host offers, e.g. 2g')
    .action((f: { name: string; cpus?: string; memory?: string }) =>
      run(async () => {
        const h = await (await lab()).labAdd(f.name, { cpus: f.cpus, memory: f.memory, progress: say });
        say(`${h.name} joined`);
      }),
    );

  nameOption(cmd.command('ls'))
    .description("List the lab's hosts")
    .action((f: { name: string }) =>
      run(async () => {
        const state = (await labState()).loadState(f.name);
        const { hostProcesses } = await lab();
        process.stdout.write(
          table(
            ['HOST', 'ADDRESS', 'ROLE', 'STATUS', 'PROCESSES', 'DOCKER'],
            state.hosts.map((h) => [
              h.name,
              h.addr,
              h.manager ? 'manager' : 'worker',
              h.status,
              Object.entries(hostProcesses(h)).map(([k, up]) => `${k}${up ? '' : '(dead)'}`).join(' '),
              `unix://${h.dockerSocket}`,
            ]),
          ),
        );
      }),
    );

  nameOption(cmd.command('down'))
    .description('Remove everything the lab made, and restore the previous CLI context')
    .action((f: { name: string }) =>
      run(async () => {
        const state = await (await import('../../lab/down.js')).labDown(f.name, say);
        removeContext(`lab-${f.name}`, state?.previousContext);
      }),
    );

  for (const [verb, what] of [
    ['kill', 'SIGKILL every process of a host (daemons and containers)'],
    ['restart', 'Bring a host back on its old data'],
    ['partition', "Cut a host off the network (its link goes down)"],
    ['heal', 'Undo a partition'],
  ] as const) {
    nameOption(cmd.command(verb))
      .description(what)
      .argument('<host>', 'h1, h2, …')
      .action((host: string, f: { name: string }) =>
        run(async () => {
          const l = await hostFaults();
          const fn = { kill: l.labKill, restart: l.labRestart, partition: l.labPartition, heal: l.labHeal }[verb];
          await fn(f.name, host);
          say(`${host}: ${verb} done`);
        }),
      );
  }

  nameOption(cmd.command('exec'))
    .description("Run a command on a host (in its network namespace, DOCKER_HOST set to its engine)")
    .argument('<host>', 'h1, h2, …')
    .argument('<command...>', 'command and arguments (after --)')
    .passThroughOptions()
    .action((host: string, command: string[], f: { name: string }) =>
      run(async () => {
        const { findHost, loadState } = await labState();
        const h = findHost(loadState(f.name), host);
        const child = spawn('nsenter', [`--net=/var/run/netns/${h.netns}`, ...command], { stdio: 'inherit', env: (await lab()).hostEnv(h) });
        const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
        process.exit(code);
      }),
    );
  return cmd;
}

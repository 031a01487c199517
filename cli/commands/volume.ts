// `orch volume ls`: every named volume orch made, on which node, for which
// service and slot, and which tasks mount it now (as the agents report them).
// `orch volume rm`: removes one no task uses, from its node.
import { Command } from 'commander';
import { NodeVolume } from '../../proto/generated/orch.js';
import { shortId } from '../../shared/ids.js';
import { table } from '../table.js';
import { formatOption, print, removeCommand, withControl, type Globals } from './common.js';

export function volumeCommand(globals: Globals): Command {
  const cmd = new Command('volume').description("List the named volumes orch made on the nodes");
  cmd
    .command('ls')
    .description('List volumes: node, service and slot, and the tasks using each')
    .addOption(formatOption())
    .action((f: { format: string }) =>
      withControl(globals, async (ctl) => {
        const { volumes } = await ctl.listVolumes({});
        print(f.format, volumes.map((v) => NodeVolume.toJSON(v)), () =>
          table(
            ['NAME', 'NODE', 'SERVICE', 'SLOT', 'USED BY'],
            volumes.map(({ hostname, nodeId, volume: v }) => [v!.name, hostname || shortId(nodeId), v!.serviceName, v!.slot ? String(v!.slot) : '', v!.tasks.map(shortId).join(',') || '-']),
          ),
        );
      }),
    );
  removeCommand<{ node?: string }>(
    cmd,
    globals,
    'Remove volumes no task uses (and their data), each from the node that holds it',
    (ctl, name, f) => ctl.removeVolume({ name, node: f.node ?? '' }),
    (c) => c.option('--node <node>', 'the node whose copy to remove, when several nodes hold one of that name'),
  );
  return cmd;
}

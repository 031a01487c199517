// `orch volume ls`: every named volume orch made, on which node, for which
// service and slot, and which tasks mount it now (as the agents report them).
import { Command } from 'commander';
import { NodeVolume } from '../../proto/generated/orch.js';
import { shortId } from '../../shared/ids.js';
import { table } from '../table.js';
import { formatOption, print, withControl, type Globals } from './common.js';

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
  return cmd;
}

// `orch node …`: ls, inspect.
import { Command } from 'commander';
import { Node, nodeAvailabilityToJSON, nodeStateToJSON } from '../../proto/generated/orch.js';
import { shortId } from '../../shared/ids.js';
import { table } from '../table.js';
import { formatOption, inspectCommand, print, withControl, type Globals } from './common.js';

export function nodeCommand(globals: Globals): Command {
  const cmd = new Command('node').description('Manage nodes');
  cmd
    .command('ls')
    .description('List nodes')
    .addOption(formatOption())
    .action((flags: { format: string }) =>
      withControl(globals, async (ctl) => {
        const { nodes } = await ctl.listNodes({});
        print(flags.format, nodes.map((n) => Node.toJSON(n)), () =>
          table(
            ['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'ROLE', 'ENGINE VERSION'],
            nodes.map((n) => [
              shortId(n.id),
              n.description?.hostname ?? '',
              nodeStateToJSON(n.state).replace('NODE_', '').toLowerCase().replace(/^./, (c) => c.toUpperCase()),
              nodeAvailabilityToJSON(n.availability).toLowerCase().replace(/^./, (c) => c.toUpperCase()),
              n.role,
              n.description?.engineVersion ?? '',
            ]),
          ),
        );
      }),
    );
  inspectCommand(cmd, globals, 'nodes', 'node ids, id prefixes or hostnames', (ctl, ref) => ctl.getNode({ ref }), Node.toJSON);
  return cmd;
}

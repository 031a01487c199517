// `orch node …`: ls, inspect.
import { Command } from 'commander';
import { Node, nodeAvailabilityToJSON, nodeStateToJSON } from '../../proto/generated/orch.js';
import { shortId } from '../../shared/ids.js';
import { table } from '../table.js';
import { formatOption, print, withControl, type Globals } from './common.js';

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
  cmd
    .command('inspect')
    .description('Display detailed information on one or more nodes (JSON)')
    .argument('<node...>', 'node ids, id prefixes or hostnames')
    .action((refs: string[]) =>
      withControl(globals, async (ctl) => {
        const out = [];
        for (const ref of refs) out.push(Node.toJSON(await ctl.getNode({ ref })));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      }),
    );
  return cmd;
}

// `orch network …`: create, ls, inspect, rm (overlay networks).
import { Command, Option } from 'commander';
import { Endpoint, Network } from '../../proto/generated/orch.js';
import { shortId } from '../../shared/ids.js';
import { table } from '../table.js';
import { collect, formatOption, keyValues, print, removeCommand, withControl, type Globals } from './common.js';

export function networkCommand(globals: Globals): Command {
  const cmd = new Command('network').description('Manage overlay networks');

  cmd
    .command('create')
    .description('Create an overlay network (a VXLAN segment across hosts)')
    .argument('<name>')
    .addOption(new Option('-d, --driver <driver>', 'network driver').choices(['overlay']).default('overlay'))
    .option('--subnet <cidr>', 'subnet (default: the next free /24 of 10.10.0.0/16)')
    .option('--gateway <ip>', 'gateway address (default: the first address of the subnet)')
    .option('--label <k=v>', 'network label (repeatable)', collect, [])
    .action((name: string, f: { driver: string; subnet?: string; gateway?: string; label: string[] }) =>
      withControl(globals, async (ctl) => {
        const n = await ctl.createNetwork({ name, driver: f.driver, subnet: f.subnet ?? '', gateway: f.gateway ?? '', labels: keyValues(f.label, '--label') });
        process.stdout.write(`${n.id}\n`);
      }),
    );

  cmd
    .command('ls')
    .description('List networks')
    .addOption(formatOption())
    .action((f: { format: string }) =>
      withControl(globals, async (ctl) => {
        const { networks } = await ctl.listNetworks({});
        print(f.format, networks.map((n) => Network.toJSON(n)), () =>
          table(['ID', 'NAME', 'DRIVER', 'SUBNET', 'GATEWAY', 'VNI'], networks.map((n) => [shortId(n.id), n.spec!.name, n.spec!.driver, n.subnet, n.gateway, String(n.vni)])),
        );
      }),
    );

  cmd
    .command('inspect')
    .description('Display networks with their endpoints by host (JSON)')
    .argument('<network...>')
    .action((refs: string[]) =>
      withControl(globals, async (ctl) => {
        const { nodes } = await ctl.listNodes({});
        const host = new Map(nodes.map((n) => [n.id, n.description?.hostname ?? n.id]));
        const out = [];
        for (const ref of refs) {
          const info = await ctl.getNetwork({ ref });
          const byHost: Record<string, unknown[]> = {};
          for (const e of info.endpoints) (byHost[host.get(e.nodeId) ?? e.nodeId] ??= []).push(Endpoint.toJSON(e));
          out.push({ ...(Network.toJSON(info.network!) as object), services: info.services, endpointsByHost: byHost });
        }
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      }),
    );

  removeCommand(cmd, globals, 'Remove networks (refused while a service uses one)', (ctl, ref) => ctl.removeNetwork({ ref }));
  return cmd;
}

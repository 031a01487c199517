// `orch context …`: which managers the CLI talks to (like `docker context`).
import { Command } from 'commander';
import { loadConfig, useContext } from '../context.js';
import { table } from '../table.js';
import { fail } from './common.js';

export function contextCommand(): Command {
  const cmd = new Command('context').description('Manage contexts (which cluster the CLI talks to)');
  cmd
    .command('ls')
    .description('List contexts; * marks the current one')
    .action(() => {
      const c = loadConfig();
      const rows = [['default', '127.0.0.1:4242 (or $ORCH_MANAGER)', c.current ? '' : '*']];
      for (const [name, ctx] of Object.entries(c.contexts)) rows.push([name, ctx.managers.join(','), c.current === name ? '*' : '']);
      process.stdout.write(table(['NAME', 'MANAGERS', 'CURRENT'], rows));
    });
  cmd
    .command('use')
    .description('Make a context current ("default": the local manager)')
    .argument('<name>')
    .action((name: string) => {
      try {
        useContext(name === 'default' ? undefined : name);
        process.stdout.write(`${name}\n`);
      } catch (err) {
        fail(err);
      }
    });
  return cmd;
}

// `orch context …`: which managers the CLI talks to (like `docker context`).
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { connect } from '../../client/control.js';
import { InvalidArgumentError, NotFoundError } from '../../shared/errors.js';
import { loadTls, saveCert, saveTrust } from '../../shared/tls/credentials.js';
import { validity } from '../../shared/tls/pki.js';
import { loadConfig, useContext, useNewContext } from '../context.js';
import { table } from '../table.js';
import { fail, withClient, type Globals } from './common.js';

export function contextCommand(globals: Globals): Command {
  const cmd = new Command('context').description('Manage contexts (which cluster the CLI talks to)');
  cmd
    .command('ls')
    .description('List contexts; * marks the current one')
    .action(() => {
      const c = loadConfig();
      const rows = [['default', '127.0.0.1:4242 (or $ORCH_MANAGER)', c.current ? '' : '*']];
      rows[0]!.splice(2, 0, '$ORCH_TLS_DIR');
      for (const [name, ctx] of Object.entries(c.contexts)) rows.push([name, ctx.managers.join(','), ctx.tlsDir ?? '', c.current === name ? '*' : '']);
      process.stdout.write(table(['NAME', 'MANAGERS', 'CERTIFICATE', 'CURRENT'], rows));
    });
  cmd
    .command('create')
    .description('Add (or replace) a context and make it current')
    .argument('<name>')
    .requiredOption('--manager <addrs>', 'manager address(es), host:port[,host:port]')
    .requiredOption('--tls-dir <dir>', 'directory of the admin certificate (ca.crt, node.key, node.crt)')
    .action((name: string, f: { manager: string; tlsDir: string }) => {
      try {
        if (name === 'default') throw new InvalidArgumentError('"default" is the built-in context; pick another name');
        const tlsDir = resolve(f.tlsDir);
        if (!existsSync(`${tlsDir}/node.crt`)) throw new InvalidArgumentError(`--tls-dir ${f.tlsDir} holds no node.crt: give the directory \`orch init\` wrote the admin certificate to`);
        useNewContext(name, { managers: f.manager.split(',').filter(Boolean), tlsDir });
        process.stdout.write(`${name}\n`);
      } catch (err) {
        fail(err);
      }
    });
  cmd
    .command('renew')
    .description("Renew a context's admin certificate (default: the one the CLI uses now) under the cluster's certificate lifetime")
    .argument('[name]', 'a context (default: --tls-dir, $ORCH_TLS_DIR or the current context)')
    .action((name: string | undefined) => {
      let target: { managers: string; dir: string };
      try {
        const ctx = name === undefined ? undefined : loadConfig().contexts[name];
        if (name !== undefined && !ctx?.tlsDir) throw new NotFoundError(`no context "${name}" with a certificate; \`orch context ls\` lists them`);
        target = ctx ? { managers: ctx.managers.join(','), dir: ctx.tlsDir! } : { managers: globals.manager(), dir: globals.tlsDir() };
      } catch (err) {
        fail(err);
      }
      return withClient(
        () => connect(target.managers, loadTls(target.dir)),
        async (ctl) => {
          const c = await ctl.renewCertificate({});
          saveTrust(target.dir, c.caPem);
          saveCert(target.dir, c.certPem);
          process.stdout.write(`Renewed the certificate in ${target.dir}: valid until ${validity(c.certPem).notAfter.toISOString()}.\n`);
        },
      );
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

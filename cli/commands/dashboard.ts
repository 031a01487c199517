// `orch dashboard`: where the manager serves the dashboard, with the token
// it asks for off loopback (printed to the admin only: it opens the page).
import { Command } from 'commander';
import { FailedPreconditionError } from '../../shared/errors.js';
import { withControl, type Globals } from './common.js';

export function dashboardCommand(globals: Globals): Command {
  return new Command('dashboard').description("Print the address of the manager's dashboard (with its token when it is not on loopback)").action(() =>
    withControl(globals, async (ctl) => {
      const d = await ctl.getDashboard({});
      if (!d.url) throw new FailedPreconditionError('this manager serves no dashboard: start it with --ui-addr HOST:PORT (orch dev serves one on 127.0.0.1:4280)');
      process.stdout.write(`${d.url}\n`);
    }),
  );
}

// `orch ca`: the cluster's root CA and any rotation of it; `orch ca rotate`
// starts one (manager/ca/rotation.ts) and, like `docker swarm ca --rotate`,
// waits with a progress display until every node is under the new root. The
// CLI's own admin certificate moves to the new root at the start (while the
// old one is still trusted) and drops the old root at the end.
import { Command } from 'commander';
import { CaStatus } from '../../proto/generated/orch.js';
import { connect, type Control } from '../../client/control.js';
import { parseDuration, formatDuration } from '../../shared/duration.js';
import { UnavailableError } from '../../shared/errors.js';
import { loadTls, saveCert, saveTrust } from '../../shared/tls/credentials.js';
import { display } from '../progress.js';
import { formatOption, print, withControl, type Globals } from './common.js';

const POLL_MS = 250;

export function caCommand(globals: Globals): Command {
  const cmd = new Command('ca')
    .description("The cluster's root CA: its fingerprint, expiry and any rotation under way")
    .addOption(formatOption())
    .action((f: { format: string }) =>
      withControl(globals, async (ctl) => {
        const s = await ctl.getCaStatus({});
        print(f.format, CaStatus.toJSON(s), () => `${caLines(s).join('\n')}\n`);
      }),
    );
  cmd
    .command('rotate')
    .description('Replace the root CA: every node gets a certificate of a new root (cross-signed by the old) before the old root is retired; join tokens pin the new root')
    .option('-d, --detach', 'start it and return; `orch ca` shows its progress')
    .option('--timeout <duration>', 'how long to wait (the rotation goes on after)', '10m')
    .action((f: { detach?: boolean; timeout: string }) =>
      withControl(globals, async (ctl) => {
        const timeoutMs = parseDuration(f.timeout, '--timeout');
        const dir = globals.tlsDir();
        const started = Date.now();
        await ctl.rotateCa({});
        await renewAdmin(ctl, dir);
        if (f.detach) {
          process.stdout.write('CA rotation started. `orch ca` shows its progress; run `orch context renew` for every other admin certificate before it ends.\n');
          return;
        }
        // From here on, the certificate just renewed (the old one stops working once the old root is retired).
        const renewed = connect(globals.manager(), loadTls(dir));
        try {
          await waitForRotation(renewed, started, timeoutMs);
          await renewAdmin(renewed, dir);
        } finally {
          renewed.close();
        }
        process.stdout.write(`CA rotation done in ${formatDuration(Date.now() - started)}: every node is under the new root; old join tokens no longer work (\`orch join-token worker\` prints the new one).\n`);
      }),
    );
  return cmd;
}

/** Replaces the CLI's admin certificate (and the roots it trusts) with what the cluster issues now. */
async function renewAdmin(ctl: Control, dir: string): Promise<void> {
  const c = await ctl.renewCertificate({});
  saveTrust(dir, c.caPem);
  saveCert(dir, c.certPem);
}

async function waitForRotation(ctl: Control, started: number, timeoutMs: number): Promise<void> {
  const draw = display(process.stdout);
  for (;;) {
    const s = await ctl.getCaStatus({});
    if (!s.phase) return;
    draw(caLines(s).join('\n'));
    if (Date.now() - started > timeoutMs) {
      throw new UnavailableError(`the CA rotation is not done after ${formatDuration(timeoutMs)} (${waitingOn(s) || 'still going'}); it goes on by itself: \`orch ca\` shows its progress`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** What `orch ca` shows, and the rotation's progress display. */
export function caLines(s: CaStatus): string[] {
  const root = (r: CaStatus['root']) => (r ? `${r.fingerprint.slice(0, 16)}… ${r.subject}, valid until ${r.notAfter?.toISOString()}` : '');
  const lines = [`root CA: ${root(s.root)}`];
  if (!s.phase) return [...lines, 'no rotation under way'];
  const total = s.nodes.length;
  lines.push(
    s.phase === 'reissue' ? `rotating to: ${root(s.next)} (since ${s.startedAt?.toISOString()})` : `rotation: the old root is retired (since ${s.startedAt?.toISOString()}); nodes drop it`,
    `  nodes with a certificate of the new root: ${s.nodes.filter((n) => n.reissued).length}/${total}`,
    `  nodes trusting the new root alone: ${s.nodes.filter((n) => n.trustsNewOnly).length}/${total}`,
  );
  const waiting = waitingOn(s);
  if (waiting) lines.push(`  waiting on: ${waiting}`);
  return lines;
}

/** The nodes the rotation's current step waits on; a down one is told how to unblock it. */
function waitingOn(s: CaStatus): string {
  return s.nodes
    .filter((n) => (s.phase === 'reissue' ? !n.reissued : !n.trustsNewOnly))
    .map((n) => (n.ready ? n.hostname : `${n.hostname} (down: bring it back, or \`orch node rm\` it)`))
    .join(', ');
}

// `orch events`: what the cluster does, as it happens (and what the manager
// kept, with --since), one line each in Docker's shape or JSON lines. When
// the manager is lost the stream resumes on another after the last event it
// printed, for up to RESUME_MS: nothing missed, nothing twice.
import { Command } from 'commander';
import { ClusterEvent } from '../../proto/generated/orch.js';
import { parseTime } from '../../shared/duration.js';
import { UnavailableError } from '../../shared/errors.js';
import { EVENT_FILTERS, EVENT_TYPES, parseFilters } from '../../shared/filters.js';
import { collect, formatOption, withControl, type Globals } from './common.js';

/** How long a lost stream keeps trying to resume. */
const RESUME_MS = 30_000;

export function eventsCommand(globals: Globals): Command {
  return new Command('events')
    .description('Stream what the cluster does: services, tasks, nodes, networks, secrets and configs')
    .option('--since <time>', 'first what the manager kept from then on: a duration back (10m), a date or Unix seconds')
    .option('--until <time>', 'stop there (default: go on)')
    .option('-f, --filter <key=value>', `only some: type=${EVENT_TYPES.join('|')}, name=, id=, event= (repeatable)`, collect, [])
    .addOption(formatOption())
    .action((f: { since?: string; until?: string; filter: string[]; format: string }) =>
      withControl(globals, async (ctl) => {
        parseFilters(f.filter, EVENT_FILTERS);
        const now = Date.now();
        const since = f.since === undefined ? undefined : parseTime(f.since, '--since', now);
        const until = f.until === undefined ? undefined : parseTime(f.until, '--until', now);
        let last: ClusterEvent | undefined;
        let lostAt = 0;
        let stream: ReturnType<typeof ctl.events> | undefined;
        process.once('SIGINT', () => (stream?.cancel(), process.exit(130)));
        for (;;) {
          stream = ctl.events({ since, until, filters: f.filter, resume: !!last, afterRevision: last?.revision ?? 0n, afterIndex: last?.index ?? 0 });
          try {
            for await (const e of stream) {
              lostAt = 0;
              if (e.type === 'orch' && e.action === 'gap') {
                process.stderr.write(`orch: events after revision ${e.attributes.after} up to ${e.attributes.kept} were not kept by this manager: some may be missing\n`);
                continue;
              }
              last = e;
              process.stdout.write(f.format === 'json' ? `${JSON.stringify(ClusterEvent.toJSON(e))}\n` : line(e));
            }
            return;
          } catch (err) {
            if (!(err instanceof UnavailableError)) throw err;
            if (!lostAt) process.stderr.write(`orch: ${err.message}; resuming after the last event\n`);
            lostAt ||= Date.now();
            if (Date.now() - lostAt > RESUME_MS) throw err;
            await new Promise((r) => setTimeout(r, 250));
          }
        }
      }),
    );
}

/** "2026-12-02T19:00:00.123Z service create x7k2abcd1234 (name=web, image=nginx)", as Docker prints events. */
function line(e: ClusterEvent): string {
  const attrs = [`name=${e.name}`, ...Object.entries(e.attributes).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`)];
  return `${e.time?.toISOString() ?? ''} ${e.type} ${e.action} ${e.id} (${attrs.join(', ')})\n`;
}

// `orch service logs`: a service's or a task's output, in Docker's format
// ("web.1.x7k2abcd1234@h2    | line"), stdout lines on stdout and stderr
// lines on stderr; what the manager could not read is said on stderr.
import { once } from 'node:events';
import type { Command } from 'commander';
import type { LogLine, LogSource } from '../../proto/generated/orch.js';
import { parseTime } from '../../shared/duration.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { shortId } from '../../shared/ids.js';
import { withControl, type Globals } from './common.js';

interface LogsFlags {
  follow?: boolean;
  tail: string;
  since?: string;
  timestamps?: boolean;
  raw?: boolean;
  taskIds: boolean;
  trunc: boolean;
}

export function logsCommand(parent: Command, globals: Globals): void {
  parent
    .command('logs')
    .description('Fetch the logs of a service or a task')
    .argument('<service|task>', 'a service (name or id) or a task (id, or name like web.1)')
    .option('-f, --follow', 'follow the output, and the tasks that start later')
    .option('-n, --tail <lines>', 'lines to show from the end of each task\'s log, or "all"', 'all')
    .option('--since <time>', 'only lines since this time: a duration back (10m), a date (2026-12-02T15:04:05Z) or Unix seconds')
    .option('-t, --timestamps', 'show when each line was written')
    .option('--raw', 'lines only, with no task prefix')
    .option('--no-task-ids', 'leave task ids out of the prefix')
    .option('--no-trunc', 'full task ids in the prefix')
    .action((ref: string, f: LogsFlags) =>
      withControl(globals, async (ctl) => {
        const req = { ref, follow: !!f.follow, tail: parseTail(f.tail), since: f.since === undefined ? undefined : parseTime(f.since, '--since') };
        const stream = ctl.logs(req);
        const prefix = new Prefixes(f);
        process.once('SIGINT', () => (stream.cancel(), process.exit(130)));
        for await (const m of stream) {
          for (const s of m.sources) prefix.add(s);
          if (m.notice) process.stderr.write(`${m.notice}\n`);
          for (const l of m.lines) {
            const out = l.stderr ? process.stderr : process.stdout;
            if (!out.write(prefix.line(l))) await once(out, 'drain');
          }
        }
      }),
    );
}

/** --tail: a whole number of lines, or all (-1 to the manager). */
function parseTail(text: string): bigint {
  if (text === 'all') return -1n;
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`--tail: "${text}" is not a number of lines; give a whole number from 0 up, or all`);
  return BigInt(text);
}

/** Each task's prefix, padded to the widest seen so far (as Docker aligns them). */
class Prefixes {
  private readonly names = new Map<string, string>();
  private width = 0;

  constructor(private readonly f: LogsFlags) {}

  add(s: LogSource): void {
    const id = this.f.trunc ? shortId(s.taskId) : s.taskId;
    const name = this.f.taskIds ? `${s.name}.${id}@${s.hostname}` : `${s.name}@${s.hostname}`;
    this.names.set(s.taskId, name);
    this.width = Math.max(this.width, name.length);
  }

  line(l: LogLine): string {
    const time = this.f.timestamps && l.time ? `${l.time.toISOString()} ` : '';
    const text = Buffer.from(l.data).toString();
    if (this.f.raw) return `${time}${text}\n`;
    return `${(this.names.get(l.taskId) ?? shortId(l.taskId)).padEnd(this.width)}    | ${time}${text}\n`;
  }
}

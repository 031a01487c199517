// Durations in Docker's spelling ("500ms", "5s", "1m30s", "2h"), to milliseconds.
import { InvalidArgumentError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a duration; a bare number is taken as seconds, as Docker's flags do not allow. */
export function parseDuration(text: string, flag: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    throw new InvalidArgumentError(`${flag}: "${text}" has no unit; write it like 500ms, 5s or 1m`);
  }
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(trimmed); m; m = re.exec(trimmed)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (trimmed === '' || consumed !== trimmed.length) {
    throw new InvalidArgumentError(`${flag}: "${text}" is not a duration; write it like 500ms, 5s or 1m30s`);
  }
  return Math.round(total);
}

/** Formats milliseconds back the same way ("1.5s", "200ms"). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(2)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${formatDuration(ms % 60_000).replace(/^0ms$/, '')}`;
  return `${Math.floor(ms / 3_600_000)}h${formatDuration(ms % 3_600_000).replace(/^0ms$/, '')}`;
}

/**
 * A point in time as Docker's --since takes it: a duration back from `now`
 * ("10m", "1h30m"), a date or date-time (RFC 3339), or Unix seconds.
 */
export function parseTime(text: string, flag: string, now = Date.now()): Date {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return new Date(Number(t) * 1000);
  if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(t)) return new Date(now - parseDuration(t, flag));
  const date = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(t) ? new Date(t) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError(`${flag}: "${text}" is not a time; give a duration back from now (10m, 2h), a date (2026-12-02 or 2026-12-02T15:04:05Z) or Unix seconds`);
  }
  return date;
}

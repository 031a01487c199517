// Structured logging: one pino root per process, one child logger per
// component. Lines are JSON for machines, or readable for people (pino-pretty)
// when stdout is a terminal; `--log-format` (setLogFormat) decides otherwise.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { InvalidArgumentError } from './errors.js';

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

let format: LogFormat | undefined;
let root: Logger | undefined;

/** Chooses the format of every log line from now on (before the first logger is made). */
export function setLogFormat(text: string | undefined): void {
  if (text === undefined) return;
  if (!(LOG_FORMATS as readonly string[]).includes(text)) throw new InvalidArgumentError(`--log-format: "${text}" is not one of ${LOG_FORMATS.join(', ')}`);
  format = text as LogFormat;
}

function rootLogger(): Logger {
  if (root) return root;
  const options = { level: process.env.ORCH_LOG_LEVEL ?? 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  const readable = (format ?? (process.stdout.isTTY ? 'pretty' : 'json')) === 'pretty';
  root = readable ? pino(options, pretty({ sync: true, colorize: !!process.stdout.isTTY, ignore: 'pid,hostname,component', singleLine: true, translateTime: 'SYS:HH:MM:ss.l', messageFormat: '{component}: {msg}' })) : pino(options);
  return root;
}

/** A child logger tagged with the component's name (e.g. "scheduler"). */
export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}

export type { Logger };

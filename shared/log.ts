// Structured logging: one pino root per process, one child logger per component.
import { pino, type Logger } from 'pino';

const root: Logger = pino({
  level: process.env.ORCH_LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
});

/** A child logger tagged with the component's name (e.g. "scheduler"). */
export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return root.child({ component, ...bindings });
}

export type { Logger };

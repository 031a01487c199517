// Docker's words for a spec's values, read the same way from flags and from
// Compose files: shell words, a word from a table (restart conditions,
// modes, failure actions, orders), and env files.
import { readFileSync } from 'node:fs';
import { parse as parseShell } from 'shell-quote';
import { EndpointSpec_Mode, RestartPolicy_Condition, ServiceSpec_Mode, UpdateConfig_FailureAction, UpdateConfig_Order } from '../proto/generated/orch.js';
import { InvalidArgumentError } from './errors.js';

export const CONDITIONS: Record<string, RestartPolicy_Condition> = {
  any: RestartPolicy_Condition.RESTART_ANY,
  'on-failure': RestartPolicy_Condition.RESTART_ON_FAILURE,
  none: RestartPolicy_Condition.RESTART_NONE,
};
export const MODES: Record<string, ServiceSpec_Mode> = { replicated: ServiceSpec_Mode.REPLICATED, global: ServiceSpec_Mode.GLOBAL };
export const ENDPOINT_MODES: Record<string, EndpointSpec_Mode> = { vip: EndpointSpec_Mode.VIP, dnsrr: EndpointSpec_Mode.DNSRR };
export const FAILURE_ACTIONS: Record<string, UpdateConfig_FailureAction> = {
  pause: UpdateConfig_FailureAction.PAUSE,
  continue: UpdateConfig_FailureAction.CONTINUE,
  rollback: UpdateConfig_FailureAction.ROLLBACK,
};
export const ORDERS: Record<string, UpdateConfig_Order> = { 'stop-first': UpdateConfig_Order.STOP_FIRST, 'start-first': UpdateConfig_Order.START_FIRST };

/** A command line in shell quoting, as words (shell operators refused). */
export function shellWords(text: string, flag: string): string[] {
  return parseShell(text).map((w) => {
    if (typeof w !== 'string') throw new InvalidArgumentError(`${flag}: "${text}" holds shell operators; quote them`);
    return w;
  });
}

/** The value a word stands for in `table`; an unknown word is an error listing the known ones. */
export function pick<T>(table: Record<string, T>, value: string, flag: string): T {
  const v = table[value];
  if (v === undefined) throw new InvalidArgumentError(`${flag}: "${value}" is not one of ${Object.keys(table).join(', ')}`);
  return v;
}

/** Lines KEY=VALUE of an env file; blank lines and # comments skipped; a bare KEY takes this shell's value, as Docker does. */
export function readEnvFile(path: string, flag: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .flatMap((l) => (l.includes('=') ? [l] : process.env[l] !== undefined ? [`${l}=${process.env[l]}`] : []));
}

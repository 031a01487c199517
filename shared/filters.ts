// Docker's --filter KEY=VALUE (repeatable): values given for one key are
// alternatives, and every key given must hold.
import { InvalidArgumentError } from './errors.js';

export type Filters = Map<string, string[]>;

/** Parses the --filter flags; `keys` are those the command knows, each with the values it takes (none listed: any). */
export function parseFilters(list: string[], keys: Record<string, readonly string[]>): Filters {
  const out: Filters = new Map();
  for (const f of list) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`--filter: "${f}" is not KEY=VALUE (e.g. name=web)`);
    const key = f.slice(0, eq);
    const value = f.slice(eq + 1);
    const allowed = keys[key];
    if (!allowed) throw new InvalidArgumentError(`--filter: unknown key "${key}"; use ${Object.keys(keys).join(', ')}`);
    if (allowed.length && !allowed.includes(value)) throw new InvalidArgumentError(`--filter: ${key} "${value}" is not one of ${allowed.join(', ')}`);
    out.set(key, [...(out.get(key) ?? []), value]);
  }
  return out;
}

/** Whether an object passes the filter on `key`: no value given for it, or `test` holds for one of them. */
export function passes(filters: Filters, key: string, test: (value: string) => boolean): boolean {
  const values = filters.get(key);
  return !values || values.some(test);
}

/** A label filter value ("k" or "k=v") against an object's labels. */
export function hasLabel(labels: Record<string, string>, value: string): boolean {
  const eq = value.indexOf('=');
  return eq < 0 ? value in labels : labels[value.slice(0, eq)] === value.slice(eq + 1);
}

/** The types of the cluster's events (`orch events --filter type=`). */
export const EVENT_TYPES = ['service', 'task', 'node', 'network', 'secret', 'config'] as const;

/** The --filter keys `orch events` takes. */
export const EVENT_FILTERS: Record<string, readonly string[]> = { type: EVENT_TYPES, name: [], id: [], event: [] };

// The Compose Specification's JSON schema, checked with Ajv. orch does not
// carry its own copy: it reads the schema the host's Compose tooling ships
// (Debian's docker-compose package), or the file ORCH_COMPOSE_SCHEMA names.
// Errors are turned into one line per problem, at the key they are about.
import { existsSync, readFileSync } from 'node:fs';
import Ajv2019, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2019.js';
import { InvalidArgumentError } from '../shared/errors.js';
import { parseDuration } from '../shared/duration.js';
import { parseCidr } from '../shared/ipam.js';

/** Where the schema is looked for, in order, after $ORCH_COMPOSE_SCHEMA. */
export const SCHEMA_PATHS = ['/usr/lib/python3/dist-packages/compose/config/compose_spec.json'];

/** A problem the schema found: where (a path into the file) and what. */
export interface SchemaProblem {
  path: (string | number)[];
  message: string;
}

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled) return compiled;
  const path = [process.env.ORCH_COMPOSE_SCHEMA, ...SCHEMA_PATHS].find((p): p is string => !!p && existsSync(p));
  if (!path) {
    throw new InvalidArgumentError("the Compose Specification's JSON schema was not found: install Debian's docker-compose package (apt-get install docker-compose) or set ORCH_COMPOSE_SCHEMA=FILE");
  }
  // Written for draft 2019-09, it still spells ids as draft 4 did ("id": "#/…"), which Ajv refuses: they name nothing that is referred to.
  const schema = JSON.parse(readFileSync(path, 'utf8'), (k, v: unknown) => (k === 'id' && typeof v === 'string' ? undefined : v)) as Record<string, unknown>;
  delete schema.$schema;
  const ajv = new Ajv2019.default({ allErrors: true, strict: false, verbose: true });
  ajv.addFormat('duration', { validate: (s: string) => ok(() => parseDuration(s, 'duration')) });
  ajv.addFormat('subnet_ip_address', { validate: (s: string) => ok(() => parseCidr(s)) });
  ajv.addFormat('ports', { validate: (s: string | number) => /^(\[?[0-9a-fA-F.:]*\]?:)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(String(s)) });
  ajv.addFormat('expose', { validate: (s: string | number) => /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(String(s)) });
  return (compiled = ajv.compile(schema));
}

function ok(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}

/** Checks a (merged, interpolated) Compose model; returns its problems, the most specific first, one per place. */
export function checkSchema(model: unknown): SchemaProblem[] {
  const validate = validator();
  if (validate(model)) return [];
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'if');
  // A oneOf gives an error per branch; the branch that got deepest into the value is the one meant.
  const byPlace = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    const place = e.keyword === 'additionalProperties' ? `${e.instancePath}/${String(e.params.additionalProperty)}` : e.instancePath;
    byPlace.set(place, [...(byPlace.get(place) ?? []), e]);
  }
  const places = [...byPlace.keys()].filter((p) => ![...byPlace.keys()].some((q) => q !== p && q.startsWith(`${p}/`)));
  return places.sort().map((p) => ({ path: pointer(p), message: words(byPlace.get(p)!) }));
}

function pointer(p: string): (string | number)[] {
  return p
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

const ARTICLE: Record<string, string> = { integer: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false', object: 'a mapping', array: 'a list', null: 'empty' };

/** The errors at one place, in words: "must be an integer", "unknown key", "must be one of: a, b". */
function words(errors: ErrorObject[]): string {
  const e = errors[0]!;
  if (e.keyword === 'additionalProperties') return 'is not a known key here (check its spelling and its indentation)';
  const types = errors.filter((x) => x.keyword === 'type').flatMap((x) => String(x.params.type).split(','));
  if (types.length) return `must be ${[...new Set(types)].map((t) => ARTICLE[t] ?? t).join(' or ')}`;
  if (e.keyword === 'enum') return `must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}`;
  if (e.keyword === 'required') return `needs the key "${String(e.params.missingProperty)}"`;
  if (e.keyword === 'format') return `"${String(e.data)}" is not a valid ${String(e.params.format).replace(/_/g, ' ')}`;
  if (e.keyword === 'uniqueItems') return 'has the same item twice';
  return e.message ?? 'is not valid';
}

// Placement constraints, with Docker's syntax: `node.labels.zone==a`,
// `node.role!=manager`, `node.hostname==h1`, `node.id==…`,
// `node.platform.os==linux`, `node.platform.arch==x86_64`.
import type { Node } from '../proto/generated/orch.js';
import { InvalidArgumentError } from './errors.js';

export interface Constraint {
  key: string;
  equal: boolean;
  value: string;
}

const FIXED_KEYS = ['node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch'];
const LABEL_PREFIX = 'node.labels.';

/** Parses one constraint; throws with the accepted forms if it is not one. */
export function parseConstraint(text: string): Constraint {
  const m = /^\s*([A-Za-z0-9_.\-]+)\s*(==|!=)\s*(.*?)\s*$/.exec(text);
  if (!m || !m[3]) {
    throw new InvalidArgumentError(`invalid constraint "${text}": expected KEY==VALUE or KEY!=VALUE, e.g. node.labels.zone==a`);
  }
  const key = m[1]!;
  if (!FIXED_KEYS.includes(key) && !(key.startsWith(LABEL_PREFIX) && key.length > LABEL_PREFIX.length)) {
    throw new InvalidArgumentError(`invalid constraint "${text}": unknown key "${key}"; use node.labels.<label>, ${FIXED_KEYS.join(', ')}`);
  }
  return { key, equal: m[2] === '==', value: m[3] };
}

/** Whether the node satisfies the constraint. A missing label never equals. */
export function satisfies(node: Node, c: Constraint): boolean {
  const actual = attribute(node, c.key);
  const same = actual !== undefined && actual === c.value;
  return c.equal ? same : !same;
}

function attribute(node: Node, key: string): string | undefined {
  if (key.startsWith(LABEL_PREFIX)) return node.labels[key.slice(LABEL_PREFIX.length)];
  switch (key) {
    case 'node.id':
      return node.id;
    case 'node.hostname':
      return node.description?.hostname;
    case 'node.role':
      return node.role;
    case 'node.platform.os':
      return node.description?.os;
    case 'node.platform.arch':
      return node.description?.arch;
    default:
      return undefined;
  }
}

// Compose files as stacks: read, checked and turned into orch objects.
import { ComposeProblem, loadCompose, locate, type Loaded } from './load.js';
import { stackPlan, type StackPlan } from './convert.js';
import { InvalidArgumentError } from '../shared/errors.js';

export { STACK_LABEL, type StackPlan } from './convert.js';
export type { Loaded } from './load.js';

/** Reads `files` as stack `name`: every problem names its file, line and key. */
export function readStack(files: string[], name: string, env: NodeJS.ProcessEnv = process.env): { plan: StackPlan; loaded: Loaded } {
  const loaded = loadCompose(files, env);
  try {
    return { plan: stackPlan(loaded, name), loaded };
  } catch (err) {
    if (err instanceof ComposeProblem) throw new InvalidArgumentError(locate(loaded, err.path, err.what));
    throw err;
  }
}

// Swarm's placeholders in a service's hostname and volume names
// (`--hostname "{{.Node.Hostname}}"`, `source=data-{{.Task.Slot}}`): the
// agent fills them in for each task. Only these fields exist, as in Docker's
// service templates; anything else in braces is refused at validation.
import { Mount_Type, type Task } from '../proto/generated/orch.js';
import { InvalidArgumentError } from './errors.js';

/** What a task's placeholders stand for. */
export interface TemplateContext {
  node: { id: string; hostname: string };
  service: { id: string; name: string };
  task: { id: string; slot: number };
}

/** The placeholders' values for `task` on `node` (where it runs, or where the scheduler weighs putting it). */
export function templateContext(task: { id: string; slot: number; serviceId: string; serviceName: string }, node: { id: string; hostname: string }): TemplateContext {
  return { node, service: { id: task.serviceId, name: task.serviceName }, task: { id: task.id, slot: task.slot } };
}

const FIELDS: Record<string, (c: TemplateContext) => string> = {
  'Node.ID': (c) => c.node.id,
  'Node.Hostname': (c) => c.node.hostname,
  'Service.ID': (c) => c.service.id,
  'Service.Name': (c) => c.service.name,
  'Task.ID': (c) => c.task.id,
  'Task.Slot': (c) => String(c.task.slot),
};

const PLACEHOLDER = /\{\{\s*\.([A-Za-z]+\.[A-Za-z]+)\s*\}\}/g;

/** Checks that `text` uses only known placeholders; `where` names the flag in the error. */
export function validateTemplate(text: string, where: string): void {
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (!FIELDS[m[1]!]) throw new InvalidArgumentError(`${where}: unknown placeholder ${m[0]}; use one of ${Object.keys(FIELDS).map((f) => `{{.${f}}}`).join(', ')}`);
  }
  if (text.replace(PLACEHOLDER, '').match(/\{\{|\}\}/)) throw new InvalidArgumentError(`${where}: "${text}" has a malformed placeholder; write it as {{.Task.Slot}}`);
}

/** `text` with its placeholders filled in for one task. */
export function expandTemplate(text: string, c: TemplateContext): string {
  return text.replace(PLACEHOLDER, (whole, field: string) => FIELDS[field]?.(c) ?? whole);
}

/** The names of the named volumes `task` mounts when it runs on `node` (placeholders filled in). */
export function volumeNames(task: Task, node: { id: string; hostname: string }): string[] {
  const ctx = templateContext(task, node);
  return (task.spec?.mounts ?? []).filter((m) => m.type === Mount_Type.VOLUME && m.source).map((m) => expandTemplate(m.source, ctx));
}

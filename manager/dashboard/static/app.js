// The dashboard's page: draws /api/state (nodes as columns holding their
// tasks, services, events) and redraws it whenever /api/events says the
// cluster did something; a task's last lines on click.
const $ = (id) => document.getElementById(id);
const STATES = ['new', 'pending', 'assigned', 'accepted', 'preparing', 'starting', 'running', 'complete', 'shutdown', 'failed', 'rejected', 'orphaned', 'remove'];
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
};
const lower = (s) => String(s ?? '').toLowerCase();
const taskState = (t) => lower(t.status?.state ?? 'NEW');
const taskName = (t) => (t.targetNode ? `${t.serviceName}.${t.targetNode.slice(0, 12)}` : `${t.serviceName}.${t.slot ?? 0}`);

async function draw() {
  const res = await fetch('api/state', { cache: 'no-store' });
  if (!res.ok) return;
  const { nodes, services, tasks } = await res.json();
  const byNode = new Map(nodes.map((n) => [n.id, []]));
  for (const t of tasks) if (t.nodeId && byNode.has(t.nodeId)) byNode.get(t.nodeId).push(t);
  nodes.sort((a, b) => (a.description?.hostname ?? '').localeCompare(b.description?.hostname ?? ''));
  $('nodes').replaceChildren(
    ...nodes.map((n) => {
      const state = lower(n.state ?? 'NODE_UNKNOWN').replace('node_', '');
      const mine = byNode.get(n.id).sort((a, b) => STATES.indexOf(taskState(a)) - STATES.indexOf(taskState(b)) || taskName(a).localeCompare(taskName(b)));
      return el(
        'div',
        { class: `node ${state}`, 'data-node': n.description?.hostname ?? n.id },
        el('h3', {}, n.description?.hostname ?? n.id.slice(0, 12)),
        el('div', { class: 'meta' }, `${state} · ${lower(n.availability ?? 'ACTIVE')} · ${n.role}`),
        ...mine.map((t) => {
          const b = el('button', { class: `task ${taskState(t)}`, type: 'button', 'data-task': t.id, 'data-service': t.serviceName }, taskName(t), el('br'), el('small', {}, `${taskState(t)} · ${t.spec?.image ?? ''}`));
          b.addEventListener('click', () => showLogs(t));
          return b;
        }),
      );
    }),
  );
  services.sort((a, b) => a.spec.name.localeCompare(b.spec.name));
  $('services').tBodies[0].replaceChildren(
    ...services.map((s) =>
      el(
        'tr',
        { 'data-service': s.spec.name },
        el('td', {}, s.spec.name),
        el('td', {}, lower(s.spec.mode ?? 'REPLICATED')),
        el('td', s.running < s.desired ? { class: 'short' } : {}, `${s.running}/${s.desired}`),
        el('td', {}, s.spec.container?.image ?? ''),
        el('td', {}, lower(s.updateStatus?.state ?? '').replace('_', ' ')),
      ),
    ),
  );
  const down = nodes.filter((n) => n.state !== 'NODE_READY').length;
  $('summary').textContent = `${nodes.length} nodes${down ? ` (${down} not ready)` : ''} · ${services.length} services · ${tasks.filter((t) => taskState(t) === 'running').length} tasks running`;
}

// At most one draw every 50 ms, and one 50 ms after the first event of a
// burst: a debounce that restarted on each event drew nothing while a
// service's tasks kept changing state.
let pending;
const redraw = () => {
  if (pending) return;
  pending = setTimeout(() => {
    pending = undefined;
    draw().catch((err) => console.warn('drawing failed', err));
  }, 50);
};

function addEvent(e) {
  const attrs = Object.entries(e.attributes ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
  const li = el('li', { 'data-type': e.type, 'data-action': e.action }, el('time', {}, new Date(e.time).toLocaleTimeString()), `${e.type} ${e.action} ${e.name}`, attrs ? ` (${attrs})` : '');
  $('events').prepend(li);
  while ($('events').children.length > 200) $('events').lastChild.remove();
}

async function showLogs(t) {
  $('logs').hidden = false;
  $('logs-title').textContent = `Logs of ${taskName(t)}.${t.id.slice(0, 12)}`;
  $('logs-text').textContent = 'reading…';
  const res = await fetch(`api/logs?task=${encodeURIComponent(t.id)}`, { cache: 'no-store' });
  $('logs-text').textContent = await res.text();
}
$('logs-close').addEventListener('click', () => ($('logs').hidden = true));

const source = new EventSource('api/events');
source.onopen = () => {
  $('live').textContent = 'live';
  $('live').className = 'on';
  redraw();
};
source.onerror = () => {
  $('live').textContent = 'reconnecting…';
  $('live').className = 'off';
};
source.onmessage = (m) => {
  addEvent(JSON.parse(m.data));
  redraw();
};
draw().catch((err) => console.warn('drawing failed', err));

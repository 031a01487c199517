// Two-stage node liveness: suspect first, down only after the window.
import test from 'ava';
import { Liveness } from '../../manager/dispatcher/index.js';

const opts = { heartbeatMs: 250, downAfterMs: 1000, closedGraceMs: 800 };

test('heartbeats keep a node alive; silence makes it suspect, then down', (t) => {
  const l = new Liveness(opts);
  l.alive('n', 0);
  t.is(l.verdict('n', 400), 'alive');
  t.is(l.verdict('n', 600), 'suspect');
  t.is(l.verdict('n', 1001), 'down');
  l.alive('n', 1100);
  t.is(l.verdict('n', 1200), 'alive');
});

test('a closed session is suspect at once and down after the grace, unless it reconnects', (t) => {
  const l = new Liveness(opts);
  l.alive('n', 0);
  l.closed('n', 100);
  t.is(l.verdict('n', 150), 'suspect');
  t.is(l.verdict('n', 901), 'down');
  l.alive('n', 700);
  t.is(l.verdict('n', 901), 'alive');
});

test('an unknown node is down; one expected after an election gets the grace', (t) => {
  const l = new Liveness(opts);
  t.is(l.verdict('x', 0), 'down');
  l.expect('x', 5000);
  t.is(l.verdict('x', 5500), 'suspect');
  t.is(l.verdict('x', 5801), 'down');
});

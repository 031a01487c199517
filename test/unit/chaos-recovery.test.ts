// How the chaos report measures a fault's disturbance from the samples.
import test from 'ava';
import { backAfter, type Sample } from '../../chaos/report.js';

const at = (ms: number, running: number, answered = true): Sample => ({ at: ms, running, desired: 10, replicatedRunning: running, replicatedDesired: 10, answered });
const measure = (samples: Sample[], from = 1000, until = 9000) => backAfter(samples, from, until, (s) => s.running, (s) => s.desired);

test('no short sample between this fault and the next: 0', (t) => {
  t.is(measure([at(500, 7), at(1500, 10), at(2000, 10), at(9500, 3)]), 0, 'dips before the fault or after the next one are not its own');
});

test('short, then whole: from the fault to the first whole sample', (t) => {
  t.is(measure([at(1500, 10), at(2000, 8), at(2500, 9), at(3000, 10)]), 2000);
  t.is(measure([at(2000, 8), at(3000, 11)]), 2000, "more than wanted (a slot's two copies for a moment) is not short");
});

test('a sample the managers did not answer is short, not whole', (t) => {
  t.is(measure([at(1500, 0, false), at(2000, 0, false), at(4000, 10)]), 3000);
  t.is(measure([at(1500, 10), at(2000, 0, false), at(2500, 10)]), 1500);
});

test('never whole again: null', (t) => {
  t.is(measure([at(2000, 8), at(3000, 9), at(4000, 0, false)]), null);
});

test("a dip under way at the fault is the fault before's: only a dip that starts after it counts", (t) => {
  t.is(measure([at(800, 8), at(1500, 8), at(2000, 10), at(2500, 10)]), 0, 'the dip ended, none began');
  t.is(measure([at(800, 8), at(1500, 10), at(2000, 9), at(2500, 10)]), 1500, 'a new dip after the services were whole');
  t.is(measure([at(800, 8), at(1500, 8), at(2000, 8)]), 0, 'still the dip before: the fault before reports it');
});

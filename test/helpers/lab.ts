// What a failed lab test leaves behind for whoever reads the CI log: the lab
// is torn down after the file, so its daemons' last log lines are printed
// (at the run's log level) before that happens.
import type { TestFn } from 'ava';
import type { LabCluster } from '../../lab/lab-cluster.js';

/** After each failed test of the file, prints the tail of every host's manager and agent log to stderr. */
export function reportLogsOnFailure(test: TestFn, lab: () => LabCluster | undefined, lines = 20): void {
  test.afterEach.always((t) => {
    const l = lab();
    if (t.passed || !l) return;
    console.error(`# logs of lab ${l.name} after "${t.title}" failed:\n${l.logTails(lines).replace(/^/gm, '# ')}`);
  });
}

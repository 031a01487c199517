// `orch chaos run`: the chaos harness (chaos/), on a lab of its own.
import { Command } from 'commander';
import { parseDuration } from '../../shared/duration.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { fail } from './common.js';
import { HEAL_WITHIN_MS, SCENARIOS } from '../../chaos/scenario.js';

export function chaosCommand(): Command {
  const cmd = new Command('chaos').description('Prove the cluster heals: inject faults into a lab under load and check invariants');
  cmd
    .command('run')
    .description('Run a chaos scenario on a fresh lab; exits non-zero on any violated invariant')
    .option('--scenario <name>', SCENARIOS.join(', '), 'worker-restart')
    .option('--seed <n>', 'seed of the fault schedule (the same seed replays the same run)', '1')
    .option('--duration <duration>', 'how long faults are injected', '30s')
    .option('--hosts <n>', 'lab hosts (the first runs the manager and takes no faults)', '3')
    .option('--report <dir>', 'where report.json, report.md and timeline.svg go', 'chaos-report')
    .option('--heal-within <duration>', 'how long a fault that takes a host away may leave the services short (the other deadlines follow)', `${HEAL_WITHIN_MS / 1000}s`)
    .action(async (f: { scenario: string; seed: string; duration: string; hosts: string; report: string; healWithin: string }) => {
      try {
        const seed = Number(f.seed);
        const hosts = Number(f.hosts);
        if (!Number.isInteger(seed)) throw new InvalidArgumentError(`--seed "${f.seed}" is not a whole number`);
        if (!Number.isInteger(hosts) || hosts < 2) throw new InvalidArgumentError(`--hosts ${f.hosts}: give 2 or more`);
        const { runChaos } = await import('../../chaos/run.js');
        const r = await runChaos({
          scenario: f.scenario, seed, hosts, durationMs: parseDuration(f.duration, '--duration'), reportDir: f.report, healMs: parseDuration(f.healWithin, '--heal-within'),
          progress: (line) => process.stdout.write(`==> ${line}\n`),
        });
        process.stdout.write(`${r.passed ? 'PASSED' : 'FAILED'}: ${r.violations.length} violation(s); ${r.requests.failed} of ${r.requests.total} requests failed; report in ${f.report}/report.md\n`);
        for (const v of r.violations) process.stdout.write(`  ${v.invariant}: ${v.detail}\n`);
        process.exit(r.passed ? 0 : 1);
      } catch (err) {
        fail(err);
      }
    });
  return cmd;
}

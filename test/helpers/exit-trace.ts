// Loaded by ava into every test process (package.json, ava.require): a test
// process that calls process.exit() itself is counted by ava in its exit code
// only, with no line that says where. This says where, in the file that
// ORCH_TEST_EXIT_TRACE names (scripts/test.sh prints it at the end), or on stderr.
import { appendFileSync } from 'node:fs';

const exit = process.exit;
process.exit = ((code?: number | string | null) => {
  const frames = (new Error().stack ?? '').split('\n').slice(2);
  // ava ends its own workers this way.
  if (!frames[0]?.includes('/node_modules/ava/')) {
    const line = `process.exit(${code ?? ''}) called in a test process, at:\n${frames.slice(0, 8).map((f) => `    ${f.trim()}`).join('\n')}\n`;
    if (process.env.ORCH_TEST_EXIT_TRACE) appendFileSync(process.env.ORCH_TEST_EXIT_TRACE, line);
    else process.stderr.write(line);
  }
  return exit.call(process, code);
}) as typeof process.exit;

// Applying load-balancing tables to the real kernel, in a throwaway network
// namespace: the tables of a namespace that change together go in one nft
// run, a table changed twice before its run is applied once (the latest),
// an unchanged one not at all, and a removed one is gone.
import test from 'ava';
import { agentMetrics } from '../../agent/metrics.js';
import { ingressNsTable, vipTable } from '../../agent/network/lb.js';
import { RuleSync } from '../../agent/network/rule-sync.js';
import { NftError, Nftables } from '../../agent/network/nftables.js';
import { logger } from '../../shared/log.js';
import { sh, systemTool } from '../../shared/sh.js';

const NS = `orch-rs-${process.pid}`;
const path = `/var/run/netns/${NS}`;

test.before(async () => {
  await sh('ip', ['netns', 'add', NS]);
});

test.after.always(async () => {
  await sh('ip', ['netns', 'del', NS]).catch(() => undefined);
});

/** nft runs so far (the metric counts one per run). */
const runs = async () => (await agentMetrics.nftSync.get()).values.find((v) => v.metricName === 'orch_agent_nft_sync_seconds_count')?.value ?? 0;
// The system's nft: under npm, node_modules/.bin holds another program of that name.
const listed = () => sh('nsenter', [`--net=${path}`, systemTool('nft'), 'list', 'ruleset']);

test('tables changed together go in one run; a table changed twice before its run goes once, as last asked; unchanged, none; removed, gone', async (t) => {
  const sync = new RuleSync(logger('test'));
  t.teardown(() => sync.close());
  const start = await runs();
  const v1 = vipTable([{ vip: '10.9.0.2', backends: ['10.9.0.10', '10.9.0.11'] }]);
  void sync.apply(path, v1, ['10.9.0.10', '10.9.0.11']);
  await sync.apply(path, ingressNsTable('eth9', 'obr9', '10.9.0.1'));
  t.is((await runs()) - start, 1, 'two tables of one namespace: one nft run');
  let rules = await listed();
  t.regex(rules, /table ip orch-lb/);
  t.regex(rules, /table ip orch-ingress \{[^]*snat to 10\.9\.0\.1/);
  t.regex(rules, /10\.9\.0\.11/);

  const v2 = vipTable([{ vip: '10.9.0.2', backends: ['10.9.0.10'] }]);
  const v3 = vipTable([{ vip: '10.9.0.2', backends: ['10.9.0.12'] }]);
  void sync.apply(path, v2, ['10.9.0.10']);
  await sync.apply(path, v3, ['10.9.0.12']);
  t.is((await runs()) - start, 2, 'changed twice before its run: applied once');
  rules = await listed();
  t.regex(rules, /10\.9\.0\.12/);
  t.notRegex(rules, /10\.9\.0\.1[01]\b/, 'the latest version is the one in the kernel');

  await sync.apply(path, v3, ['10.9.0.12']);
  t.is((await runs()) - start, 2, 'unchanged: no run');

  await sync.remove(path, 'orch-lb');
  t.notRegex(await listed(), /table ip orch-lb/);
});

test('libnftables on its own thread: a script nft refuses is rejected with what nft said, a namespace that is gone too, and the next script runs', async (t) => {
  const nft = new Nftables();
  t.teardown(() => nft.close());
  const refused = await t.throwsAsync(nft.run(path, 'table ip orch-x {\n chain c { type nat hook prerouting priority dstnat; bogus }\n}\n'), { instanceOf: NftError });
  t.regex(refused.message, /syntax error|unexpected|bogus/i);
  await t.throwsAsync(nft.run('/var/run/netns/orch-no-such-ns', 'list ruleset'), { instanceOf: NftError });
  await nft.run(path, 'table ip orch-x {\n chain c { type nat hook prerouting priority dstnat; }\n}\n');
  t.regex(await nft.run(path, 'list table ip orch-x'), /chain c/);
  t.regex(await listed(), /table ip orch-x/, 'in the namespace, as nft sees it');
  await nft.run(path, 'delete table ip orch-x');
  t.notRegex(await listed(), /orch-x/);
});

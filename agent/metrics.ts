// The agent's Prometheus metrics (prom-client), served with --metrics-addr.
import { Counter, Histogram, Registry } from 'prom-client';

export const agentRegistry = new Registry();
const registers = [agentRegistry];
const fast = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export const agentMetrics = {
  heartbeatRtt: new Histogram({ name: 'orch_agent_heartbeat_rtt_seconds', help: 'From a heartbeat sent to the leader to its answer', buckets: fast, registers }),
  taskTransitions: new Counter({ name: 'orch_agent_task_transitions_total', help: "Task states this node's controllers reached (state)", labelNames: ['state'], registers }),
  nftSync: new Histogram({ name: 'orch_agent_nft_sync_seconds', help: 'One nft -f run: the changed tables of one namespace', buckets: fast, registers }),
  nftErrors: new Counter({ name: 'orch_agent_nft_errors_total', help: 'nftables applies that failed (retried)', registers }),
  netlinkSync: new Histogram({ name: 'orch_agent_netlink_sync_seconds', help: "One pass making the kernel's overlay (bridges, vxlan, neighbours, FDB) match the network state", buckets: fast, registers }),
  netlinkErrors: new Counter({ name: 'orch_agent_netlink_errors_total', help: 'Networks whose programming failed in a pass (retried)', registers }),
};

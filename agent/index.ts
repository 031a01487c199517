// The agent: session with the leader, executor over the Docker Engine.
export { Agent, type AgentOptions } from './agent.js';

// The leader's side of task logs. A node's agent is asked, over its session,
// to publish some tasks' logs (LogsSubscription); it answers with a
// PublishLogs call of its own whose first message names the subscription.
// That call is handed to whoever asked, who reads it as a stream (and pauses
// it when its own reader is slow: flow control then holds the agent back)
// and answers it when done, which tells the agent to stop.
import { randomUUID } from 'node:crypto';
import { status as grpcStatus, type sendUnaryData, type ServerReadableStream } from '@grpc/grpc-js';
import type { LogsPublish, LogsPublished, LogsSubscription } from '../../proto/generated/orch.js';
import { OrchError, UnavailableError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Role } from '../../shared/tls/pki.js';
import type { Gate } from '../ca/auth.js';

/** How long an agent gets to open its PublishLogs call once asked. */
export const LOGS_ANSWER_MS = 3000;
const PUBLISH_ROLES: readonly Role[] = ['worker', 'manager'];

type Call = ServerReadableStream<LogsPublish, LogsPublished>;

/** A node's answer to a subscription: its lines arrive as 'data' on `stream`; `close` ends it. */
export interface LogFeed {
  /** The tasks asked for that have no container on the node. */
  missing: string[];
  stream: Call;
  close(): void;
}

interface Waiting {
  nodeId: string;
  resolve(feed: LogFeed): void;
}

export class LogBroker {
  private readonly waiting = new Map<string, Waiting>();

  constructor(
    private readonly gate: Gate,
    private readonly log: Logger,
  ) {}

  /**
   * Sends `nodeId` a subscription through `send` (its session; false: it has
   * none) and resolves with its feed once the agent opens it; refused with
   * why after LOGS_ANSWER_MS.
   */
  open(nodeId: string, send: (sub: LogsSubscription) => boolean, ask: Omit<LogsSubscription, 'id'>): Promise<LogFeed> {
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      if (!send({ ...ask, id })) return reject(new UnavailableError('node down'));
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new UnavailableError(`the node did not answer in ${LOGS_ANSWER_MS / 1000}s`));
      }, LOGS_ANSWER_MS);
      this.waiting.set(id, {
        nodeId,
        resolve: (feed) => {
          clearTimeout(timer);
          this.waiting.delete(id);
          resolve(feed);
        },
      });
    });
  }

  /** gRPC handler for Dispatcher.PublishLogs. */
  publish = (call: Call, callback: sendUnaryData<LogsPublished>): void => {
    let nodeId: string;
    try {
      nodeId = this.gate.check(call, PUBLISH_ROLES, 'log publishing').nodeId;
    } catch (err) {
      return callback({ code: (err as OrchError).code, details: (err as OrchError).message });
    }
    let answered = false;
    const close = () => {
      if (answered) return;
      answered = true;
      callback(null, {});
    };
    call.once('data', (first: LogsPublish) => {
      call.pause();
      const w = this.waiting.get(first.subscriptionId);
      if (!w || w.nodeId !== nodeId) {
        this.log.debug({ node: nodeId, subscription: first.subscriptionId }, 'logs published for no subscription of this node');
        answered = true;
        return callback({ code: grpcStatus.NOT_FOUND, details: 'no such logs subscription (it expired)' });
      }
      w.resolve({ missing: first.missing, stream: call, close });
    });
    call.on('error', close);
  };
}

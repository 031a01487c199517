// Adapting async request handlers to grpc-js: the caller is checked first,
// errors become gRPC statuses (typed OrchErrors keep their code and kind).
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { toGrpcError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Caller } from '../ca/auth.js';
import type { Identity } from '../../shared/tls/pki.js';

/** Wraps a request handler: the caller is checked first (`fn` gets who it is); errors become gRPC statuses; a result waits for `settle`. */
export function handler(log: Logger, authorize: (call: Caller) => Identity, settle: () => Promise<void>) {
  return <Req, Res>(fn: (req: Req, caller: { who: Identity; call: ServerUnaryCall<Req, Res> }) => Promise<Res>) => (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    Promise.resolve()
      .then(() => authorize(call))
      .then((who) => fn(call.request, { who, call }))
      .then(
        async (res) => {
          await settle();
          callback(null, res);
        },
        (err: unknown) => {
          log.info({ method: call.getPath(), err: String(err) }, 'request refused');
          callback(toGrpcError(err));
        },
      );
  };
}

/** Wraps a server-streaming handler: the caller is checked first; the stream ends when it resolves, or with its error as a status. */
export function streamHandler(log: Logger, authorize: (call: Caller) => unknown) {
  return <Req, Res>(fn: (call: ServerWritableStream<Req, Res>) => Promise<void>) => (call: ServerWritableStream<Req, Res>): void => {
    Promise.resolve()
      .then(() => authorize(call))
      .then(() => fn(call))
      .then(
        () => call.end(),
        (err: unknown) => {
          log.warn({ method: call.getPath(), err: String(err) }, 'request failed');
          call.emit('error', toGrpcError(err));
        },
      );
  };
}

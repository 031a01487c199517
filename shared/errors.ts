// Typed errors shared by manager, agent and CLI, and their mapping to and
// from gRPC status codes so a manager-side error reaches the user intact.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

/** Base of every error orch raises on purpose; `code` is its gRPC status. */
export class OrchError extends Error {
  readonly code: status = status.UNKNOWN;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The request is malformed; the message says what to change. Nothing was written. */
export class InvalidArgumentError extends OrchError {
  override readonly code = status.INVALID_ARGUMENT;
}

/** The named object does not exist. */
export class NotFoundError extends OrchError {
  override readonly code = status.NOT_FOUND;
}

/** An object with that name (or id) exists already. */
export class AlreadyExistsError extends OrchError {
  override readonly code = status.ALREADY_EXISTS;
}

/** A concurrent change won a compare-and-swap more times than we retry. */
export class ConflictError extends OrchError {
  override readonly code = status.ABORTED;
}

/** The caller changed an object from a version that is no longer current (someone else changed it since). Not retried. */
export class StaleVersionError extends OrchError {
  override readonly code = status.ABORTED;
}

/** A dependency (etcd, the leader, a manager) cannot be reached right now. */
export class UnavailableError extends OrchError {
  override readonly code = status.UNAVAILABLE;
}

/** etcd refuses writes: its NOSPACE alarm is raised (the database reached its quota). */
export class OutOfSpaceError extends OrchError {
  override readonly code = status.RESOURCE_EXHAUSTED;
}

/** This manager lost (or never had) leadership; the write was fenced off. */
export class NotLeaderError extends OrchError {
  override readonly code = status.FAILED_PRECONDITION;
}

/** The object is in a state that forbids the request (e.g. removing a node that is up). */
export class FailedPreconditionError extends OrchError {
  override readonly code = status.FAILED_PRECONDITION;
}

/** The caller did not prove who it is (no certificate, an unknown CA, a bad join token). */
export class UnauthenticatedError extends OrchError {
  override readonly code = status.UNAUTHENTICATED;
}

/** The caller is known but its role may not do this (a worker on the control API, a removed node). */
export class PermissionDeniedError extends OrchError {
  override readonly code = status.PERMISSION_DENIED;
}

const ERROR_KIND = 'orch-error-kind';

/** Turns any error into a gRPC ServiceError; OrchErrors keep their code and kind. */
export function toGrpcError(err: unknown): Partial<ServiceError> {
  const metadata = new Metadata();
  if (err instanceof OrchError) {
    metadata.set(ERROR_KIND, err.name);
    return { code: err.code, details: err.message, message: err.message, metadata };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: status.INTERNAL, details: `internal error: ${message}`, message, metadata };
}

const KINDS: Record<string, new (message: string) => OrchError> = {
  InvalidArgumentError,
  NotFoundError,
  AlreadyExistsError,
  ConflictError,
  StaleVersionError,
  UnavailableError,
  OutOfSpaceError,
  NotLeaderError,
  FailedPreconditionError,
  UnauthenticatedError,
  PermissionDeniedError,
};

/** Rebuilds the typed error a manager raised from the ServiceError a client received. */
export function fromGrpcError(err: ServiceError, target: string): OrchError {
  const kind = err.metadata?.get(ERROR_KIND)[0];
  const Kind = typeof kind === 'string' ? KINDS[kind] : undefined;
  if (Kind) return new Kind(err.details || err.message);
  if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED) {
    const why = (err.details || err.message).replace(/\.? ?Resolution note:.*$/s, '');
    return new UnavailableError(`cannot reach the manager at ${target} (${why}); is \`orch manager\` (or \`orch dev\`) running?`);
  }
  return new OrchError(err.details || err.message);
}

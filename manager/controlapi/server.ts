// The control API the CLI calls. Every request is validated before anything is
// written; every write is one transaction with compares, so a rejected or
// conflicting request changes nothing.
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import {
  TaskState,
  type ControlServer,
  type ListServicesResponse,
  type Service,
  type ServiceSpec,
} from '../../proto/generated/orch.js';
import { AlreadyExistsError, ConflictError, InvalidArgumentError, toGrpcError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { Logger } from '../../shared/log.js';
import { MAX_REPLICAS, validateServiceSpec } from '../../shared/spec.js';
import { DEFAULT_RESTART } from '../orchestrator/index.js';
import { keys, type Cache, type Store } from '../store/index.js';
import { resolveNode, resolveService } from './resolve.js';

const WRITE_RETRIES = 5;

/** Builds the Control service implementation over the store and its mirror. */
export function controlServer(store: Store, cache: Cache, log: Logger): ControlServer {
  return {
    createService: unary(log, async (spec: ServiceSpec) => {
      const full: ServiceSpec = { ...spec, restart: spec.restart ?? DEFAULT_RESTART };
      validateServiceSpec(full);
      const now = new Date();
      const service: Service = { id: newId(), spec: full, createdAt: now, updatedAt: now };
      // A fresh read first: it fails fast when etcd is unreachable, before any write is sent.
      if (await store.getRaw(keys.serviceName(full.name))) throw exists(full.name);
      try {
        await store
          .txn()
          .expectKey(keys.serviceName(full.name), 0)
          .putKey(keys.serviceName(full.name), service.id)
          .expect('services', service.id, 0)
          .put('services', service.id, service)
          .commit();
      } catch (err) {
        if (err instanceof ConflictError) throw exists(full.name);
        throw err;
      }
      log.info({ service: service.id, name: full.name, replicas: full.replicas }, 'service created');
      return service;
    }),

    scaleService: unary(log, async (req) => {
      if (req.replicas > MAX_REPLICAS) throw new InvalidArgumentError(`${req.replicas} replicas is more than the ${MAX_REPLICAS} allowed`);
      for (let attempt = 0; ; attempt++) {
        const cur = await resolveService(store, cache, req.ref);
        const next: Service = { ...cur.value, spec: { ...cur.value.spec!, replicas: req.replicas }, updatedAt: new Date() };
        try {
          await store.txn().expect('services', next.id, cur.modRevision).put('services', next.id, next).commit();
          log.info({ service: next.id, replicas: req.replicas }, 'service scaled');
          return next;
        } catch (err) {
          if (!(err instanceof ConflictError) || attempt >= WRITE_RETRIES) throw err;
        }
      }
    }),

    getService: unary(log, async (req) => (await resolveService(store, cache, req.ref)).value),

    listServices: unary(log, async (): Promise<ListServicesResponse> => {
      const running = new Map<string, number>();
      for (const { value: t } of cache.tasks.values()) {
        if (t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING) running.set(t.serviceId, (running.get(t.serviceId) ?? 0) + 1);
      }
      const services = [...cache.services.values()]
        .map(({ value: s }) => ({ service: s, running: running.get(s.id) ?? 0, desired: s.spec?.replicas ?? 0 }))
        .sort((a, b) => a.service.spec!.name.localeCompare(b.service.spec!.name));
      return { services };
    }),

    removeService: unary(log, async (req) => {
      for (let attempt = 0; ; attempt++) {
        const cur = await resolveService(store, cache, req.ref);
        try {
          await store.txn().expect('services', cur.value.id, cur.modRevision).delete('services', cur.value.id).deleteKey(keys.serviceName(cur.value.spec!.name)).commit();
          log.info({ service: cur.value.id }, 'service removed');
          return { id: cur.value.id };
        } catch (err) {
          if (!(err instanceof ConflictError) || attempt >= WRITE_RETRIES) throw err;
        }
      }
    }),

    listTasks: unary(log, async (req) => {
      const serviceId = req.service ? (await resolveService(store, cache, req.service)).value.id : undefined;
      const tasks = [...cache.tasks.values()]
        .map((v) => v.value)
        .filter((t) => !serviceId || t.serviceId === serviceId)
        .sort((a, b) => a.serviceName.localeCompare(b.serviceName) || a.slot - b.slot || (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
      return { tasks };
    }),

    listNodes: unary(log, async () => ({
      nodes: [...cache.nodes.values()].map((v) => v.value).sort((a, b) => (a.description?.hostname ?? '').localeCompare(b.description?.hostname ?? '')),
    })),

    getNode: unary(log, async (req) => resolveNode(cache, req.ref)),
  };
}

function exists(name: string): AlreadyExistsError {
  return new AlreadyExistsError(`service "${name}" already exists; pick another --name or \`orch service rm ${name}\` first`);
}

/** Adapts an async handler to grpc-js's callback style, mapping errors to status codes. */
function unary<Req, Res>(log: Logger, fn: (req: Req) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    fn(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => {
        log.info({ method: call.getPath(), err: String(err) }, 'request refused');
        callback(toGrpcError(err));
      },
    );
  };
}

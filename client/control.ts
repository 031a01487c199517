// A connection to a manager (the CLI, the lab, chaos and benchmarks use it): promise-returning control calls with a
// deadline, and manager errors turned back into typed OrchErrors.
import type { ServiceError } from '@grpc/grpc-js';
import {
  ControlClient,
  type ListNodesRequest,
  type ListNodesResponse,
  type ListServicesRequest,
  type ListServicesResponse,
  ListTasksRequest,
  type ListTasksResponse,
  type Node,
  type NodeRef,
  type RemoveServiceResponse,
  type ScaleServiceRequest,
  type Service,
  type ServiceRef,
  type ServiceSpec,
  type UpdateNodeRequest,
  type UpdateServiceRequest,
  type RollbackServiceRequest,
  type ServiceHistoryResponse,
  type RemoveNodeRequest,
  type RemoveNodeResponse,
  type ListNetworksRequest,
  type ListNetworksResponse,
  type Network,
  type NetworkInfo,
  type NetworkRef,
  type NetworkSpec,
  type RemoveNetworkResponse,
  type JoinTokenRequest,
  type JoinTokenResponse,
  type ClusterSettings,
  type Config,
  type ConfigSpec,
  type FileObjectRef,
  type ListConfigsRequest,
  type ListConfigsResponse,
  type ListSecretsRequest,
  type ListVolumesRequest,
  type ListVolumesResponse,
  type RemoveVolumeRequest,
  type RemoveVolumeResponse,
  type ListSecretsResponse,
  type RemoveFileObjectResponse,
  type Secret,
  type SecretSpec,
  type GetClusterSettingsRequest,
  type UpdateClusterSettingsRequest,
  type RenewCertificateRequest,
  type CaStatus,
  type CaStatusRequest,
  type RotateCaRequest,
  type NodeCertificate,
  type LogsMessage,
  type LogsRequest,
  type ClusterEvent,
  type Dashboard,
  type DashboardRequest,
  type EventsRequest,
} from '../proto/generated/orch.js';
import { fromGrpcError } from '../shared/errors.js';
import { CLIENT_CHANNEL_OPTIONS, clientCredentials, type TlsMaterial } from '../shared/tls/credentials.js';

/** A gRPC target for one manager address or several (IPv4, comma-separated: tried in order). */
export function managerTarget(addr: string): string {
  const all = addr.split(',').filter(Boolean);
  return all.length > 1 && all.every((a) => /^\d+\.\d+\.\d+\.\d+:\d+$/.test(a)) ? `ipv4:${all.join(',')}` : all[0]!;
}

/** Where the CLI finds a manager unless told otherwise. */
export const DEFAULT_MANAGER = '127.0.0.1:4242';
const CALL_TIMEOUT_MS = 15_000;

type Unary<Req, Res> = (req: Req, opts: { deadline: Date }, cb: (err: ServiceError | null, res: Res) => void) => unknown;

/** The control API as promises (see proto/orch.proto, service Control). */
export interface Control {
  createService(req: ServiceSpec): Promise<Service>;
  scaleService(req: ScaleServiceRequest): Promise<Service>;
  getService(req: ServiceRef): Promise<Service>;
  listServices(req: ListServicesRequest): Promise<ListServicesResponse>;
  removeService(req: ServiceRef): Promise<RemoveServiceResponse>;
  /** Every task, or a service's, or a node's. */
  listTasks(req: Partial<ListTasksRequest>): Promise<ListTasksResponse>;
  listNodes(req: ListNodesRequest): Promise<ListNodesResponse>;
  getNode(req: NodeRef): Promise<Node>;
  updateService(req: UpdateServiceRequest): Promise<Service>;
  rollbackService(req: RollbackServiceRequest): Promise<Service>;
  serviceHistory(req: ServiceRef): Promise<ServiceHistoryResponse>;
  updateNode(req: UpdateNodeRequest): Promise<Node>;
  removeNode(req: RemoveNodeRequest): Promise<RemoveNodeResponse>;
  createNetwork(req: NetworkSpec): Promise<Network>;
  listNetworks(req: ListNetworksRequest): Promise<ListNetworksResponse>;
  getNetwork(req: NetworkRef): Promise<NetworkInfo>;
  removeNetwork(req: NetworkRef): Promise<RemoveNetworkResponse>;
  getJoinToken(req: JoinTokenRequest): Promise<JoinTokenResponse>;
  listVolumes(req: ListVolumesRequest): Promise<ListVolumesResponse>;
  removeVolume(req: RemoveVolumeRequest): Promise<RemoveVolumeResponse>;
  createSecret(req: SecretSpec): Promise<Secret>;
  listSecrets(req: ListSecretsRequest): Promise<ListSecretsResponse>;
  getSecret(req: FileObjectRef): Promise<Secret>;
  removeSecret(req: FileObjectRef): Promise<RemoveFileObjectResponse>;
  createConfig(req: ConfigSpec): Promise<Config>;
  listConfigs(req: ListConfigsRequest): Promise<ListConfigsResponse>;
  getConfig(req: FileObjectRef): Promise<Config>;
  removeConfig(req: FileObjectRef): Promise<RemoveFileObjectResponse>;
  getClusterSettings(req: GetClusterSettingsRequest): Promise<ClusterSettings>;
  updateClusterSettings(req: UpdateClusterSettingsRequest): Promise<ClusterSettings>;
  renewCertificate(req: RenewCertificateRequest): Promise<NodeCertificate>;
  getCaStatus(req: CaStatusRequest): Promise<CaStatus>;
  rotateCa(req: RotateCaRequest): Promise<CaStatus>;
  getDashboard(req: DashboardRequest): Promise<Dashboard>;
  /** A stream with no deadline (it may follow for ever); read at your pace, `cancel` to leave. */
  logs(req: LogsRequest): Streamed<LogsMessage>;
  /** The same, for the cluster's events. */
  events(req: EventsRequest): Streamed<ClusterEvent>;
  close(): void;
}

/** Messages read one at a time (the server waits while the reader does); a manager's error is thrown typed. */
export interface Streamed<T> extends AsyncIterable<T> {
  cancel(): void;
}

/**
 * Connects lazily, over mutual TLS with `tls`'s certificate, to the manager at
 * `addr`: host:port, or several separated by commas (IPv4 addresses), tried
 * in order until one answers.
 */
export function connect(addr: string, tls: TlsMaterial): Control {
  const client = new ControlClient(managerTarget(addr), clientCredentials(tls), CLIENT_CHANNEL_OPTIONS);
  const call =
    <Req, Res>(name: string) =>
    (req: Req): Promise<Res> =>
      new Promise((resolve, reject) => {
        const fn = (client as unknown as Record<string, Unary<Req, Res>>)[name]!.bind(client);
        fn(req, { deadline: new Date(Date.now() + CALL_TIMEOUT_MS) }, (err, res) => (err ? reject(fromGrpcError(err, addr)) : resolve(res)));
      });
  const names = ['createService', 'scaleService', 'getService', 'listServices', 'removeService', 'listTasks', 'listNodes', 'getNode', 'updateService', 'rollbackService', 'serviceHistory', 'updateNode', 'removeNode', 'createNetwork', 'listNetworks', 'getNetwork', 'removeNetwork', 'getJoinToken', 'listVolumes', 'removeVolume', 'createSecret', 'listSecrets', 'getSecret', 'removeSecret', 'createConfig', 'listConfigs', 'getConfig', 'removeConfig', 'getClusterSettings', 'updateClusterSettings', 'renewCertificate', 'getCaStatus', 'rotateCa', 'getDashboard'] as const;
  const out = Object.fromEntries(names.map((n) => [n, call(n)])) as unknown as Control;
  const listTasks = call<ListTasksRequest, ListTasksResponse>('listTasks');
  out.listTasks = (req) => listTasks(ListTasksRequest.fromPartial(req));
  const streamed =
    <Req, Res>(open: (req: Req) => AsyncIterable<unknown> & { cancel(): void }) =>
    (req: Req): Streamed<Res> => {
      const stream = open(req);
      return {
        cancel: () => stream.cancel(),
        async *[Symbol.asyncIterator]() {
          try {
            for await (const m of stream) yield m as Res;
          } catch (err) {
            throw fromGrpcError(err as ServiceError, addr);
          }
        },
      };
    };
  out.logs = streamed<LogsRequest, LogsMessage>((req) => client.logs(req));
  out.events = streamed<EventsRequest, ClusterEvent>((req) => client.events(req));
  out.close = () => client.close();
  return out;
}

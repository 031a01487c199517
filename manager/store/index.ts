// The store: etcd connection, key layout, transactions and the watched mirror.
export { Cache, type ObjectChange, type Snapshot } from './cache.js';
export { commitChanges, put, type Change, type ChangeOf } from './changes.js';
export { connectEtcd, connectMember, etcdFailure, type EtcdClient, type EtcdTls } from './etcd.js';
export { keys, portKey, PREFIX, type Kind } from './keys.js';
export { MAX_TXN_OPS, Store, Txn, type Fence, type Versioned } from './store.js';
export { retryConflicts } from './retry.js';
export { certTtlMs, readSettings } from './settings.js';

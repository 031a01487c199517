// The store: etcd connection, key layout, transactions and the watched mirror.
export { Cache } from './cache.js';
export { connectEtcd, connectMember, etcdFailure, type EtcdTls } from './etcd.js';
export { keys, PREFIX, type Kind } from './keys.js';
export { MAX_TXN_OPS, Store, Txn, type Fence, type Versioned } from './store.js';

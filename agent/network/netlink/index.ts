// rtnetlink from Node through koffi: the client, its errors and what it returns.
export { Netlink, IFNAMSIZ, type VxlanOptions } from './client.js';
export { NetlinkError, isExists, isMissing } from './errors.js';
export type { Addr, Link, Neigh, Route } from './messages.js';

// Netlink failures as typed errors: the kernel's errno, by number and name.
import { ERRNO_NAMES } from './constants.js';

export class NetlinkError extends Error {
  readonly code: string;
  constructor(
    readonly errno: number,
    readonly operation: string,
  ) {
    const name = ERRNO_NAMES[errno] ?? `errno ${errno}`;
    super(`netlink ${operation}: ${name}`);
    this.name = 'NetlinkError';
    this.code = name;
  }
}

/** True when the error says the object is already there (EEXIST). */
export const isExists = (err: unknown): boolean => err instanceof NetlinkError && err.code === 'EEXIST';
/** True when the error says the object (or its device) is not there. */
export const isMissing = (err: unknown): boolean => err instanceof NetlinkError && (err.code === 'ENOENT' || err.code === 'ENODEV' || err.code === 'ESRCH');

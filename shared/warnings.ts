// Node's process warnings that say nothing a user of orch can act on.

/**
 * Drops Node's DEP0123 ("Setting the TLS ServerName to an IP address"):
 * grpc-js hands TLS the address it dials as the server name, and etcd members
 * are named by IP (grpc/grpc-node#1919). The certificate is still checked
 * against that IP; the warning only put a line that is not JSON at the head
 * of every daemon's log. Every other warning is printed as before.
 */
export function dropTlsIpNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: unknown }).code : rest[1];
    if (code !== 'DEP0123') emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

// Bounding waits on things that may never answer (a dead etcd, a stuck stream).

/** Resolves with the promise's value, or with `fallback` after `ms` (never rejects on timeout). */
export async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

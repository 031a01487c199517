// The libc calls the agent's network code makes through koffi (the FFI; ffi-napi
// does not build on Node 20): sockets for rtnetlink, and namespace switching.
import koffi from 'koffi';

const lib = koffi.load('libc.so.6');

export const libc = {
  socket: lib.func('int socket(int domain, int type, int protocol)'),
  bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
  sendto: lib.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)'),
  recv: lib.func('intptr_t recv(int fd, void *buf, size_t len, int flags)'),
  setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)'),
  close: lib.func('int close(int fd)'),
  unshare: lib.func('int unshare(int flags)'),
  setns: lib.func('int setns(int fd, int nstype)'),
  mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)'),
  umount2: lib.func('int umount2(const char *target, int flags)'),
};

/** errno of the last call made through koffi. */
export const errno = (): number => koffi.errno();

// A NETLINK_ROUTE socket through koffi (libc socket/bind/sendto/recv/setns):
// one request at a time, synchronous, with a receive timeout so that a
// missing answer cannot hang the agent. A socket can be opened inside another
// network namespace: the calling thread switches to it, opens the socket and
// switches back before returning, so Node's main thread never stays switched
// (a socket keeps the namespace it was opened in).
import { errno, libc } from '../libc.js';
import { AF_NETLINK, NETLINK_ROUTE, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR } from './constants.js';
import { NetlinkError } from './errors.js';
import { nlmsg } from './messages.js';
import { inNetns } from '../netns.js';

const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SO_RCVBUF = 8;
const RECV_TIMEOUT_S = 5;


/** struct sockaddr_nl for the kernel (port 0). */
const KERNEL = (() => {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(AF_NETLINK, 0);
  return b;
})();

export class NetlinkSocket {
  private seq = 1;
  private readonly buf = Buffer.alloc(1 << 16);

  private constructor(private fd: number) {}

  /** Opens a socket in this thread's namespace, or in the one at `netnsPath` (e.g. /var/run/netns/x). */
  static open(netnsPath?: string): NetlinkSocket {
    return new NetlinkSocket(netnsPath ? inNetns(netnsPath, openSocket) : openSocket());
  }

  close(): void {
    if (this.fd >= 0) libc.close(this.fd);
    this.fd = -1;
  }

  /** Sends a request that expects an ACK; returns what the kernel answered before it; throws NetlinkError on a kernel error. */
  request(type: number, flags: number, payload: Buffer, what: string): Buffer[] {
    const seq = this.send(type, flags | NLM_F_REQUEST | NLM_F_ACK, payload, what);
    const out: Buffer[] = [];
    this.receive(seq, what, (p) => out.push(Buffer.from(p)));
    return out;
  }

  /** Sends a dump request; returns the payload of every answer message. */
  dump(type: number, payload: Buffer, what: string): Buffer[] {
    const seq = this.send(type, NLM_F_REQUEST | NLM_F_DUMP, payload, what);
    const out: Buffer[] = [];
    this.receive(seq, what, (p) => out.push(Buffer.from(p)));
    return out;
  }

  private send(type: number, flags: number, payload: Buffer, what: string): number {
    if (this.fd < 0) throw new Error('netlink socket is closed');
    const seq = this.seq++;
    const msg = nlmsg(type, flags, seq, payload);
    if (Number(libc.sendto(this.fd, msg, msg.length, 0, KERNEL, KERNEL.length)) < 0) throw new NetlinkError(errno(), `${what} (send)`);
    return seq;
  }

  /** Reads answers to `seq` until the ACK, the error or the end of the dump. */
  private receive(seq: number, what: string, onMessage: (payload: Buffer) => void): void {
    for (;;) {
      const n = Number(libc.recv(this.fd, this.buf, this.buf.length, 0));
      if (n < 0) throw new NetlinkError(errno(), `${what} (receive)`);
      let off = 0;
      while (off + 16 <= n) {
        const len = this.buf.readUInt32LE(off);
        const type = this.buf.readUInt16LE(off + 4);
        const msgSeq = this.buf.readUInt32LE(off + 8);
        if (len < 16 || off + len > n) throw new Error(`netlink ${what}: malformed answer`);
        const payload = this.buf.subarray(off + 16, off + len);
        off += (len + 3) & ~3;
        if (msgSeq !== seq) continue; // a late answer to an earlier request
        if (type === NLMSG_DONE) return;
        if (type === NLMSG_ERROR) {
          const errno = -payload.readInt32LE(0);
          if (errno === 0) return; // the ACK
          throw new NetlinkError(errno, what);
        }
        onMessage(payload);
      }
    }
  }
}

function openSocket(): number {
  const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw new NetlinkError(errno(), 'socket');
  const timeout = Buffer.alloc(16); // struct timeval
  timeout.writeBigInt64LE(BigInt(RECV_TIMEOUT_S), 0);
  libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, timeout.length);
  const rcvbuf = Buffer.alloc(4);
  rcvbuf.writeInt32LE(1 << 20);
  libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf, 4);
  const local = Buffer.alloc(12);
  local.writeUInt16LE(AF_NETLINK, 0);
  if (libc.bind(fd, local, local.length) !== 0) {
    const code = errno();
    libc.close(fd);
    throw new NetlinkError(code, 'bind');
  }
  return fd;
}

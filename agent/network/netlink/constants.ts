// rtnetlink numbers from <linux/netlink.h>, <linux/rtnetlink.h>,
// <linux/if_link.h>, <linux/neighbour.h> and <linux/if_addr.h>.

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_NETLINK = 16;
export const NETLINK_ROUTE = 0;
export const CLONE_NEWNET = 0x40000000;

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_HDRLEN = 16;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

export const RTM = {
  NEWLINK: 16, DELLINK: 17, GETLINK: 18, SETLINK: 19,
  NEWADDR: 20, DELADDR: 21, GETADDR: 22,
  NEWROUTE: 24, DELROUTE: 25, GETROUTE: 26,
  NEWNEIGH: 28, DELNEIGH: 29, GETNEIGH: 30,
  GETNSID: 90,
} as const;

export const IFF_UP = 0x1;

export const IFLA = {
  ADDRESS: 1, IFNAME: 3, MTU: 4, LINK: 5, MASTER: 10, OPERSTATE: 16, LINKINFO: 18, NET_NS_FD: 28, TARGET_NETNSID: 46,
} as const;
/** Attributes of RTM_NEWNSID: a peer namespace's id, as this one numbers it. */
export const NETNSA = { NSID: 1 } as const;
export const IFLA_INFO = { KIND: 1, DATA: 2 } as const;
export const VETH_INFO_PEER = 1;
export const IFLA_VXLAN = {
  ID: 1, LOCAL: 4, TTL: 5, LEARNING: 7, PROXY: 11, L2MISS: 13, L3MISS: 14, PORT: 15,
} as const;

export const IFA = { ADDRESS: 1, LOCAL: 2 } as const;

export const RTA = { DST: 1, OIF: 4, GATEWAY: 5, PRIORITY: 6, TABLE: 15 } as const;
export const RT_TABLE_MAIN = 254;
export const RTPROT_STATIC = 4;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_NOWHERE = 255;
export const RTN_UNICAST = 1;

export const NDA = { DST: 1, LLADDR: 2, MASTER: 9 } as const;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
export const NTF_SELF = 0x02;

/** errno names for the values rtnetlink answers with. */
export const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV',
  22: 'EINVAL', 34: 'ERANGE', 93: 'EPROTONOSUPPORT', 95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT', 99: 'EADDRNOTAVAIL',
  101: 'ENETUNREACH', 105: 'ENOBUFS', 110: 'ETIMEDOUT',
};

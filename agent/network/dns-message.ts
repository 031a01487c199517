// The little of the DNS wire format (RFC 1035) the service resolver needs:
// read a query's question, write an answer with A records, or an error.

export const TYPE_A = 1;
export const RCODE_NXDOMAIN = 3;
export const RCODE_SERVFAIL = 2;

export interface Question {
  id: number;
  /** Lower-case, without the trailing dot. */
  name: string;
  type: number;
  /** Byte offset where the question section ends. */
  end: number;
}

/** Reads the first question of a query; undefined if it is not a well-formed query. */
export function parseQuestion(msg: Buffer): Question | undefined {
  if (msg.length < 12 || (msg.readUInt16BE(2) & 0x8000) !== 0 || msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    off++;
    if (len === 0) break;
    if (len > 63 || off + len > msg.length) return undefined; // no compression in a question
    labels.push(msg.toString('latin1', off, off + len).toLowerCase());
    off += len;
  }
  if (off + 4 > msg.length) return undefined;
  return { id: msg.readUInt16BE(0), name: labels.join('.'), type: msg.readUInt16BE(off), end: off + 4 };
}

/** An answer to `query` with one A record per address (none: an empty NOERROR answer for another type). */
export function answer(query: Buffer, q: Question, ips: string[], ttl: number): Buffer {
  const records = ips.map((ip) => {
    const r = Buffer.alloc(16);
    r.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    r.writeUInt16BE(TYPE_A, 2);
    r.writeUInt16BE(1, 4); // IN
    r.writeUInt32BE(ttl, 6);
    r.writeUInt16BE(4, 10);
    ip.split('.').forEach((b, i) => r.writeUInt8(Number(b), 12 + i));
    return r;
  });
  return Buffer.concat([header(query, 0, records.length), query.subarray(12, q.end), ...records]);
}

/** An error answer (NXDOMAIN, SERVFAIL) echoing the question. */
export function failure(query: Buffer, q: Question, rcode: number): Buffer {
  return Buffer.concat([header(query, rcode, 0), query.subarray(12, q.end)]);
}

function header(query: Buffer, rcode: number, answers: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(query.readUInt16BE(0), 0);
  const rd = query.readUInt16BE(2) & 0x0100;
  h.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080 | rcode, 2); // QR, AA, RD as asked, RA
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(answers, 6);
  return h;
}

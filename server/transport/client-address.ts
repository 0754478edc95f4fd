/**
 * @module client-address
 * Who a request comes from: the socket's peer, or, when that peer is a trusted proxy
 * (PARLEY_TRUST_PROXY), the last untrusted hop of `X-Forwarded-For`. Every per-address
 * limit and every logged address uses this one answer; the limits count it under its
 * `addressLimitKey` (an IPv6 client by its /64).
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

export interface ClientAddress {
  /** True when connections from `peer` are from a proxy we trust to say who the client is. */
  isTrustedProxy(peer: string | undefined): boolean;
  /** The client's address (IPv4-mapped IPv6 written as IPv4), or null when the socket has none. */
  of(req: IncomingMessage): string | null;
}

/** `::ffff:10.0.0.1` (a dual-stack listener's view of an IPv4 peer) is `10.0.0.1`. */
function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? (mapped[1] as string) : address.toLowerCase();
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail read as two, zone dropped). */
function ipv6Groups(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const [head = '', tail] = text.split('::');
  if (tail === undefined) return groups(head);
  const left = groups(head);
  const right = groups(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * What every per-address limit counts an address under: an IPv4 address itself, an IPv6
 * address its /64. A /64 is the smallest block a home or a server is given, and whoever
 * holds one can use any of its 2^64 addresses: counted one by one, an attacker would
 * never run out of fresh addresses. IPv4-mapped IPv6 (`::ffff:10.0.0.1`, in either
 * notation) is its IPv4 address. Anything that is not an address (`unknown`) is itself.
 */
export function addressLimitKey(address: string): string {
  const normal = normalizeAddress(address);
  if (isIP(normal) !== 6) return normal;
  const groups = ipv6Groups(normal);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/** One `X-Forwarded-For` entry as an address, or null: bare, `[v6]`, `[v6]:port` or `v4:port`. */
function hopAddress(entry: string): string | null {
  const text = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  const v4WithPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(text);
  const address = bracketed?.[1] ?? v4WithPort?.[1] ?? text;
  return isIP(address) === 0 ? null : normalizeAddress(address);
}

/** `trusted`: addresses and CIDRs, IPv4 or IPv6, as validated by the config (`10.0.0.0/8`, `::1`). */
export function createClientAddress(trusted: readonly string[]): ClientAddress {
  const list = new BlockList();
  for (const entry of trusted) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  const isTrusted = (address: string): boolean => list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');

  const isTrustedProxy = (peer: string | undefined): boolean =>
    trusted.length > 0 && peer !== undefined && isIP(peer) !== 0 && isTrusted(normalizeAddress(peer));

  return {
    isTrustedProxy,
    of(req) {
      const peer = req.socket.remoteAddress;
      if (peer === undefined) return null;
      const address = normalizeAddress(peer);
      if (!isTrustedProxy(peer)) return address;
      const header = req.headers['x-forwarded-for'];
      const entries = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
      // From the right: each trusted hop vouches for the entry before it. The first hop we
      // do not trust is the client; entries left of it are whatever that client claimed.
      let client = address;
      for (let i = entries.length - 1; i >= 0; i--) {
        const hop = hopAddress(entries[i] as string);
        // A malformed entry was not written by a proxy we trust: stop at the hop that passed it on.
        if (hop === null) break;
        client = hop;
        if (!isTrusted(hop)) break;
      }
      return client;
    },
  };
}

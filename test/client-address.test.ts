import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { addressLimitKey, createClientAddress } from '../server/transport/client-address.js';
import { ConfigError, loadConfig } from '../server/config.js';

function request(peer: string | undefined, forwardedFor?: string | string[]): IncomingMessage {
  return {
    socket: { remoteAddress: peer },
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  } as unknown as IncomingMessage;
}

describe('the client address', () => {
  it('is the socket peer when no proxy is trusted, whatever X-Forwarded-For claims', () => {
    const addresses = createClientAddress([]);
    expect(addresses.of(request('10.0.0.5', '203.0.113.7'))).toBe('10.0.0.5');
    expect(addresses.isTrustedProxy('10.0.0.5')).toBe(false);
  });

  it('ignores the X-Forwarded-For of a peer that is not a trusted proxy', () => {
    const addresses = createClientAddress(['10.0.0.0/8']);
    expect(addresses.of(request('198.51.100.9', '203.0.113.7'))).toBe('198.51.100.9');
  });

  it('is the last untrusted hop behind a trusted proxy, so entries a client put on the left are ignored', () => {
    const addresses = createClientAddress(['10.0.0.0/8']);
    // The client sent "X-Forwarded-For: 1.1.1.1, 127.0.0.1"; nginx appended what it saw.
    expect(addresses.of(request('10.0.0.2', '1.1.1.1, 127.0.0.1, 203.0.113.7'))).toBe('203.0.113.7');
    // Two trusted proxies in a row are skipped.
    expect(addresses.of(request('10.0.0.2', '1.1.1.1, 203.0.113.7, 10.9.9.9'))).toBe('203.0.113.7');
    // Repeated headers are one list.
    expect(addresses.of(request('10.0.0.2', ['1.1.1.1', '203.0.113.7']))).toBe('203.0.113.7');
  });

  it('falls back to the nearest trusted hop when the header is missing, empty, malformed, or all trusted', () => {
    const addresses = createClientAddress(['10.0.0.0/8']);
    expect(addresses.of(request('10.0.0.2'))).toBe('10.0.0.2');
    expect(addresses.of(request('10.0.0.2', ''))).toBe('10.0.0.2');
    expect(addresses.of(request('10.0.0.2', '203.0.113.7, not-an-address'))).toBe('10.0.0.2');
    expect(addresses.of(request('10.0.0.2', 'garbage, 10.3.3.3'))).toBe('10.3.3.3');
    expect(addresses.of(request('10.0.0.2', '10.1.1.1, 10.3.3.3'))).toBe('10.1.1.1');
  });

  it('matches IPv4 and IPv6 addresses and CIDRs, IPv4-mapped peers included', () => {
    const addresses = createClientAddress(['192.168.1.10', '172.16.0.0/12', 'fd00::/8', '::1']);
    for (const peer of ['192.168.1.10', '::ffff:192.168.1.10', '172.31.255.255', 'fd12:3456::1', '::1']) {
      expect({ peer, trusted: addresses.isTrustedProxy(peer) }).toEqual({ peer, trusted: true });
    }
    for (const peer of ['192.168.1.11', '172.32.0.1', 'fe80::1', '::2', undefined]) {
      expect({ peer, trusted: addresses.isTrustedProxy(peer) }).toEqual({ peer, trusted: false });
    }
    expect(addresses.of(request('::1', '2001:db8::1, fd00::7'))).toBe('2001:db8::1');
    expect(addresses.of(request('::ffff:172.16.0.1', '[2001:db8::2]:4711'))).toBe('2001:db8::2');
    expect(addresses.of(request('::ffff:172.16.0.1', '203.0.113.7:51234'))).toBe('203.0.113.7');
    expect(addresses.of(request('::ffff:198.51.100.1'))).toBe('198.51.100.1');
  });

  it('is configured by PARLEY_TRUST_PROXY, which refuses anything but addresses and CIDRs', () => {
    expect(loadConfig({}).trustProxy).toEqual([]);
    expect(loadConfig({ PARLEY_TRUST_PROXY: 'off' }).trustProxy).toEqual([]);
    expect(loadConfig({ PARLEY_TRUST_PROXY: ' 10.0.0.5, 10.1.0.0/16,fd00::/8 ' }).trustProxy).toEqual([
      '10.0.0.5',
      '10.1.0.0/16',
      'fd00::/8',
    ]);
    for (const bad of ['10.0.0.0/33', 'proxy.internal', '10.0.0.5,on', 'fd00::/129']) {
      expect(() => loadConfig({ PARLEY_TRUST_PROXY: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ PARLEY_TRUST_PROXY: bad })).toThrow(/PARLEY_TRUST_PROXY/);
    }
  });
});

describe('the limit key of an address', () => {
  it('keeps IPv4 as it is and reads IPv4-mapped IPv6 as IPv4, in either notation', () => {
    expect(addressLimitKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressLimitKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressLimitKey('::FFFF:203.0.113.7')).toBe('203.0.113.7');
    expect(addressLimitKey('::ffff:cb00:7107')).toBe('203.0.113.7');
    expect(addressLimitKey('unknown')).toBe('unknown');
  });

  it('counts every address of one IPv6 /64 as one, so fresh addresses from one block are no fresh limits', () => {
    const inOneBlock = ['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0DB8:0001:0002:0:0:0:7', '2001:db8:1:2::5%eth0'];
    expect(new Set(inOneBlock.map(addressLimitKey))).toEqual(new Set(['2001:db8:1:2::/64']));
    expect(addressLimitKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(addressLimitKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressLimitKey('::1')).toBe('0:0:0:0::/64');
    expect(addressLimitKey('fe80::1')).not.toBe(addressLimitKey('fe81::1'));
    expect(addressLimitKey('64:ff9b::203.0.113.7')).toBe('64:ff9b:0:0::/64');
  });
});

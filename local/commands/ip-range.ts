import ipaddr from 'ipaddr.js';
import { normaliseIp } from '../../shared/parse.js';

/** One client, or a prefix of addresses (CIDR), as `--ip` takes them. */
export type IpRange =
  | { readonly kind: 'ip'; readonly ip: string }
  | { readonly kind: 'cidr'; readonly text: string; readonly matches: (ip: string) => boolean };

/** `192.168.1.2`, `2001:db8::1`, `192.168.1.0/24`, `2001:db8::/32`; a /32 (/128) is the one address. */
export function parseIpRange(text: string): IpRange {
  if (!text.includes('/')) {
    const ip = normaliseIp(text);
    if (!ip) throw new Error(`must be an IP address or a CIDR prefix such as 192.168.1.0/24, got ${text}`);
    return { kind: 'ip', ip };
  }
  let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    range = ipaddr.parseCIDR(text);
  } catch {
    throw new Error(`must be an IP address or a CIDR prefix such as 192.168.1.0/24, got ${text}`);
  }
  // Results are keyed by the normalised address (an IPv4-mapped IPv6 address counts as its IPv4 one).
  const [base, bits] =
    range[0].kind() === 'ipv6' && (range[0] as ipaddr.IPv6).isIPv4MappedAddress() && range[1] >= 96
      ? ([(range[0] as ipaddr.IPv6).toIPv4Address(), range[1] - 96] as const)
      : range;
  const full = base.kind() === 'ipv4' ? 32 : 128;
  if (bits === full) return { kind: 'ip', ip: normaliseIp(base.toString()) ?? base.toString() };
  const kind = base.kind();
  return {
    kind: 'cidr',
    text,
    matches: (ip) => {
      const address = ipaddr.parse(ip);
      return address.kind() === kind && address.match(base, bits);
    },
  };
}

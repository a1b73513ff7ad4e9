// Who may purge (I1): clients whose address is in the allowed networks (loopback unless
// `--purge-allow` says otherwise), and anyone whose `X-Purge-Token` equals `--purge-token`.
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { OptionError } from './options.js';

export const LOOPBACK_NETWORKS: readonly string[] = ['127.0.0.0/8', '::1/128'];

/** `10.0.0.0/8,::1/128` (or a list) → checked CIDRs; throws OptionError naming `name`. */
export function parseCidrList(value: string | readonly string[], name: string): string[] {
  const items = (typeof value === 'string' ? value.split(',') : [...value]).map((item) => item.trim());
  if (items.length === 0 || items.some((item) => item === '')) throw new OptionError(`${name}: "${String(value)}" is not a comma-separated list of CIDRs (example: 10.0.0.0/8,::1/128)`);
  for (const item of items) cidrParts(item, name);
  return items;
}

function cidrParts(cidr: string, name: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address, prefixText, extra] = cidr.split('/');
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!family || extra !== undefined || !(prefix >= 0 && prefix <= max)) throw new OptionError(`${name}: "${cidr}" is not an IPv4 or IPv6 CIDR (example: 10.0.0.0/8)`);
  return { address, prefix, family };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class PurgeAccess {
  private readonly networks = new BlockList();
  private readonly tokenDigest: Buffer | null;

  constructor(allow: readonly string[] | undefined, token: string | undefined) {
    for (const cidr of allow ?? LOOPBACK_NETWORKS) {
      const { address, prefix, family } = cidrParts(cidr, 'purgeAllow');
      this.networks.addSubnet(address, prefix, family);
    }
    this.tokenDigest = token ? digest(token) : null;
  }

  /** May this client purge? `token` is its X-Purge-Token, if it sent one. */
  allows(clientAddress: string, token: string | undefined): boolean {
    if (token !== undefined && this.tokenMatches(token)) return true;
    return this.addressAllowed(clientAddress);
  }

  private addressAllowed(address: string): boolean {
    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return this.networks.check(mapped[1], 'ipv4');
    if (isIPv4(address)) return this.networks.check(address, 'ipv4');
    return isIPv6(address) && this.networks.check(address, 'ipv6');
  }

  /**
   * Constant time whatever the lengths: both sides are hashed to 32 bytes first, so that neither a
   * wrong length nor a common prefix shows in the timing.
   */
  private tokenMatches(token: string): boolean {
    if (!this.tokenDigest) return false;
    return timingSafeEqual(digest(token), this.tokenDigest);
  }
}

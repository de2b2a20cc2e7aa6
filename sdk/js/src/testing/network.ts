// The fake host's outbound network policy: `allowed_hosts` entries and URLs, read and
// matched as the server reads and matches them (the Rust SDK's testing/network.rs).

import { HostError } from '../errors.ts';

type PortRule = { kind: 'default' } | { kind: 'exactly'; port: number } | { kind: 'any' };

/** One `[network] allowed_hosts` entry. */
export class HostPattern {
  private constructor(
    readonly host: string,
    readonly anySubdomain: boolean,
    readonly port: PortRule,
  ) {}

  /** Parses an entry; throws saying what is wrong with it. */
  static parse(value: string): HostPattern {
    if (value.includes('://') || value.includes('/')) throw new Error(`\`${value}\` is a URL, not a host name`);
    let hostPart = value;
    let port: PortRule = { kind: 'default' };
    const colon = value.lastIndexOf(':');
    if (colon >= 0) {
      const host = value.slice(0, colon);
      const portText = value.slice(colon + 1);
      if (!host.includes(':') || host.endsWith(']')) {
        hostPart = host;
        if (portText === '*') port = { kind: 'any' };
        else if (/^\d{1,5}$/.test(portText) && Number(portText) <= 65535) port = { kind: 'exactly', port: Number(portText) };
        else throw new Error(`\`${value}\` has an invalid port \`${portText}\``);
      }
    }
    const anySubdomain = hostPart.startsWith('*.');
    const host = (anySubdomain ? hostPart.slice(2) : hostPart).replace(/^\[/, '').replace(/\]$/, '').toLowerCase();
    const validName =
      host.length > 0 && host.split('.').every((label) => label.length > 0 && label.length <= 63 && /^[a-z0-9-]+$/.test(label));
    const ip = /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || (host.includes(':') && /^[0-9a-f:.]+$/.test(host));
    if (!(validName || ip) || host.includes('*')) {
      throw new Error(`\`${value}\` is not a host name, \`*.domain\` pattern or IP address`);
    }
    return new HostPattern(host, anySubdomain, port);
  }

  matches(target: Target): boolean {
    const portOk =
      this.port.kind === 'any' ||
      (this.port.kind === 'exactly' ? target.port === this.port.port : target.port === defaultPort(target.scheme));
    return portOk && this.matchesHost(target);
  }

  matchesHost(target: Target): boolean {
    if (!this.anySubdomain) return target.host === this.host;
    return target.host.length > this.host.length + 1 && target.host.endsWith(`.${this.host}`);
  }

  toString(): string {
    const port = this.port.kind === 'any' ? ':*' : this.port.kind === 'exactly' ? `:${this.port.port}` : '';
    return `${this.anySubdomain ? '*.' : ''}${this.host}${port}`;
  }
}

interface Target {
  scheme: string;
  host: string;
  port: number;
}

const defaultPort = (scheme: string): number => (scheme === 'https' ? 443 : 80);

const invalidUrl = (uri: string, why: string) =>
  new HostError('invalid-input', `\`${uri}\` is not an absolute URL: ${why}`);

function target(uri: string): Target {
  const schemeEnd = uri.indexOf('://');
  if (schemeEnd < 0) throw invalidUrl(uri, 'it has no scheme such as `https://`');
  const scheme = uri.slice(0, schemeEnd).toLowerCase();
  let authority = uri.slice(schemeEnd + 3).split(/[/?#]/)[0];
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) throw invalidUrl(uri, 'an IPv6 address lacks `]`');
    host = authority.slice(1, close);
    const after = authority.slice(close + 1);
    portText = after.startsWith(':') ? after.slice(1) : undefined;
  } else {
    const colon = authority.lastIndexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    portText = colon < 0 ? undefined : authority.slice(colon + 1);
  }
  if (host === '') throw invalidUrl(uri, 'it has no host');
  let port = defaultPort(scheme);
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw invalidUrl(uri, `\`${portText}\` is not a port`);
    port = Number(portText);
  }
  return { scheme, host: host.toLowerCase(), port };
}

/** Checks `uri` against `allowed` as the server does; the refusal reads as the server's. */
export function checkUrl(plugin: string, allowed: HostPattern[], uri: string): void {
  const to = target(uri);
  const web = to.scheme === 'http' || to.scheme === 'https';
  if (web && allowed.some((pattern) => pattern.matches(to))) return;
  const onlyPortRefused = web && allowed.some((pattern) => pattern.matchesHost(to));
  const list = allowed.map(String).join(', ');
  const message = onlyPortRefused
    ? `plugin \`${plugin}\` may not reach \`${to.host}\` on port ${to.port} (${to.scheme}): allowed hosts are [${list}], and an entry without a port allows only port 80 (http) or 443 (https); add \`${to.host}:${to.port}\` (or \`${to.host}:*\`) to \`[network] allowed_hosts\` in plugin.toml`
    : `plugin \`${plugin}\` may not reach \`${to.host}\` (${to.scheme}): allowed hosts are [${list}]; add it to \`[network] allowed_hosts\` in plugin.toml`;
  throw new HostError('permission-denied', message);
}

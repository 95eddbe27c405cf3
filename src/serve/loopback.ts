import { isIP } from 'node:net';

/**
 * True when `host` names the loopback interface: `localhost`, `127.0.0.0/8` or `::1`
 * (bracketed or not). Binding anything else exposes the API to the network.
 *
 * @example
 * ```ts
 * isLoopbackHost('127.0.0.1'); // true
 * isLoopbackHost('0.0.0.0');   // false
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

/**
 * The host part of an HTTP `Host` header (`127.0.0.1:5000`, `[::1]:5000`, `localhost`).
 *
 * @example
 * ```ts
 * hostOfHeader('[::1]:5000'); // '::1'
 * ```
 */
export function hostOfHeader(header: string): string {
  const h = header.trim();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon > 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/**
 * `http://host:port` with IPv6 hosts bracketed.
 *
 * @example
 * ```ts
 * httpUrl('::1', 5000); // 'http://[::1]:5000'
 * ```
 */
export function httpUrl(host: string, port: number): string {
  return `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

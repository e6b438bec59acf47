import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * A hostname as stored and compared: lower case, IDNA (punycode) form, no trailing dot, no port.
 * Undefined when it is not a public DNS name of at least two labels (IP addresses are refused).
 */
export function normalizeHostname(input: string): string | undefined {
  const trimmed = input.trim().replace(/\.$/, '');
  if (trimmed.length === 0 || trimmed.length > 253 || isIP(trimmed)) return undefined;
  // Letters (any script, for IDNs), digits, dots and hyphens only: no scheme, port, path or userinfo
  // that the WHATWG host parser would quietly cut off.
  if (!/^[\p{L}\p{M}\p{N}.-]+$/u.test(trimmed)) return undefined;
  const ascii = domainToASCII(trimmed).toLowerCase();
  if (!ascii || ascii.length > 253) return undefined;
  const labels = ascii.split('.');
  if (labels.length < 2 || !labels.every((label) => LABEL.test(label))) return undefined;
  if (/^\d+$/.test(labels.at(-1) as string)) return undefined;
  return ascii;
}

/** The host a request was made to (Fastify's hostname: Host, or X-Forwarded-Host behind a trusted proxy). */
export function requestHostname(hostname: string | undefined): string | undefined {
  if (!hostname) return undefined;
  // `request.hostname` has no port already; an IPv6 literal keeps its brackets and is no DNS name.
  return normalizeHostname(hostname);
}

/** Unit checks of the device label and network prefix that adaptive MFA compares. */
import { describe, expect, it } from 'vitest';
import { deviceLabel, networkOf } from '../../src/modules/identity/index.ts';
import { hashRecoveryCode, newRecoveryCode, normalizeRecoveryCode, recoveryCodeMatches } from '../../src/modules/mfa/recovery-codes.ts';
import { FIREFOX_LINUX, SAFARI_IPHONE } from './support.ts';

describe('deviceLabel', () => {
  it('names browser and system, ignoring versions', () => {
    expect(deviceLabel(FIREFOX_LINUX)).toBe('Firefox on Linux');
    expect(deviceLabel(FIREFOX_LINUX.replace('128.0', '131.0'))).toBe('Firefox on Linux');
    expect(deviceLabel(SAFARI_IPHONE)).toBe('Safari on iOS');
    expect(
      deviceLabel('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0'),
    ).toBe('Edge on Windows');
    expect(
      deviceLabel('Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'),
    ).toBe('Chrome on macOS');
    expect(deviceLabel('curl/8.5.0')).toBe('curl');
    expect(deviceLabel('palazzo-cli/1.2.3 node/20')).toBe('palazzo-cli');
    expect(deviceLabel(null)).toBe('Unknown device');
    expect(deviceLabel('   ')).toBe('Unknown device');
  });
});

describe('networkOf', () => {
  it('takes the /24 of IPv4 (mapped too) and the /48 of IPv6', () => {
    expect(networkOf('203.0.113.7')).toBe('203.0.113.0/24');
    expect(networkOf('::ffff:203.0.113.99')).toBe('203.0.113.0/24');
    expect(networkOf('2001:db8:1:2::5')).toBe('2001:db8:1::/48');
    expect(networkOf('2001:0db8:0001:ffff:0:0:0:1')).toBe('2001:db8:1::/48');
    expect(networkOf('::1')).toBe('0:0:0::/48');
    expect(networkOf('not an address')).toBeNull();
    expect(networkOf(null)).toBeNull();
  });
});

describe('recovery codes', () => {
  it('have 80 bits in an unambiguous alphabet, are matched as typed, and hash with a salt', () => {
    const code = newRecoveryCode();
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
    const hash = hashRecoveryCode(code);
    expect(hash).not.toBe(hashRecoveryCode(code));
    expect(recoveryCodeMatches(hash, normalizeRecoveryCode(code.toLowerCase().replaceAll('-', ' ')) as string)).toBe(true);
    expect(recoveryCodeMatches(hash, normalizeRecoveryCode(newRecoveryCode()) as string)).toBe(false);
    expect(normalizeRecoveryCode('123456')).toBeNull();
    expect(normalizeRecoveryCode('IIII-LLLL-OOOO-UUUU')).toBeNull();
    expect(new Set(Array.from({ length: 1000 }, newRecoveryCode)).size).toBe(1000);
  });
});

/**
 * Shared pieces of the session and MFA suites: an app with an injected clock and a captured
 * one-time-code mailbox, logins that may answer a challenge, and real TOTP codes computed here.
 */
import { type TOTP, URI } from 'otpauth';
import type { OneTimeCodeMessage } from '../../src/modules/mfa/index.ts';
import { createTestContext, PASSWORD, type TestContext, type TestTenant } from '../helpers/harness.ts';

export type MfaContext = TestContext & {
  /** The app's clock: tests move it. */
  clock: { now: number };
  /** Every one-time code the app sent by email. */
  outbox: OneTimeCodeMessage[];
};

/** A step-aligned start (the middle of a 30 s step), so T−1/T/T+1 are unambiguous. */
export function stepMiddle(ms = Date.now()): number {
  return Math.floor(ms / 30_000) * 30_000 + 15_000;
}

export async function createMfaContext(): Promise<MfaContext> {
  const clock = { now: stepMiddle() };
  const outbox: OneTimeCodeMessage[] = [];
  const ctx = await createTestContext({
    build: {
      clock: () => clock.now,
      sendOneTimeCode: async (_tx, message) => {
        outbox.push(message);
      },
    },
  });
  return Object.assign(ctx, { clock, outbox });
}

export type Client = { userAgent?: string; ip?: string };

export const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
export const SAFARI_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';

export async function login(ctx: TestContext, tenant: { slug: string }, email: string, client: Client = {}, password = PASSWORD) {
  return ctx.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: tenant.slug, email, password },
    headers: client.userAgent ? { 'user-agent': client.userAgent } : {},
    ...(client.ip ? { remoteAddress: client.ip } : {}),
  });
}

export async function completeMfa(ctx: TestContext, mfaToken: string, code: string, client: Client = {}) {
  return ctx.app.inject({
    method: 'POST',
    url: '/v1/auth/mfa',
    payload: { mfaToken, code },
    headers: client.userAgent ? { 'user-agent': client.userAgent } : {},
    ...(client.ip ? { remoteAddress: client.ip } : {}),
  });
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Enrols TOTP for the caller through the API; answers the authenticator (real RFC 6238) and the recovery codes. */
export async function enrolTotp(ctx: MfaContext, auth: { authorization: string }): Promise<{ totp: TOTP; recoveryCodes: string[] }> {
  const start = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp', headers: auth });
  if (start.statusCode !== 200) throw new Error(`enrolment start failed: ${start.body}`);
  const totp = URI.parse(start.json().otpauthUri) as TOTP;
  const confirm = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/mfa/totp/confirm',
    headers: auth,
    payload: { code: totp.generate({ timestamp: ctx.clock.now }) },
  });
  if (confirm.statusCode !== 200) throw new Error(`enrolment confirm failed: ${confirm.body}`);
  return { totp, recoveryCodes: confirm.json().recoveryCodes };
}

/** A fresh user of the tenant (role), logged in once (their baseline device and network). */
export async function newUser(ctx: TestContext, tenant: TestTenant, role = 'member') {
  return ctx.user(tenant, role);
}

/** Moves the clock by whole TOTP steps. */
export function advanceSteps(ctx: MfaContext, steps: number) {
  ctx.clock.now += steps * 30_000;
}

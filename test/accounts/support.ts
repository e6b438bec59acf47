/**
 * A real SMTP server on loopback (smtp-server) whose received messages are parsed with mailparser,
 * and helpers to pull the token out of a mailed link.
 */
import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { expect } from 'vitest';
import type { TestContext } from '../helpers/harness.ts';

export type Received = ParsedMail & { envelopeTo: string[] };

export type SmtpPeer = {
  url: string;
  received: Received[];
  /** The next `n` messages are refused with a temporary error (451). */
  refuseNext(n: number, message?: string): void;
  /** Messages received for an address. */
  to(address: string): Received[];
  close(): Promise<void>;
};

export async function startSmtpServer(): Promise<SmtpPeer> {
  const received: Received[] = [];
  let refuse = 0;
  let refusal = 'mailbox temporarily unavailable';
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (refuse > 0) {
          refuse -= 1;
          return callback(Object.assign(new Error(refusal), { responseCode: 451 }));
        }
        simpleParser(Buffer.concat(chunks))
          .then((parsed) => {
            received.push(Object.assign(parsed, { envelopeTo: session.envelope.rcptTo.map((r) => r.address) }));
            callback();
          })
          .catch(callback);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    refuseNext(n, message) {
      refuse = n;
      if (message) refusal = message;
    },
    to: (address) => received.filter((m) => m.envelopeTo.includes(address)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The token of the first link in a text: `…#token=<token>`. */
export function tokenFrom(text: string | undefined): string {
  const match = /#token=([A-Za-z0-9_-]+)/.exec(text ?? '');
  expect(match, `no link with a token in: ${text}`).not.toBeNull();
  return (match as RegExpExecArray)[1] as string;
}

/** Runs the queued jobs (mail delivery) now, including retries whose backoff has not elapsed. */
export async function deliver(ctx: TestContext): Promise<number> {
  await ctx.palazzo.services.accounts.settle();
  await ctx.db.withOwner((tx) => tx.query("UPDATE jobs SET run_at = now() WHERE status = 'queued' AND kind = 'mail.deliver'"));
  return ctx.palazzo.services.jobs.drain();
}

/** Signs up through the API and returns the answer. */
export async function signup(ctx: TestContext, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return ctx.app.inject({ method: 'POST', url: '/v1/auth/signup', payload: body, headers });
}

export async function login(ctx: TestContext, tenant: string, email: string, password: string) {
  return ctx.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { tenant, email, password } });
}

/** Moves a token's or an invitation's expiry into the past (owner connection). */
export async function expireAll(ctx: TestContext, table: 'account_tokens' | 'invitations', tenantId: string) {
  await ctx.db.withOwner((tx) => tx.query(`UPDATE ${table} SET expires_at = now() - interval '1 second' WHERE tenant_id = $1`, [tenantId]));
}

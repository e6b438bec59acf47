import { Algorithm, hash, verify } from '@node-rs/argon2';
import { dictionary } from '@zxcvbn-ts/language-common';
import { AppError } from '../../platform/errors.ts';

/**
 * Password rules of NIST SP 800-63B-4 §3.1.1.2: at least 15 characters (passwords may be the only
 * factor), no composition rules, no expiry, checked against a blocklist of common passwords and
 * against words of the context. Passwords are NFKC-normalised before hashing, never truncated.
 */
export const MIN_PASSWORD_LENGTH = 15;
/** Upper bound on bytes, checked before hashing so a huge input cannot cost CPU. */
export const MAX_PASSWORD_BYTES = 1024;

const COMMON = new Set<string>((dictionary.passwords as string[]).map((p) => p.toLowerCase()));

export type PasswordContext = { words: string[] };

export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** Why a password is refused: a stable code for clients (`reason` in the 400 weak_password problem). */
export type PasswordRefusal = 'too_long' | 'too_short' | 'common' | 'sequence' | 'repeated' | 'context';

// Runs of characters people type as "long" passwords: the alphabet, digits, keyboard rows and
// columns, forwards and backwards. A password that is a piece of one of them is refused.
const SEQUENCES = [
  'abcdefghijklmnopqrstuvwxyz',
  '01234567890123456789012345678901234567890',
  'qwertyuiopasdfghjklzxcvbnm',
  'qwertzuiopasdfghjklyxcvbnm',
  'azertyuiopqsdfghjklmwxcvbn',
  '1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p',
  'zaq1xsw2cde3vfr4bgt5nhy6mju7',
];
const SEQUENCE_TEXT = [...SEQUENCES, ...SEQUENCES.map((s) => [...s].reverse().join(''))].join(' ');

// Leet-speak that people put in otherwise common passwords ("p@ssw0rd").
const LEET: Record<string, string> = { '0': 'o', '1': 'l', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '@': 'a', $: 's', '!': 'i' };
const unleet = (value: string) => [...value].map((c) => LEET[c] ?? c).join('');

/** The offline blocklist (zxcvbn-ts common/breached passwords) seen through the usual disguises. */
function isCommon(lower: string): boolean {
  if (COMMON.has(lower)) return true;
  // Separators and spaces do not make a listed password new ("pass word 1234…").
  const compact = lower.replace(/[\s._-]+/gu, '');
  if (COMMON.has(compact) || COMMON.has(unleet(compact))) return true;
  // A listed password with digits or symbols stuck on either end ("iloveyou12345678", "!!superman2024!!").
  const core = compact.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');
  return core.length >= 6 && core.length < compact.length && (COMMON.has(core) || COMMON.has(unleet(core)));
}

/**
 * The verdict of the policy: undefined when the password is fine, else a stable reason and a
 * message phrased for the person choosing the password.
 */
export function passwordVerdict(
  password: string,
  context: PasswordContext = { words: [] },
): { reason: PasswordRefusal; message: string } | undefined {
  const normalized = normalizePassword(password);
  if (Buffer.byteLength(normalized, 'utf8') > MAX_PASSWORD_BYTES) {
    return { reason: 'too_long', message: `must be at most ${MAX_PASSWORD_BYTES} bytes` };
  }
  // Length in code points, so that emoji and accented letters count as one character each.
  if ([...normalized].length < MIN_PASSWORD_LENGTH)
    return { reason: 'too_short', message: `must be at least ${MIN_PASSWORD_LENGTH} characters` };
  const lower = normalized.toLowerCase();
  if (isCommon(lower)) return { reason: 'common', message: 'is a commonly used password (it appears in lists of breached passwords)' };
  // A unit repeated ("abcabcabc…", "aaaa…", "passwordpassword") adds no strength however long it gets.
  if (/^(.+?)\1+$/su.test(lower)) return { reason: 'repeated', message: 'is a repeated pattern' };
  const compact = lower.replace(/[\s._-]+/gu, '');
  if (compact.length >= 8 && SEQUENCE_TEXT.includes(compact)) return { reason: 'sequence', message: 'is a common sequence of characters' };
  const words = ['palazzo', ...context.words]
    .flatMap((word) => word.toLowerCase().split(/[^\p{L}\p{N}]+/u))
    .filter((word) => word.length >= 4);
  for (const word of words) {
    if (lower.includes(word)) {
      const rest = lower.split(word).join('');
      if ([...rest].length < 10)
        return { reason: 'context', message: `is too close to "${word}", which is part of the account or product name` };
    }
  }
  return undefined;
}

/** Reasons are phrased for the person choosing the password. Returns undefined when it is fine. */
export function passwordProblem(password: string, context: PasswordContext = { words: [] }): string | undefined {
  return passwordVerdict(password, context)?.message;
}

export function assertAcceptablePassword(password: string, context?: PasswordContext): void {
  const verdict = passwordVerdict(password, context);
  if (verdict) throw new AppError('weak_password', `password ${verdict.message}`, { field: 'password', reason: verdict.reason });
}

/** Context words for a tenant user: the tenant's name and slug, and the email's local part and domain. */
export function contextWords(email: string, tenant?: { name: string; slug: string }): PasswordContext {
  const [local = '', domain = ''] = email.split('@');
  return { words: [local, domain.split('.')[0] ?? '', tenant?.name ?? '', tenant?.slug ?? ''] };
}

export type Argon2Params = { memoryCost: number; timeCost: number; parallelism: number };

/**
 * At most `concurrency` Argon2id computations at once and `queue` more waiting (first come, first
 * served); beyond that, 503 server_busy with Retry-After. Hashing runs on libuv's thread pool, so
 * without a cap a login storm can hold every core and starve the API (OWASP Password Storage).
 */
export function createHashingGate(limits: { concurrency: number; queue: number }) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return {
    async run<T>(fn: () => Promise<T>): Promise<T> {
      if (active < limits.concurrency) active += 1;
      else {
        if (waiting.length >= limits.queue) {
          throw new AppError('server_busy', 'too many sign-ins are being checked at once; try again in a moment', { retryAfter: 1 });
        }
        // The slot is handed over by the finishing computation (active stays the same).
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
      try {
        return await fn();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else active -= 1;
      }
    },
    get active() {
      return active;
    },
    get waiting() {
      return waiting.length;
    },
  };
}

export function createPasswordHasher(params: Argon2Params, limits = { concurrency: Number.POSITIVE_INFINITY, queue: 0 }) {
  const options = { algorithm: Algorithm.Argon2id, ...params };
  const gate = createHashingGate(limits);
  // A real hash of a random value: verifying against it costs what a real verification costs, so
  // an unknown account answers in the same time as a known one (T14).
  const dummy = hash(`dummy-${Math.random()}-${Date.now()}`, options);

  return {
    hash: (password: string) => gate.run(() => hash(normalizePassword(password), options)),
    /** Verifies; runs a verification of equal cost when there is no stored hash. */
    async verify(stored: string | null | undefined, password: string): Promise<boolean> {
      if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES * 4) return false;
      const target = stored ?? (await dummy);
      try {
        const ok = await gate.run(() => verify(target, normalizePassword(password)));
        return ok && stored != null;
      } catch (error) {
        if (error instanceof AppError) throw error;
        return false;
      }
    },
    gate,
    /** True when the stored hash was made with weaker parameters than the current ones. */
    needsRehash(stored: string): boolean {
      const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(stored);
      if (!match) return true;
      const [, m, t, p] = match.map(Number) as [number, number, number, number];
      return m < params.memoryCost || t < params.timeCost || p < params.parallelism;
    },
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;

import type { Database } from '../../platform/db/database.ts';
import { AppError, assertThat, conflict } from '../../platform/errors.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { assertAcceptablePassword, contextWords, MAX_PASSWORD_BYTES, type PasswordHasher } from '../identity/passwords.ts';
import { OPERATOR_AUDIENCE, type TokenService } from '../identity/tokens.ts';
import * as repo from './operators.repo.ts';

/**
 * Operators run the instance. They are not tenant users: their tokens carry the operator audience,
 * which tenant routes refuse, and tenant tokens are refused on operator routes.
 */
export function createOperatorService(deps: { db: Database; tokens: TokenService; passwords: PasswordHasher; ttlSeconds: number }) {
  const { db, tokens, passwords } = deps;
  return {
    async create(input: { email: string; name: string; password: string }) {
      const email = input.email.trim().toLowerCase();
      assertAcceptablePassword(input.password, contextWords(email));
      const passwordHash = await passwords.hash(input.password);
      const id = uuidv7();
      await db.withControlPlane(async (tx) => {
        assertThat(!(await repo.findOperatorByEmail(tx, email)), conflict('an operator with this email exists', { field: 'email' }));
        await repo.insertOperator(tx, { id, email, name: input.name, passwordHash });
      });
      return { id, email, name: input.name };
    },

    count: () => db.withControlPlane((tx) => repo.countOperators(tx)),

    async login(input: { email: string; password: string }) {
      assertThat(
        Buffer.byteLength(input.password, 'utf8') <= MAX_PASSWORD_BYTES,
        new AppError('validation_failed', `password must be at most ${MAX_PASSWORD_BYTES} bytes`),
      );
      const email = input.email.trim().toLowerCase();
      const operator = await db.withControlPlane((tx) => repo.findOperatorByEmail(tx, email));
      const ok = await passwords.verify(operator?.password_hash, input.password);
      assertThat(operator && ok, new AppError('invalid_credentials', 'the email or password is not correct'));
      const rehash = passwords.needsRehash(operator.password_hash) ? await passwords.hash(input.password) : null;
      await db.withControlPlane((tx) => repo.recordOperatorLogin(tx, operator.id, rehash));
      const accessToken = await tokens.sign({ sub: operator.id }, OPERATOR_AUDIENCE, deps.ttlSeconds);
      return { accessToken, expiresIn: deps.ttlSeconds, tokenType: 'Bearer' as const };
    },

    async resolve(token: string) {
      const claims = await tokens.verify(token, OPERATOR_AUDIENCE);
      if (!claims?.sub) return undefined;
      return { kind: 'operator' as const, operatorId: claims.sub };
    },
  };
}

export type OperatorService = ReturnType<typeof createOperatorService>;

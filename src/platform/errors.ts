/**
 * The closed set of error codes the API answers with, and their HTTP status. Clients may rely on
 * `code`; titles and details are for people.
 */
export const ERROR_STATUS = {
  validation_failed: 400,
  malformed_json: 400,
  invalid_cursor: 400,
  invalid_scope: 400,
  weak_password: 400,
  invalid_token: 401,
  unauthenticated: 401,
  invalid_credentials: 401,
  invalid_grant: 401,
  forbidden: 403,
  tenant_suspended: 403,
  tenant_offboarding: 403,
  tenant_mismatch: 403,
  scope_exceeds_permissions: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  invalid_transition: 409,
  confirmation_required: 400,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  precondition_required: 428,
  quota_exceeded: 429,
  rate_limited: 429,
  internal_error: 500,
  service_unavailable: 503,
  step_up_required: 401,
  invalid_mfa_token: 401,
  invalid_mfa_code: 401,
  mail_unavailable: 503,
  server_busy: 503,
  sso_required: 403,
  sso_not_available: 403,
  sso_email_not_allowed: 403,
  sso_failed: 401,
  sso_mfa_required: 403,
  role_in_use: 409,
  role_immutable: 409,
  signup_disabled: 403,
  email_token_invalid: 400,
  email_token_expired: 400,
  email_token_used: 400,
  current_password_invalid: 400,
  empty_file: 422,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

const TITLES: Record<ErrorCode, string> = {
  validation_failed: 'The request is not valid',
  malformed_json: 'The body is not valid JSON',
  invalid_cursor: 'The pagination cursor is not valid',
  invalid_scope: 'Unknown permission in scopes',
  weak_password: 'The password is not acceptable',
  invalid_token: 'The credential is not valid',
  unauthenticated: 'Authentication is required',
  invalid_credentials: 'Invalid credentials',
  invalid_grant: 'The refresh token is not valid',
  forbidden: 'You do not have permission for this action',
  tenant_suspended: 'The tenant is suspended',
  tenant_offboarding: 'The tenant is being offboarded',
  tenant_mismatch: 'The tenant does not match the credential',
  scope_exceeds_permissions: 'Scopes exceed your permissions',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  conflict: 'Conflict',
  invalid_transition: 'The tenant cannot make this transition',
  confirmation_required: 'Confirmation required',
  precondition_failed: 'The resource has changed since you read it',
  payload_too_large: 'The request body is too large',
  unsupported_media_type: 'Unsupported media type',
  precondition_required: 'This write needs an If-Match header',
  quota_exceeded: 'Quota exceeded',
  rate_limited: 'Too many requests',
  internal_error: 'Internal server error',
  service_unavailable: 'Service unavailable',
  step_up_required: 'A recent authentication is required',
  invalid_mfa_token: 'The MFA token is not valid',
  invalid_mfa_code: 'The code is not valid',
  mail_unavailable: 'Email cannot be sent',
  server_busy: 'Too many sign-ins at once',
  sso_required: 'This tenant requires single sign-on',
  sso_not_available: "Single sign-on is not included in the tenant's tier",
  sso_email_not_allowed: 'The email domain is not allowed for single sign-on',
  sso_failed: 'Single sign-on failed',
  sso_mfa_required: 'The identity provider did not report the multi-factor authentication this account needs',
  role_in_use: 'The role is still in use',
  role_immutable: 'Built-in roles cannot be changed',
  signup_disabled: 'Self-service signup is switched off',
  email_token_invalid: 'The link is not valid',
  email_token_expired: 'The link has expired',
  email_token_used: 'The link has already been used',
  current_password_invalid: 'The current password is not correct',
  empty_file: 'The file is empty',
};

/**
 * Italian titles. Partial so that a code added elsewhere compiles before it is translated (it falls
 * back to English); test/i18n checks that every code has its Italian title.
 */
export const TITLES_IT: Partial<Record<ErrorCode, string>> = {
  validation_failed: 'La richiesta non è valida',
  malformed_json: 'Il corpo non è JSON valido',
  invalid_cursor: 'Il cursore di paginazione non è valido',
  invalid_scope: 'Permesso sconosciuto negli ambiti',
  weak_password: 'La password non è accettabile',
  invalid_token: 'La credenziale non è valida',
  unauthenticated: 'È richiesta l’autenticazione',
  invalid_credentials: 'Credenziali non valide',
  invalid_grant: 'Il token di aggiornamento non è valido',
  forbidden: 'Non hai il permesso per questa azione',
  tenant_suspended: 'Il tenant è sospeso',
  tenant_offboarding: 'Il tenant è in fase di dismissione',
  tenant_mismatch: 'Il tenant non corrisponde alla credenziale',
  scope_exceeds_permissions: 'Gli ambiti superano i tuoi permessi',
  not_found: 'Non trovato',
  method_not_allowed: 'Metodo non consentito',
  conflict: 'Conflitto',
  invalid_transition: 'Il tenant non può compiere questa transizione',
  confirmation_required: 'Conferma richiesta',
  precondition_failed: 'La risorsa è cambiata da quando è stata letta',
  payload_too_large: 'Il corpo della richiesta è troppo grande',
  unsupported_media_type: 'Tipo di contenuto non supportato',
  precondition_required: 'Questa scrittura richiede l’intestazione If-Match',
  quota_exceeded: 'Quota superata',
  rate_limited: 'Troppe richieste',
  internal_error: 'Errore interno del server',
  service_unavailable: 'Servizio non disponibile',
  step_up_required: 'È richiesta un’autenticazione recente',
  invalid_mfa_token: 'Il token MFA non è valido',
  invalid_mfa_code: 'Il codice non è valido',
  mail_unavailable: 'Impossibile inviare l’email',
  server_busy: 'Troppi accessi contemporanei',
  sso_required: 'Questo tenant richiede l’accesso unificato (SSO)',
  sso_not_available: 'L’accesso unificato (SSO) non è incluso nel piano del tenant',
  sso_email_not_allowed: 'Il dominio dell’email non è ammesso per l’accesso unificato',
  sso_failed: 'Accesso unificato non riuscito',
  sso_mfa_required: 'Il provider di identità non ha attestato l’autenticazione a più fattori richiesta per questo account',
  role_in_use: 'Il ruolo è ancora in uso',
  role_immutable: 'I ruoli predefiniti non possono essere modificati',
  signup_disabled: 'La registrazione autonoma è disattivata',
  email_token_invalid: 'Il link non è valido',
  email_token_expired: 'Il link è scaduto',
  email_token_used: 'Il link è già stato usato',
  current_password_invalid: 'La password attuale non è corretta',
  empty_file: 'Il file è vuoto',
};

export type ProblemExtras = Record<string, unknown>;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly detail?: string,
    readonly extras: ProblemExtras = {},
  ) {
    // An AppError is an answer to the client, not a bug: no stack trace is captured (it costs more
    // than the rest of a cached request). Unexpected errors keep theirs.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(detail ?? TITLES[code]);
    Error.stackTraceLimit = limit;
    this.status = ERROR_STATUS[code];
  }
}

/** The title of a code in a message language (problem details); English unless Italian is asked for. */
export function titleOf(code: ErrorCode, locale: 'en' | 'it' = 'en'): string {
  return (locale === 'it' ? TITLES_IT[code] : undefined) ?? TITLES[code];
}

/** Guard clause: `assertThat(user, notFound('user'))` reads top-down. */
export function assertThat(condition: unknown, error: AppError | (() => AppError)): asserts condition {
  if (!condition) throw typeof error === 'function' ? error() : error;
}

export const notFound = (what: string) => new AppError('not_found', `${what} not found`);
export const conflict = (detail: string, extras?: ProblemExtras) => new AppError('conflict', detail, extras);
export const forbidden = (detail = 'You do not have permission for this action') => new AppError('forbidden', detail);

/** An id of the wrong shape is answered as a missing one, with the same body. */
export function assertId(id: string, what: string): void {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw notFound(what);
}

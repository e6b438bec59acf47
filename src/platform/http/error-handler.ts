import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode, ERROR_STATUS, titleOf } from '../errors.ts';
import { DEFAULT_LOCALE, type MessageLocale, negotiateLocale } from '../i18n.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The language of problem titles, when something better than Accept-Language is known (the user's locale). */
    messageLocale?: MessageLocale;
  }
}

/** Titles follow the user's locale when known, else Accept-Language, else English; `code` never changes. */
function localeOf(request: FastifyRequest): MessageLocale {
  return request.messageLocale ?? negotiateLocale(request.headers['accept-language']) ?? DEFAULT_LOCALE;
}

type ValidationIssue = { path: string; message: string };

function problem(reply: FastifyReply, code: ErrorCode, detail: string, extras: Record<string, unknown> = {}) {
  const status = ERROR_STATUS[code];
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  // Read by the audit log's record of a refused request.
  (reply as { problemCode?: string }).problemCode = code;
  // The request id travels in the x-request-id header, not the body: a missing resource and
  // another tenant's resource must answer with byte-identical bodies.
  return reply
    .code(status)
    .type('application/problem+json; charset=utf-8')
    .send({ type: `https://palazzo.dev/problems/${code}`, title: titleOf(code, localeOf(reply.request)), status, code, detail, ...extras });
}

function validationIssues(error: FastifyError): ValidationIssue[] {
  const context = error.validationContext ?? 'body';
  return (error.validation ?? []).map((issue) => {
    const params = issue.params as Record<string, unknown>;
    let path = `${context}${issue.instancePath}`;
    if (issue.keyword === 'required') path += `/${String(params.missingProperty)}`;
    if (issue.keyword === 'additionalProperties') path += `/${String(params.additionalProperty)}`;
    const message = issue.keyword === 'additionalProperties' ? 'is not an allowed field' : (issue.message ?? 'is not valid');
    return { path, message };
  });
}

/** PostgreSQL errors that bad input can cause; the body never shows constraint names or SQL (T09). */
const PG_ERRORS: Record<string, [ErrorCode, string]> = {
  '23505': ['conflict', 'a resource with these unique values already exists'],
  '23503': ['validation_failed', 'a referenced resource does not exist'],
  '23514': ['validation_failed', 'a value is outside its allowed range'],
  '23502': ['validation_failed', 'a required value is missing'],
  '22P02': ['validation_failed', 'a value has the wrong format'],
  '22001': ['validation_failed', 'a value is too long'],
  '22007': ['validation_failed', 'a date or time is not valid'],
  '22008': ['validation_failed', 'a date or time is out of range'],
  '22003': ['validation_failed', 'a number is out of range'],
  '22021': ['validation_failed', 'a text contains bytes that are not valid UTF-8'],
  '22P05': ['validation_failed', 'a text contains a character that cannot be stored'],
  '54001': ['validation_failed', 'the input is nested too deeply'],
};

export function errorHandler(error: FastifyError & { code?: string }, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof AppError) {
    if (error.status >= 500) request.log.error({ err: error }, 'request failed');
    return problem(reply, error.code, error.detail ?? titleOf(error.code), error.extras);
  }
  if (error.validation) {
    const errors = validationIssues(error);
    const first = errors[0];
    return problem(reply, 'validation_failed', first ? `${first.path} ${first.message}` : 'the request is not valid', {
      errors,
    });
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problem(reply, 'payload_too_large', 'the request body is larger than the limit');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problem(reply, 'unsupported_media_type', 'send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problem(reply, 'validation_failed', 'the JSON body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return problem(reply, 'malformed_json', 'the body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return problem(reply, 'validation_failed', 'Content-Length does not match the body');
  }
  if (error instanceof SyntaxError) {
    // secure-json-parse refuses __proto__ and constructor.prototype keys (T39).
    const poisoned = /prototype/i.test(error.message);
    return problem(
      reply,
      poisoned ? 'validation_failed' : 'malformed_json',
      poisoned ? 'the body contains a forbidden key (__proto__ or constructor.prototype)' : 'the body is not valid JSON',
    );
  }
  if (error instanceof RangeError) {
    return problem(reply, 'validation_failed', 'the input is nested too deeply or too large');
  }
  const pg = error.code ? PG_ERRORS[error.code] : undefined;
  if (pg) return problem(reply, pg[0], pg[1]);
  const status = error.statusCode ?? 500;
  if (status === 404) return problem(reply, 'not_found', 'not found');
  if (status === 405) return problem(reply, 'method_not_allowed', 'method not allowed');
  if (status === 413) return problem(reply, 'payload_too_large', 'the request body is larger than the limit');
  if (status === 415) return problem(reply, 'unsupported_media_type', 'unsupported media type');
  if (status >= 400 && status < 500) return problem(reply, 'validation_failed', 'the request is not valid');
  request.log.error({ err: error }, 'unhandled error');
  return problem(reply, 'internal_error', 'something went wrong on our side; the request id identifies it');
}

/**
 * The error handler with the caller's preferred language looked up first (the user's stored locale,
 * then the tenant's, around Accept-Language); a failed lookup keeps the header-based choice.
 */
export function localizedErrorHandler(resolve: (request: FastifyRequest) => Promise<MessageLocale | undefined>) {
  return async (error: FastifyError & { code?: string }, request: FastifyRequest, reply: FastifyReply) => {
    try {
      request.messageLocale = await resolve(request);
    } catch (lookupError) {
      request.log.warn({ err: lookupError }, 'could not resolve the locale of an error response');
    }
    return errorHandler(error, request, reply);
  };
}

export function notFoundHandler(_request: FastifyRequest, reply: FastifyReply) {
  return problem(reply, 'not_found', 'no such route');
}

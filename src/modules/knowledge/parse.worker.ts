/**
 * The parser worker: runs untrusted documents through the parsers off the main thread, under the
 * memory limits the pool gives it (parser-pool.ts). Answers { id, ok, parsed } or { id, ok: false, code, reason }.
 */
import { parentPort } from 'node:worker_threads';
import { type MediaType, type ParseLimits, ParseFailure, parseDocument } from './parsers/index.ts';

type Request = { id: number; bytes: Uint8Array; mediaType: MediaType; limits: ParseLimits };

parentPort?.on('message', async (request: Request) => {
  try {
    const parsed = await parseDocument(request.bytes, request.mediaType, request.limits);
    parentPort?.postMessage({ id: request.id, ok: true, parsed });
  } catch (error) {
    if (error instanceof ParseFailure) {
      parentPort?.postMessage({ id: request.id, ok: false, code: error.code, reason: error.reason });
    } else if (error instanceof RangeError) {
      // Maximum call stack size and friends: a document built to exhaust the parser.
      parentPort?.postMessage({
        id: request.id,
        ok: false,
        code: 'too_complex',
        reason: 'the document is too deeply nested or too complex to read',
      });
    } else {
      const message = error instanceof Error ? error.message : String(error);
      parentPort?.postMessage({
        id: request.id,
        ok: false,
        code: 'corrupt_file',
        reason: `the file could not be read: ${message.slice(0, 200)}`,
      });
    }
  }
});
parentPort?.postMessage({ ready: true });

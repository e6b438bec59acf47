import { crc32 } from 'node:zlib';
import { AppError } from '../../platform/errors.ts';

export const LOGO_MAX_BYTES = 256 * 1024;
export type LogoType = 'image/png' | 'image/svg+xml';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const MAX_DIMENSION = 8192;

const unsupported = (detail: string, extras: Record<string, unknown> = {}) => new AppError('unsupported_media_type', detail, extras);

/** The image type read from the bytes themselves; the file name and the declared type play no part. */
export function detectImageType(bytes: Buffer): LogoType | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return 'image/png';
  const text = decodeUtf8(bytes);
  if (text !== undefined && looksLikeSvg(text)) return 'image/svg+xml';
  return undefined;
}

function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    return undefined;
  }
}

/** An XML prolog, comments and a DOCTYPE may come first; then the root element must be `<svg`. */
function looksLikeSvg(text: string): boolean {
  let rest = text.trimStart();
  for (let guard = 0; guard < 20; guard += 1) {
    const prolog =
      /^<\?xml[^>]*\?>\s*/i.exec(rest) ?? /^<!--[\s\S]*?-->\s*/.exec(rest) ?? /^<!DOCTYPE\s+svg[^>[]*(\[[\s\S]*?\])?\s*>\s*/i.exec(rest);
    if (!prolog) break;
    rest = rest.slice(prolog[0].length);
  }
  return /^<svg[\s>/]/i.test(rest);
}

/** What the client said the file is (part content type, then extension); undefined when it said nothing useful. */
export function declaredImageType(filename: string | undefined, mimetype: string | undefined): LogoType | 'other' | undefined {
  const type = (mimetype ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'image/png' || type === 'image/svg+xml') return type;
  if (type && type !== 'application/octet-stream') return 'other';
  const extension = /\.([a-z0-9]+)$/i.exec(filename ?? '')?.[1]?.toLowerCase();
  if (extension === 'png') return 'image/png';
  if (extension === 'svg') return 'image/svg+xml';
  return extension ? 'other' : undefined;
}

/**
 * A structurally valid PNG: the signature, IHDR first with sane dimensions, every chunk inside the
 * file with a correct CRC-32, and IEND last. Rejects polyglots that only borrow the signature.
 */
export function validatePng(bytes: Buffer): { width: number; height: number } {
  let offset = 8;
  let first = true;
  let size: { width: number; height: number } | undefined;
  let sawData = false;
  while (offset + 12 <= bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (length > 0x7fffffff || end > bytes.length) throw unsupported('the PNG is truncated or a chunk length is wrong');
    const crc = bytes.readUInt32BE(offset + 8 + length);
    if (crc32(bytes.subarray(offset + 4, offset + 8 + length)) !== crc)
      throw unsupported(`the PNG chunk ${JSON.stringify(type)} has a bad CRC`);
    if (first) {
      if (type !== 'IHDR' || length !== 13) throw unsupported('the PNG does not start with its IHDR header');
      const width = bytes.readUInt32BE(offset + 8);
      const height = bytes.readUInt32BE(offset + 12);
      if (width < 1 || height < 1 || width > MAX_DIMENSION || height > MAX_DIMENSION) {
        throw unsupported(`PNG dimensions must be 1 to ${MAX_DIMENSION} pixels, got ${width}×${height}`);
      }
      size = { width, height };
      first = false;
    }
    if (type === 'IDAT') sawData = true;
    if (type === 'IEND') {
      if (end !== bytes.length) throw unsupported('the PNG has bytes after its IEND chunk');
      if (!sawData || !size) throw unsupported('the PNG has no image data');
      return size;
    }
    offset = end;
  }
  throw unsupported('the PNG has no IEND chunk');
}

/** A removed piece of markup, named for the caller: `<script>`, `onload on <svg>`. */
export type Removed = string;

type Sanitizer = { sanitize(svg: string): { svg: string; removed: Removed[] } };
let sanitizer: Promise<Sanitizer> | undefined;

/** Only same-document references (`#id`): no network, no `javascript:`, no `data:`. */
const LOCAL_REFERENCE = /^\s*#[A-Za-z_][\w.:-]*\s*$/;
const URL_FUNCTION = /url\s*\(\s*(['"]?)\s*([^'")\s]*)/gi;

/**
 * DOMPurify on a jsdom window, loaded on first use (it costs ~150 ms and most requests never need
 * it). DOMPurify's SVG profile drops scripts, event handlers, `javascript:` URLs and elements
 * outside SVG; on top of it we forbid what can reach outside the document or hide active content
 * (foreignObject, style sheets, links, images, `use`) and every reference that is not `#local`.
 */
async function loadSanitizer(): Promise<Sanitizer> {
  const [{ JSDOM }, { default: createDOMPurify }] = await Promise.all([import('jsdom'), import('dompurify')]);
  const { window } = new JSDOM('');
  const purify = createDOMPurify(window as never);
  purify.addHook('uponSanitizeAttribute', (_node, data) => {
    const name = data.attrName.toLowerCase();
    const value = data.attrValue;
    if ((name === 'href' || name.endsWith(':href') || name === 'src') && !LOCAL_REFERENCE.test(value)) data.keepAttr = false;
    for (const match of value.matchAll(URL_FUNCTION)) {
      if (!(match[2] ?? '').startsWith('#')) data.keepAttr = false;
    }
  });
  return {
    sanitize(svg) {
      const body = purify.sanitize(svg, {
        USE_PROFILES: { svg: true, svgFilters: true },
        FORBID_TAGS: [
          'script',
          'style',
          'foreignObject',
          'a',
          'image',
          'use',
          'iframe',
          'animate',
          'set',
          'animateMotion',
          'animateTransform',
        ],
        RETURN_DOM: true,
      }) as unknown as { children: ArrayLike<{ nodeName: string }> };
      const removed = purify.removed
        .map((entry) => {
          const item = entry as { element?: { nodeName: string }; attribute?: { name: string } | null; from?: { nodeName: string } };
          if (item.attribute) return `${item.attribute.name} on <${(item.from?.nodeName ?? '?').toLowerCase()}>`;
          const name = item.element?.nodeName.toLowerCase();
          return name && !['body', 'html', 'head', '#text'].includes(name) ? `<${name}>` : undefined;
        })
        .filter((r): r is string => r !== undefined);
      const roots = Array.from(body.children);
      if (roots.length !== 1 || roots[0]?.nodeName.toLowerCase() !== 'svg') {
        throw unsupported('the SVG must have a single <svg> root element');
      }
      const serialized = new window.XMLSerializer().serializeToString(roots[0] as never);
      return { svg: serialized, removed: [...new Set(removed)] };
    },
  };
}

/**
 * Active or external content that must never survive sanitising, checked again on the serialised
 * result (defence in depth). Inside tags only: the serialiser escapes `<` and `>` in text and values.
 */
const FORBIDDEN_ELEMENT = /<\s*(?:script|foreignObject|style|iframe)\b/i;
const FORBIDDEN_ATTRIBUTE = /<[^>]*(?:\son[a-z]+\s*=|javascript:|\s(?:xlink:)?href\s*=\s*["'](?!#))/i;

/** Sanitised SVG bytes and what was removed from them. Refuses DTDs (entity expansion) outright. */
export async function sanitizeSvg(bytes: Buffer): Promise<{ svg: Buffer; removed: Removed[] }> {
  const text = decodeUtf8(bytes);
  if (text === undefined) throw unsupported('the SVG is not UTF-8 text');
  if (/<!ENTITY/i.test(text) || /<!DOCTYPE[^>]*\[/i.test(text)) {
    throw unsupported('SVG with a document type definition (entities) is not accepted');
  }
  sanitizer ??= loadSanitizer();
  const { svg, removed } = (await sanitizer).sanitize(text);
  if (FORBIDDEN_ELEMENT.test(svg) || FORBIDDEN_ATTRIBUTE.test(svg)) throw unsupported('the SVG could not be made safe');
  return { svg: Buffer.from(svg, 'utf8'), removed };
}

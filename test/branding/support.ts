import { crc32, deflateSync } from 'node:zlib';

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A real PNG (8-bit RGB, one colour), built byte by byte; `padding` adds a tEXt chunk to grow it. */
export function makePng(width = 4, height = 4, padding = 0): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, 0x7f)]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  const text = padding > 0 ? [chunk('tEXt', Buffer.concat([Buffer.from('Comment\u0000'), Buffer.alloc(padding, 0x61)]))] : [];
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    ...text,
    chunk('IDAT', pixels),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A multipart/form-data body with one file part, as a browser would send it. */
export function multipart(file: Buffer, options: { filename?: string; contentType?: string; field?: string } = {}) {
  const boundary = `----palazzo-test-${Math.random().toString(16).slice(2)}`;
  const disposition = `form-data; name="${options.field ?? 'file'}"${options.filename ? `; filename="${options.filename}"` : '; filename="upload"'}`;
  const head = `--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: ${options.contentType ?? 'application/octet-stream'}\r\n\r\n`;
  const payload = Buffer.concat([Buffer.from(head), file, Buffer.from(`\r\n--${boundary}--\r\n`)]);
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

export const SIMPLE_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#1F4E79"/></svg>';

/** Every trick the sanitiser must undo, in one logo. */
export const HOSTILE_SVG = `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10" onload="alert('svg')">
  <script type="text/javascript">alert('script')</script>
  <style>@import url(https://evil.example/x.css);</style>
  <a href="javascript:alert('link')"><rect width="5" height="5" onclick="alert('click')" onmouseover="alert(2)"/></a>
  <use xlink:href="https://evil.example/sprite.svg#icon"/>
  <image href="https://evil.example/track.png" width="1" height="1"/>
  <foreignObject width="10" height="10"><div xmlns="http://www.w3.org/1999/xhtml"><iframe src="https://evil.example"></iframe></div></foreignObject>
  <rect x="5" y="5" width="5" height="5" fill="url(https://evil.example/p.svg#g)" style="fill: url(https://evil.example/q)"/>
  <circle cx="2" cy="2" r="1" fill="url(#grad)"/>
  <linearGradient id="grad"><stop offset="0" stop-color="#FF0000"/></linearGradient>
  <text x="1" y="9">Acme &amp; Co</text>
</svg>`;

// Images for the upload tests, made here byte by byte (a PNG is zlib data
// in CRC-checked chunks), and the type and size of what the server stores,
// read from the PNG or JPEG header as a browser would before decoding.
import { deflateSync } from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A `width` × `height` PNG of a colour gradient: 8-bit RGB, or RGBA (half
 * transparent) with `alpha`, which the server keeps as PNG (else JPEG).
 */
export function png(width: number, height: number, alpha = false): Uint8Array<ArrayBuffer> {
  const channels = alpha ? 4 : 3;
  const rows = Buffer.alloc((width * channels + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * channels + 1); // each row opens with filter 0
    for (let x = 0; x < width; x++) {
      const at = row + 1 + x * channels;
      rows[at] = Math.round((255 * x) / width);
      rows[at + 1] = Math.round((255 * y) / height);
      rows[at + 2] = 160;
      if (alpha) rows[at + 3] = 128;
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bits per channel
  header[9] = alpha ? 6 : 2; // RGBA : RGB
  // A copy on an ArrayBuffer of its own, as File and Blob take.
  const bytes = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
  return new Uint8Array(bytes);
}

export interface Decoded {
  type: 'image/png' | 'image/jpeg';
  width: number;
  height: number;
}

/** The type and size a PNG's IHDR or a JPEG's SOFn names; throws for anything else. */
export function imageHeader(bytes: Uint8Array): Decoded {
  const b = Buffer.from(bytes);
  if (b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    if (b.toString('latin1', 12, 16) !== 'IHDR') throw new Error('a PNG without IHDR first');
    return { type: 'image/png', width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  }
  if (b[0] === 0xff && b[1] === 0xd8) {
    // Segments up to the frame header: FF, marker, 2-byte length, data.
    for (let at = 2; at + 9 < b.length; ) {
      if (b[at] !== 0xff) throw new Error(`a JPEG segment without a marker at ${at}`);
      const marker = b[at + 1]!;
      const length = b.readUInt16BE(at + 2);
      // SOF0…SOF15, except DHT (C4), JPG (C8) and DAC (CC).
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { type: 'image/jpeg', height: b.readUInt16BE(at + 5), width: b.readUInt16BE(at + 7) };
      }
      at += 2 + length;
    }
    throw new Error('a JPEG without a frame header');
  }
  throw new Error('neither PNG nor JPEG');
}

/** GETs a stored image: its Content-Type and nosniff, and its header. */
export async function fetchImage(url: string): Promise<Decoded & { contentType: string | null; nosniff: string | null }> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  const header = imageHeader(new Uint8Array(await response.arrayBuffer()));
  return {
    ...header,
    contentType: response.headers.get('content-type'),
    nosniff: response.headers.get('x-content-type-options'),
  };
}

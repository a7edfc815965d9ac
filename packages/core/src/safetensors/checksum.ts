// The data checksum of a safetensors file: a CRC-32 of its data section (every stored byte of every
// tensor), kept in the header's metadata as `checksum: "crc32:<8 hex digits>"`. The header does not
// cover itself: the file is serialised with a fixed-width placeholder, then its digits are
// overwritten in place. It catches corruption (a flipped bit, a bad disk, an edited value), not
// deliberate tampering. The key/value cache's entries and the bench's checkpoints use it.
import * as zlib from 'node:zlib';

/** The metadata key of the data checksum. */
export const DATA_CHECKSUM_KEY = 'checksum';

/** The value to serialise under {@link DATA_CHECKSUM_KEY} before {@link fillDataChecksum}. */
export const DATA_CHECKSUM_PLACEHOLDER = 'crc32:00000000';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * A CRC-32 (zlib's), continuing from `value` for data read in pieces: Node's native one where it
 * exists (Node >= 20.15), a table-driven one otherwise.
 */
export function crc32(bytes: Uint8Array, value = 0): number {
  const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
  if (native) return native(bytes, value) >>> 0;
  let c = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8); // a byte indexes the 256 entries
  return (c ^ 0xffffffff) >>> 0;
}

/** Formats a CRC-32 as the metadata value `crc32:<8 hex digits>`. */
export function formatCrc32(crc: number): string {
  return `crc32:${crc.toString(16).padStart(8, '0')}`;
}

/** The byte length of the header of serialised safetensors bytes. */
function headerLength(file: Uint8Array): number {
  return Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
}

/** The data checksum of serialised safetensors bytes, as `crc32:<8 hex digits>`. */
export function dataChecksum(file: Uint8Array): string {
  return formatCrc32(crc32(file.subarray(8 + headerLength(file))));
}

/**
 * Writes the data checksum over the placeholder of freshly serialised bytes whose metadata holds
 * `checksum: DATA_CHECKSUM_PLACEHOLDER`.
 * @throws when the placeholder is missing
 */
export function fillDataChecksum(file: Uint8Array): void {
  const n = headerLength(file);
  const header = new TextDecoder().decode(file.subarray(8, 8 + n));
  const at = header.indexOf(`"${DATA_CHECKSUM_KEY}":"${DATA_CHECKSUM_PLACEHOLDER}"`);
  if (at < 0) throw new Error('fillDataChecksum: the header has no checksum placeholder');
  // Byte offset of the value: the header before it is ASCII up to here only if the names are; count bytes.
  const before = new TextEncoder().encode(header.slice(0, at)).length + `"${DATA_CHECKSUM_KEY}":"`.length;
  file.set(new TextEncoder().encode(dataChecksum(file)), 8 + before);
}

/**
 * Redis Cluster key slots (CRC16/XMODEM of the key or of its {hash tag}, mod
 * 16384), so multi-key commands and scripts can be grouped per slot: a
 * Cluster refuses any command whose keys span slots.
 */
export const SLOT_COUNT = 16_384;

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[i] = crc & 0xffff;
  }
  return table;
})();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (CRC_TABLE[((crc >> 8) ^ byte) & 0xff] ?? 0);
  return crc;
}

export function keySlot(key: string): number {
  const bytes = Buffer.from(key);
  const open = bytes.indexOf(0x7b); // '{'
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // '}'
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % SLOT_COUNT;
  }
  return crc16(bytes) % SLOT_COUNT;
}

/** Keys bucketed by slot, each bucket in input order. */
export function groupBySlot(keys: readonly string[]): string[][] {
  const groups = new Map<number, string[]>();
  for (const key of keys) {
    const slot = keySlot(key);
    const group = groups.get(slot);
    if (group === undefined) groups.set(slot, [key]);
    else group.push(key);
  }
  return [...groups.values()];
}

/**
 * Keys bucketed by the master serving their slot, as `ownerOf` (the client's
 * slot map) says; keys of a slot whose owner is unknown get a bucket per slot.
 */
export function groupByOwner(
  keys: readonly string[],
  ownerOf: (slot: number) => string | undefined,
): string[][] {
  const groups = new Map<string, string[]>();
  for (const key of keys) {
    const slot = keySlot(key);
    const owner = ownerOf(slot) ?? `slot:${slot}`;
    const group = groups.get(owner);
    if (group === undefined) groups.set(owner, [key]);
    else group.push(key);
  }
  return [...groups.values()];
}

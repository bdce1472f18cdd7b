// RFC 6238 TOTP (SHA-1, 30 s, 6 digits), as the gateway checks it: the page scripts type
// the codes a person's authenticator would show.

import { createHmac } from 'node:crypto';

export function totp(hex, unixSecs) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSecs / 30)));
  const d = createHmac('sha1', Buffer.from(hex, 'hex')).update(counter).digest();
  const o = d[19] & 0x0f;
  const v = d.readUInt32BE(o) & 0x7fffffff;
  return String(v % 1000000).padStart(6, '0');
}

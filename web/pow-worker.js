// The proof of work a concert may ask before a place in line (GET /v1/queue/challenge): find a
// nonce such that SHA-256 of `challenge + ":" + nonce` starts with `difficulty` zero bits. Runs in
// a Web Worker so the page stays responsive; reports how many nonces it has tried every 16,384.
// SHA-256 by hand rather than crypto.subtle: subtle.digest is asynchronous per call, tens of times
// slower for millions of short messages. The challenge's full 64-byte blocks are hashed once (the
// midstate); each try then costs one or two compressions of the tail and the nonce.
"use strict";

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const W = new Int32Array(64);

// One SHA-256 compression of the 64 bytes at `offset` into `state`.
function compress(state, bytes, offset) {
  for (let i = 0; i < 16; i++) {
    const j = offset + i * 4;
    W[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = W[i - 15], b = W[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = state[0] | 0, b = state[1] | 0, c = state[2] | 0, d = state[3] | 0;
  let e = state[4] | 0, f = state[5] | 0, g = state[6] | 0, h = state[7] | 0;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  state[0] = (state[0] + a) | 0; state[1] = (state[1] + b) | 0; state[2] = (state[2] + c) | 0; state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0; state[5] = (state[5] + f) | 0; state[6] = (state[6] + g) | 0; state[7] = (state[7] + h) | 0;
}

function leadingZeroBits(state) {
  let bits = 0;
  for (let i = 0; i < 8; i++) {
    const word = state[i] >>> 0;
    bits += Math.clz32(word);
    if (word !== 0) break;
  }
  return bits;
}

self.onmessage = (event) => {
  const { challenge, difficulty } = event.data;
  const prefix = new TextEncoder().encode(challenge + ":");
  const whole = prefix.length - (prefix.length % 64);
  const midstate = new Int32Array(INITIAL);
  for (let offset = 0; offset < whole; offset += 64) compress(midstate, prefix, offset);
  const tail = prefix.subarray(whole);
  const block = new Uint8Array(128);
  block.set(tail);
  const state = new Int32Array(8);
  const started = performance.now();
  for (let nonce = 0; ; nonce++) {
    const digits = String(nonce);
    let length = tail.length;
    for (let i = 0; i < digits.length; i++) block[length++] = digits.charCodeAt(i);
    const blocks = length + 9 <= 64 ? 1 : 2;
    block.fill(0, length, blocks * 64);
    block[length] = 0x80;
    const bits = (whole + length) * 8;
    const end = blocks * 64;
    block[end - 4] = bits >>> 24; block[end - 3] = bits >>> 16; block[end - 2] = bits >>> 8; block[end - 1] = bits;
    state.set(midstate);
    compress(state, block, 0);
    if (blocks === 2) compress(state, block, 64);
    if (leadingZeroBits(state) >= difficulty) {
      self.postMessage({ nonce: digits, tried: nonce + 1, milliseconds: Math.round(performance.now() - started) });
      return;
    }
    if ((nonce & 0x3fff) === 0x3fff) self.postMessage({ tried: nonce + 1 });
  }
};

// A small GGUF v3 writer for vocabulary-only files, written independently of sobre's C++ writer so
// that the tokenizer tests also cross-check the C++ reader. Values: {type, value} with type one of
// u32, i32, f32, bool, str, arr_str, arr_f32, arr_i32 (reference/engine.md §1.1-1.2).
import { writeFileSync } from 'node:fs';

const T = { u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9 };

class Buf {
  constructor() { this.chunks = []; this.size = 0; }
  push(b) { this.chunks.push(b); this.size += b.length; }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.push(b); }
  i32(v) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  str(s) { const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
}

export function writeVocabGguf(path, kv) {
  const out = new Buf();
  out.push(Buffer.from('GGUF', 'latin1'));
  out.u32(3);
  out.u64(0);  // tensors
  const entries = Object.entries(kv).filter(([, v]) => v !== undefined);
  out.u64(entries.length);
  for (const [key, { type, value }] of entries) {
    out.str(key);
    switch (type) {
      case 'u32': out.u32(T.u32); out.u32(value); break;
      case 'i32': out.u32(T.i32); out.i32(value); break;
      case 'f32': out.u32(T.f32); out.f32(value); break;
      case 'bool': out.u32(T.bool); out.push(Buffer.from([value ? 1 : 0])); break;
      case 'str': out.u32(T.str); out.str(value); break;
      case 'arr_str': out.u32(T.arr); out.u32(T.str); out.u64(value.length); for (const s of value) out.str(s); break;
      case 'arr_f32': {
        out.u32(T.arr); out.u32(T.f32); out.u64(value.length);
        const b = Buffer.alloc(4 * value.length);
        value.forEach((v, i) => b.writeFloatLE(v, 4 * i));
        out.push(b);
        break;
      }
      case 'arr_i32': {
        out.u32(T.arr); out.u32(T.i32); out.u64(value.length);
        const b = Buffer.alloc(4 * value.length);
        value.forEach((v, i) => b.writeInt32LE(v, 4 * i));
        out.push(b);
        break;
      }
      default: throw new Error(`unknown GGUF value type ${type} for ${key}`);
    }
  }
  const pad = (32 - (out.size % 32)) % 32;  // the (empty) data section starts aligned
  out.push(Buffer.alloc(pad));
  writeFileSync(path, Buffer.concat(out.chunks));
}

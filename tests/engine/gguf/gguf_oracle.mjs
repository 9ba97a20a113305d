// Reads a GGUF file with the independent parser @huggingface/gguf and prints what it found as
// JSON (64-bit integers as decimal strings), for gguf_oracle_test.cc to compare with our reader.
// Usage: node gguf_oracle.mjs FILE.gguf
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../oracles/package.json"));
const { gguf } = require("@huggingface/gguf");

const file = process.argv[2];
const out = await gguf(path.resolve(file), { allowLocalFile: true, typedMetadata: true });

const plain = (v) => {
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return v.map(plain);
  return v;
};
const metadata = {};
for (const [key, entry] of Object.entries(out.typedMetadata)) {
  if (key === "version" || key === "tensor_count" || key === "kv_count") continue;
  metadata[key] = { type: entry.type, value: plain(entry.value) };
  if (entry.subType !== undefined) metadata[key].subType = entry.subType;
}
process.stdout.write(
  JSON.stringify({
    version: out.metadata.version,
    tensor_count: out.metadata.tensor_count.toString(),
    kv_count: out.metadata.kv_count.toString(),
    little_endian: out.littleEndian,
    tensor_data_offset: out.tensorDataOffset.toString(),
    metadata,
    tensors: out.tensorInfos.map((t) => ({
      name: t.name,
      n_dims: t.n_dims,
      shape: t.shape.map((d) => d.toString()),
      dtype: t.dtype,
      offset: t.offset.toString(),
    })),
  }) + "\n",
);

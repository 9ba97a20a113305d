#!/usr/bin/env python3
"""Independent reference forward pass for sobre's engine tests (python3 + numpy only).

Written separately from the C++ engine, following Hugging Face semantics rather than llama.cpp's:
llama files get their attn_q / attn_k rows un-permuted back to the HF layout (undoing
convert_hf_to_gguf's permutation) and then use rotate_half RoPE, exactly like HF LlamaAttention;
qwen2 uses its weights as stored with rotate_half; GQA uses repeat_kv; bert follows HF BertModel
(post-LN, exact erf GELU, token type 0, absolute positions) with mean/CLS pooling and L2
normalisation. Everything is computed in float64.

It has its own minimal GGUF parser (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K,
dequantised in numpy).

Usage:
  reference_forward.py MODEL.gguf --tokens "1 2 3" [--tokens "4 5"] [--rope-pairing hf|swapped]
                       [--no-normalize] [--act-quant]
Prints one JSON object: {"arch": ..., "results": [{"logits": [[...] per position]} or
{"embedding": [...]}, one per --tokens]}.

--act-quant emulates llama.cpp's quantised activations: before each product with a quantised
weight matrix the input rows are rounded the way the CPU kernels prepare them (Q8_0 blocks of 32
with an f16 scale for Q8_0/Q4_0/Q5_0 and Q4_1/Q5_1 weights, Q8_K blocks of 256 with an f32 scale
for K types; reference/engine.md section 2.3). Without it activations stay float64 (HF semantics).

--rope-pairing swapped deliberately applies the wrong pairing (rotate_half on llama weights left
in GGUF order, i.e. NEOX where llama needs NORM; and interleaved pairs for qwen2). Tests use it to
show that the comparison detects a RoPE pairing bug.
"""

import argparse
import json
import math
import mmap
import struct
import sys

import numpy as np

# ---------------------------------------------------------------------------------------------
# GGUF parsing


_SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                   10: "<Q", 11: "<q", 12: "<d"}

# ggml type id -> (name, block elements, block bytes)
_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 30: ("BF16", 1, 2),
    2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210),
}


class Gguf:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.pos = 0
        magic = self.buf[0:4]
        if magic != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        self.pos = 4
        self.version = self._scalar(4)
        if self.version not in (2, 3):
            raise ValueError(f"{path}: unsupported version {self.version}")
        n_tensors = self._scalar(10)
        n_kv = self._scalar(10)
        self.kv = {}
        for _ in range(n_kv):
            key = self._string()
            vtype = self._scalar(4)
            self.kv[key] = self._value(vtype)
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            n_dims = self._scalar(4)
            dims = [self._scalar(10) for _ in range(n_dims)]
            ttype = self._scalar(4)
            offset = self._scalar(10)
            infos.append((name, dims, ttype, offset))
        align = int(self.kv.get("general.alignment", 32))
        data_start = (self.pos + align - 1) // align * align
        self.tensors = {}
        for name, dims, ttype, offset in infos:
            self.tensors[name] = (dims, ttype, data_start + offset)

    def _scalar(self, vtype):
        fmt = _SCALAR_FORMATS[vtype]
        size = struct.calcsize(fmt)
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return v

    def _string(self):
        n = self._scalar(10)
        s = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8")
        self.pos += n
        return s

    def _value(self, vtype):
        if vtype == 8:
            return self._string()
        if vtype == 9:
            etype = self._scalar(4)
            count = self._scalar(10)
            return [self._value(etype) for _ in range(count)]
        return self._scalar(vtype)

    def has(self, name):
        return name in self.tensors

    def tensor(self, name):
        """Dequantised tensor as float64, numpy shape = reversed ggml dims (rows, row length)."""
        dims, ttype, start = self.tensors[name]
        if ttype not in _TYPES:
            raise ValueError(f"tensor {name}: type {ttype} not supported by the reference")
        _, block, block_bytes = _TYPES[ttype]
        n = int(np.prod(dims))
        nbytes = n // block * block_bytes
        raw = np.frombuffer(self.buf, dtype=np.uint8, count=nbytes, offset=start)
        flat = _dequantize(ttype, raw, n)
        return flat.reshape(list(reversed(dims)))


def _f16(raw_u8_pairs):
    return raw_u8_pairs.copy().view("<f2").astype(np.float64)


def _dequantize(ttype, raw, n):
    if ttype == 0:
        return raw.view("<f4").astype(np.float64)
    if ttype == 1:
        return raw.view("<f2").astype(np.float64)
    if ttype == 30:
        bits = raw.view("<u2").astype(np.uint32) << 16
        return bits.view(np.float32).astype(np.float64)
    name, block, block_bytes = _TYPES[ttype]
    b = raw.reshape(-1, block_bytes)
    if name == "Q8_0":
        d = _f16(b[:, 0:2])[:, 0]
        q = b[:, 2:34].copy().view(np.int8).astype(np.float64)
        return (d[:, None] * q).reshape(n)
    if name in ("Q4_0", "Q4_1", "Q5_0", "Q5_1"):
        d = _f16(b[:, 0:2])[:, 0]
        off = 2
        m = None
        if name.endswith("_1"):
            m = _f16(b[:, 2:4])[:, 0]
            off = 4
        high = None
        if name.startswith("Q5"):
            qh = b[:, off:off + 4].copy().view("<u4")[:, 0].astype(np.uint64)
            bits = (qh[:, None] >> np.arange(32, dtype=np.uint64)[None, :]) & 1
            high = bits.astype(np.int64) << 4
            off += 4
        qs = b[:, off:off + 16].astype(np.int64)
        q = np.concatenate([qs & 15, qs >> 4], axis=1)  # element j low nibble, j+16 high nibble
        if high is not None:
            q = q | high
        if name == "Q4_0":
            x = d[:, None] * (q - 8)
        elif name == "Q5_0":
            x = d[:, None] * (q - 16)
        else:
            x = d[:, None] * q + m[:, None]
        return x.reshape(n)
    if name in ("Q4_K", "Q5_K"):
        d = _f16(b[:, 0:2])[:, 0]
        dmin = _f16(b[:, 2:4])[:, 0]
        sc_raw = b[:, 4:16].astype(np.int64)
        sc = np.zeros((b.shape[0], 8), dtype=np.int64)
        mn = np.zeros((b.shape[0], 8), dtype=np.int64)
        for i in range(8):
            if i < 4:
                sc[:, i] = sc_raw[:, i] & 63
                mn[:, i] = sc_raw[:, i + 4] & 63
            else:
                sc[:, i] = (sc_raw[:, i + 4] & 15) | ((sc_raw[:, i - 4] >> 6) << 4)
                mn[:, i] = (sc_raw[:, i + 4] >> 4) | ((sc_raw[:, i] >> 6) << 4)
        if name == "Q4_K":
            qh = None
            qs = b[:, 16:144].astype(np.int64)
        else:
            qh = b[:, 16:48].astype(np.int64)
            qs = b[:, 48:176].astype(np.int64)
        out = np.zeros((b.shape[0], 256), dtype=np.float64)
        for c in range(4):
            chunk = qs[:, 32 * c:32 * c + 32]
            lo = chunk & 15
            hi = chunk >> 4
            if qh is not None:
                lo = lo | (((qh >> (2 * c)) & 1) << 4)
                hi = hi | (((qh >> (2 * c + 1)) & 1) << 4)
            for sub, q in ((2 * c, lo), (2 * c + 1, hi)):
                out[:, 32 * sub:32 * sub + 32] = (d[:, None] * sc[:, sub:sub + 1] * q
                                                  - dmin[:, None] * mn[:, sub:sub + 1])
        return out.reshape(n)
    if name == "Q6_K":
        ql = b[:, 0:128].astype(np.int64)
        qh = b[:, 128:192].astype(np.int64)
        scales = b[:, 192:208].copy().view(np.int8).astype(np.float64)
        d = _f16(b[:, 208:210])[:, 0]
        out = np.zeros((b.shape[0], 256), dtype=np.float64)
        for half in range(2):
            l_lo = ql[:, 64 * half:64 * half + 32]
            l_hi = ql[:, 64 * half + 32:64 * half + 64]
            h = qh[:, 32 * half:32 * half + 32]
            parts = [
                (l_lo & 15) | ((h & 3) << 4),
                (l_hi & 15) | (((h >> 2) & 3) << 4),
                (l_lo >> 4) | (((h >> 4) & 3) << 4),
                (l_hi >> 4) | (((h >> 6) & 3) << 4),
            ]
            q = np.concatenate(parts, axis=1) - 32  # 128 elements of this half
            sc = np.repeat(scales[:, 8 * half:8 * half + 8], 16, axis=1)
            out[:, 128 * half:128 * half + 128] = d[:, None] * sc * q
        return out.reshape(n)
    raise ValueError(f"type {name} not supported")


# ---------------------------------------------------------------------------------------------
# Hugging Face style building blocks


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def layer_norm(x, w, b, eps):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


def silu(x):
    return x / (1.0 + np.exp(-x))


_erf = np.vectorize(math.erf)


def gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rotate_interleaved(x):
    out = np.empty_like(x)
    out[..., 0::2] = -x[..., 1::2]
    out[..., 1::2] = x[..., 0::2]
    return out


def unpermute_rows(w, n_head):
    """Inverts convert_hf_to_gguf's llama permutation of q_proj / k_proj rows.

    The converter reshaped HF rows as [n_head, 2, head_dim/2] and swapped the inner axes, so the
    GGUF rows are [n_head, head_dim/2, 2]; swapping back restores the HF [n_head, 2, head_dim/2].
    """
    rows, cols = w.shape
    head_dim = rows // n_head
    return w.reshape(n_head, head_dim // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def get_kv(g, key, default=None):
    if key in g.kv:
        return g.kv[key]
    if default is None:
        raise KeyError(f"missing key {key}")
    return default


_Q8_0_ACT = {"Q8_0", "Q4_0", "Q5_0", "Q4_1", "Q5_1"}
_Q8_K_ACT = {"Q4_K", "Q5_K", "Q6_K"}


def quantize_activations(x, weight_type_name):
    """Rows of x rounded as the CPU kernels' activation format for this weight type."""
    if weight_type_name in _Q8_0_ACT:
        block = 32
    elif weight_type_name in _Q8_K_ACT:
        block = 256
    else:
        return x
    shape = x.shape
    xb = x.astype(np.float32).reshape(-1, block)
    amax = np.max(np.abs(xb), axis=1, keepdims=True)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d > 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = np.clip(np.round(xb * inv), -127, 127)
    if block == 32:
        d = d.astype(np.float16)  # Q8_0 stores its scale as f16
    return (d.astype(np.float64) * q).reshape(shape)


class Linear:
    """x @ W.T for the weight matrices of one file, optionally with quantised activations."""

    def __init__(self, g, act_quant):
        self.g = g
        self.act_quant = act_quant

    def __call__(self, x, name, w=None):
        if w is None:
            w = self.g.tensor(name)
        if self.act_quant:
            x = quantize_activations(x, _TYPES[self.g.tensors[name][1]][0])
        return x @ w.T


# ---------------------------------------------------------------------------------------------
# Decoder (llama / qwen2)


def decoder_forward(g, arch, tokens, rope_pairing, act_quant=False):
    mm = Linear(g, act_quant)
    n_embd = int(get_kv(g, f"{arch}.embedding_length"))
    n_layer = int(get_kv(g, f"{arch}.block_count"))
    n_head = int(get_kv(g, f"{arch}.attention.head_count"))
    n_head_kv = int(get_kv(g, f"{arch}.attention.head_count_kv", n_head))
    head_dim = int(get_kv(g, f"{arch}.attention.key_length", n_embd // n_head))
    eps = float(get_kv(g, f"{arch}.attention.layer_norm_rms_epsilon"))
    base = float(get_kv(g, f"{arch}.rope.freq_base", 10000.0))
    factor = 1.0
    if get_kv(g, f"{arch}.rope.scaling.type", "none") == "linear":
        factor = float(get_kv(g, f"{arch}.rope.scaling.factor", 1.0))
    if f"{arch}.rope.scale_linear" in g.kv:
        factor = float(g.kv[f"{arch}.rope.scale_linear"])
    n_rot = int(get_kv(g, f"{arch}.rope.dimension_count", head_dim))
    if n_rot != head_dim:
        raise ValueError("reference supports full-head rotary only")

    # HF: inv_freq = 1 / base^(2i/d); Llama-3 style frequency factors divide it; linear scaling
    # divides positions by the factor.
    inv_freq = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    if g.has("rope_freqs.weight"):
        inv_freq = inv_freq / g.tensor("rope_freqs.weight").reshape(-1)
    n = len(tokens)
    pos = np.arange(n, dtype=np.float64) / factor
    freqs = np.outer(pos, inv_freq)  # [n, head_dim/2]

    # HF semantics: llama rows are un-permuted back to the HF layout, then rotate_half for both
    # architectures. The "swapped" pairing is the bug an engine would have with the wrong RoPE:
    # for llama, rotate_half on rows left in GGUF order (NEOX instead of NORM); for qwen2,
    # interleaved pairs (NORM instead of NEOX).
    unpermute = (arch == "llama" and rope_pairing == "hf")
    if arch == "qwen2" and rope_pairing == "swapped":
        emb = np.repeat(freqs, 2, axis=-1)
        rot = rotate_interleaved
    else:
        emb = np.concatenate([freqs, freqs], axis=-1)
        rot = rotate_half
    cos = np.cos(emb)[:, None, :]
    sin = np.sin(emb)[:, None, :]

    embd = g.tensor("token_embd.weight")
    x = embd[np.array(tokens)]
    mask = np.triu(np.full((n, n), -np.inf), k=1)
    group = n_head // n_head_kv
    for il in range(n_layer):
        p = f"blk.{il}."
        h = rms_norm(x, g.tensor(p + "attn_norm.weight"), eps)
        wq = g.tensor(p + "attn_q.weight")
        wk = g.tensor(p + "attn_k.weight")
        if unpermute:
            wq = unpermute_rows(wq, n_head)
            wk = unpermute_rows(wk, n_head_kv)
        q = mm(h, p + "attn_q.weight", wq)
        k = mm(h, p + "attn_k.weight", wk)
        v = mm(h, p + "attn_v.weight")
        if arch == "qwen2":
            q = q + g.tensor(p + "attn_q.bias")
            k = k + g.tensor(p + "attn_k.bias")
            v = v + g.tensor(p + "attn_v.bias")
        q = q.reshape(n, n_head, head_dim)
        k = k.reshape(n, n_head_kv, head_dim)
        v = v.reshape(n, n_head_kv, head_dim)
        q = q * cos + rot(q) * sin
        k = k * cos + rot(k) * sin
        k = np.repeat(k, group, axis=1)  # repeat_kv: query head h uses kv head h // group
        v = np.repeat(v, group, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(head_dim) + mask[None]
        att = np.einsum("hqk,khd->qhd", softmax(scores), v).reshape(n, n_head * head_dim)
        x = x + mm(att, p + "attn_output.weight")
        h = rms_norm(x, g.tensor(p + "ffn_norm.weight"), eps)
        gate = mm(h, p + "ffn_gate.weight")
        up = mm(h, p + "ffn_up.weight")
        x = x + mm(silu(gate) * up, p + "ffn_down.weight")
    x = rms_norm(x, g.tensor("output_norm.weight"), eps)
    if g.has("output.weight"):
        return mm(x, "output.weight")
    return mm(x, "token_embd.weight", embd)


# ---------------------------------------------------------------------------------------------
# Encoder (bert)


def bert_forward(g, tokens, normalize, act_quant=False):
    mm = Linear(g, act_quant)
    n_embd = int(get_kv(g, "bert.embedding_length"))
    n_layer = int(get_kv(g, "bert.block_count"))
    n_head = int(get_kv(g, "bert.attention.head_count"))
    eps = float(get_kv(g, "bert.attention.layer_norm_epsilon"))
    n_ctx = int(get_kv(g, "bert.context_length"))
    pooling = int(get_kv(g, "bert.pooling_type", 1))
    head_dim = n_embd // n_head
    n = len(tokens)
    if n > n_ctx:
        raise ValueError(f"{n} tokens exceed the context of {n_ctx}")
    x = (g.tensor("token_embd.weight")[np.array(tokens)]
         + g.tensor("position_embd.weight")[:n]
         + g.tensor("token_types.weight")[0])
    x = layer_norm(x, g.tensor("token_embd_norm.weight"), g.tensor("token_embd_norm.bias"), eps)

    def linear(inp, name):
        return mm(inp, name + ".weight") + g.tensor(name + ".bias")

    for il in range(n_layer):
        p = f"blk.{il}."
        q = linear(x, p + "attn_q").reshape(n, n_head, head_dim)
        k = linear(x, p + "attn_k").reshape(n, n_head, head_dim)
        v = linear(x, p + "attn_v").reshape(n, n_head, head_dim)
        scores = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(head_dim)
        att = np.einsum("hqk,khd->qhd", softmax(scores), v).reshape(n, n_embd)
        x = layer_norm(x + linear(att, p + "attn_output"), g.tensor(p + "attn_output_norm.weight"),
                       g.tensor(p + "attn_output_norm.bias"), eps)
        ff = linear(gelu_erf(linear(x, p + "ffn_up")), p + "ffn_down")
        x = layer_norm(x + ff, g.tensor(p + "layer_output_norm.weight"),
                       g.tensor(p + "layer_output_norm.bias"), eps)
    if pooling == 2:
        e = x[0]
    elif pooling == 1:
        e = np.mean(x, axis=0)
    else:
        raise ValueError(f"pooling type {pooling} not supported by the reference")
    if normalize:
        e = e / max(np.linalg.norm(e), 1e-12)
    return e


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokens", action="append", required=True,
                    help="space-separated token ids; repeat for several prompts")
    ap.add_argument("--rope-pairing", choices=["hf", "swapped"], default="hf")
    ap.add_argument("--no-normalize", action="store_true")
    ap.add_argument("--act-quant", action="store_true")
    args = ap.parse_args()
    g = Gguf(args.model)
    arch = g.kv["general.architecture"]
    results = []
    for spec in args.tokens:
        tokens = [int(t) for t in spec.split()]
        if arch in ("llama", "qwen2"):
            logits = decoder_forward(g, arch, tokens, args.rope_pairing, args.act_quant)
            results.append({"logits": logits.tolist()})
        elif arch == "bert":
            results.append({"embedding": bert_forward(g, tokens, not args.no_normalize, args.act_quant).tolist()})
        else:
            raise ValueError(f"architecture {arch} not supported")
    json.dump({"arch": arch, "results": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

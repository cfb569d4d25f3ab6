// Runs the digits models (examples/digits/digits.onnx and digits_qdq.onnx)
// with ONNX Runtime on every held-out sample and writes ORT's outputs as .npy:
//
//   OUTDIR/digits_ort.npy      N x 10 float32, ORT on digits.onnx
//   OUTDIR/digits_qdq_ort.npy  N x 10 float32, ORT on digits_qdq.onnx
//
// and prints each model's held-out top-1 and its argmax agreement with torch.
// Run by hand, not in CI:
//
//   cd bench/ort && ONNXRUNTIME_NODE_INSTALL=skip npm install   # once
//   node bench/ort/digits_ort.mjs OUTDIR [--opt all|extended|basic|disabled]
//                                        [--examples DIR]
//
// --opt is ORT's graph optimization level (default all, ORT's own default:
// it fuses QDQ groups into integer kernels; `disabled` runs each
// QuantizeLinear / DequantizeLinear / float op as written). Each sample is
// run on its own with the models' fixed [1,1,8,8] input, one thread.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ort from "onnxruntime-node";

const here = path.dirname(fileURLToPath(import.meta.url));

function usage(msg) {
  if (msg) console.error(`digits_ort: ${msg}`);
  console.error(
    "usage: node digits_ort.mjs OUTDIR [--opt all|extended|basic|disabled] [--examples DIR]",
  );
  process.exit(2);
}

// --- a tiny .npy reader and writer (little-endian, C order) -----------------

const DTYPES = {
  "<f4": { array: Float32Array, size: 4 },
  "<i8": { array: BigInt64Array, size: 8 },
  "<i4": { array: Int32Array, size: 4 },
};

export function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString("latin1", 0, 6) !== "\x93NUMPY")
    throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  let hlen, start;
  if (major === 1) {
    hlen = buf.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    hlen = buf.readUInt32LE(8);
    start = 12;
  } else throw new Error(`${file}: unsupported .npy version ${major}`);
  const header = buf.toString("latin1", start, start + hlen);
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined)
    throw new Error(`${file}: bad header ${header}`);
  if (fortran !== "False") throw new Error(`${file}: Fortran order not supported`);
  const dt = DTYPES[descr];
  if (!dt) throw new Error(`${file}: dtype ${descr} not supported`);
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const off = start + hlen;
  if (buf.length !== off + count * dt.size)
    throw new Error(`${file}: size does not match shape (${shape})`);
  // Copy so the typed array is aligned.
  const bytes = new Uint8Array(buf.subarray(off, off + count * dt.size));
  return { descr, shape, data: new dt.array(bytes.buffer, 0, count) };
}

// Writes a float32 array as .npy version 1.0 ('<f4', C order), header padded
// with spaces to a multiple of 64 bytes and ending in '\n', as numpy does.
export function writeNpyF32(file, shape, data) {
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`writeNpyF32: ${data.length} values for shape (${shape})`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const pre = Buffer.alloc(10);
  pre.write("\x93NUMPY", 0, "latin1");
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(count * 4);
  for (let i = 0; i < count; i++) body.writeFloatLE(data[i], i * 4);
  const tmp = `${file}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat([pre, Buffer.from(header, "latin1"), body]));
  fs.renameSync(tmp, file);
}

function argmax(a, off, n) {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[off + j] > a[off + best]) best = j;
  return best;
}

// --- main --------------------------------------------------------------------

async function main() {
  const args = process.argv.slice(2);
  let outdir = null;
  let opt = "all";
  let examples = path.resolve(here, "../../examples/digits");
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--opt") opt = args[++i];
    else if (args[i] === "--examples") examples = args[++i];
    else if (args[i] === "-h" || args[i] === "--help") usage();
    else if (args[i].startsWith("-")) usage(`unknown option ${args[i]}`);
    else if (outdir === null) outdir = args[i];
    else usage(`unexpected argument ${args[i]}`);
  }
  if (!outdir) usage("missing OUTDIR");
  if (!["all", "extended", "basic", "disabled"].includes(opt)) usage(`bad --opt ${opt}`);
  fs.mkdirSync(outdir, { recursive: true });

  const x = readNpy(path.join(examples, "heldout_x.npy")); // N,8,8,1 f32
  const y = readNpy(path.join(examples, "heldout_y.npy")); // N i64
  const [n, h, w, c] = x.shape;
  if (x.shape.length !== 4 || c !== 1 || h !== 8 || w !== 8)
    throw new Error(`heldout_x.npy: expected N x 8 x 8 x 1, got (${x.shape})`);
  const labels = Array.from(y.data, Number);
  const per = h * w * c; // with C = 1, an NHWC sample is also its NCHW sample

  const models = [
    { file: "digits.onnx", out: "digits_ort.npy", torch: "heldout_torch.npy" },
    { file: "digits_qdq.onnx", out: "digits_qdq_ort.npy", torch: "heldout_torch_qdq.npy" },
  ];
  console.log(`onnxruntime-node ${ort.env.versions?.node ?? "?"}, graph optimization ${opt}, ${n} samples`);
  for (const m of models) {
    const session = await ort.InferenceSession.create(path.join(examples, m.file), {
      graphOptimizationLevel: opt,
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: "sequential",
    });
    const inName = session.inputNames[0];
    const outName = session.outputNames[0];
    const out = new Float32Array(n * 10);
    for (let i = 0; i < n; i++) {
      const sample = x.data.slice(i * per, (i + 1) * per);
      const feeds = { [inName]: new ort.Tensor("float32", sample, [1, c, h, w]) };
      const res = await session.run(feeds);
      const probs = res[outName].data;
      if (probs.length !== 10) throw new Error(`${m.file}: output has ${probs.length} values, expected 10`);
      out.set(probs, i * 10);
    }
    await session.release?.();
    writeNpyF32(path.join(outdir, m.out), [n, 10], out);

    let correct = 0;
    for (let i = 0; i < n; i++) if (argmax(out, i * 10, 10) === labels[i]) correct++;
    let line = `${m.file}: top-1 ${correct}/${n} (${((100 * correct) / n).toFixed(2)}%)`;
    const tp = path.join(examples, m.torch);
    if (fs.existsSync(tp)) {
      const t = readNpy(tp).data;
      let agree = 0;
      let maxdiff = 0;
      for (let i = 0; i < n; i++) {
        if (argmax(out, i * 10, 10) === argmax(t, i * 10, 10)) agree++;
        for (let j = 0; j < 10; j++) maxdiff = Math.max(maxdiff, Math.abs(out[i * 10 + j] - t[i * 10 + j]));
      }
      line += `; argmax agrees with torch (${m.torch}) on ${agree}/${n} (${((100 * agree) / n).toFixed(2)}%), max |diff| ${maxdiff.toExponential(2)}`;
    }
    console.log(line);
    console.log(`  wrote ${path.join(outdir, m.out)}`);
  }
}

main().catch((e) => {
  console.error(`digits_ort: ${e.message ?? e}`);
  process.exit(1);
});

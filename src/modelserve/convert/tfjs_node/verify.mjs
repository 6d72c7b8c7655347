// Runs a TF.js graph model in Node.js with the pure-JS @tensorflow/tfjs and its WebAssembly backend, for
// `modelserve convert --to tfjs` (src/modelserve/convert/tfjs_node.py writes the job and reads the answer).
//
//   node verify.mjs JOB_DIR
//
// JOB_DIR/job.json: {"model": "/abs/model.json", "node_modules": "/abs/node_modules", "backend": "wasm",
//   "calls": [{NAME: {"dtype": "float32", "shape": [64, 8, 8, 1], "file": "call0_NAME.bin"}}, ...],
//   "latency": {NAME: {...}} (one example), "runs": 30, "warmup": 2}
// Input files hold the values in C order, little-endian, as the dtype says (float32, int32, bool as uint8).
// Writes JOB_DIR/result.json: {"tfjs": "4.22.0", "backend": "wasm", "node": "v20...", "load_ms": ...,
//   "calls": [{OUTPUT: {"dtype", "shape", "file"} or {"dtype": "string", "shape", "strings": [...]}}],
//   "latency_ms": [...]} with each numeric output in JOB_DIR/out<call>_<index>.bin.
// Exit status 0 on success; 1 with one line on stderr (the model does not load, an op is missing, ...).
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";

const ARRAYS = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

function die(message) {
  process.stderr.write(String(message).split("\n")[0] + "\n");
  process.exit(1);
}

function tensorOf(tf, spec, folder) {
  const kind = ARRAYS[spec.dtype];
  if (!kind) die(`unsupported input dtype ${spec.dtype}`);
  const bytes = readFileSync(join(folder, spec.file));
  const values = new kind(bytes.buffer, bytes.byteOffset, bytes.byteLength / kind.BYTES_PER_ELEMENT);
  return tf.tensor(values.slice(), spec.shape, spec.dtype);
}

function feedOf(tf, call, folder) {
  const feed = {};
  for (const [name, spec] of Object.entries(call)) feed[name] = tensorOf(tf, spec, folder);
  return feed;
}

// The outputs to ask for, by signature key (sorted) and graph tensor name. Asked for by name, never by
// position: the order of a signature's outputs in model.json follows a protobuf map (no fixed order), and
// the converter's structuredOutputKeys are sorted, so positions alone can pair a key with another tensor.
function outputsOf(model) {
  const outputs = model.modelSignature && model.modelSignature.outputs;
  if (!outputs || Object.keys(outputs).length === 0) {
    return { keys: model.outputNodes, tensors: model.outputNodes };
  }
  const keys = Object.keys(outputs).sort();
  return { keys, tensors: keys.map((key) => outputs[key].name) };
}

// execute() when the graph allows it; executeAsync() for control flow and dynamic shapes (decided once).
let asyncOnly = false;
async function run(model, feed) {
  const { keys, tensors } = outputsOf(model);
  let result = null;
  if (!asyncOnly) {
    try {
      result = model.execute(feed, tensors);
    } catch (error) {
      if (!/executeAsync/.test(String(error && error.message))) throw error;
      asyncOnly = true;
    }
  }
  if (result === null) result = await model.executeAsync(feed, tensors);
  const list = result instanceof Array ? result : [result];
  return Object.fromEntries(list.map((t, i) => [keys[i], t]));
}

async function main() {
  const folder = process.argv[2];
  if (!folder) die("usage: node verify.mjs JOB_DIR");
  const job = JSON.parse(readFileSync(join(folder, "job.json"), "utf8"));
  const require = createRequire(join(job.node_modules, "modelserve.cjs"));
  const tf = require("@tensorflow/tfjs");
  if ((job.backend || "wasm") === "wasm") require("@tensorflow/tfjs-backend-wasm");
  if (!(await tf.setBackend(job.backend || "wasm"))) die(`the TF.js ${job.backend} backend does not start`);
  await tf.ready();
  const modelJSON = JSON.parse(readFileSync(job.model, "utf8"));
  const base = dirname(job.model);
  const started = performance.now();
  const handler = {
    load: async () =>
      tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const specs = [];
        const buffers = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const path of group.paths) {
            const data = readFileSync(join(base, path));
            buffers.push(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
          }
        }
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      }),
  };
  const model = await tf.loadGraphModel(handler);
  const loadMs = performance.now() - started;
  const calls = [];
  for (const [index, call] of job.calls.entries()) {
    const feed = feedOf(tf, call, folder);
    const outputs = await run(model, feed);
    const written = {};
    for (const [position, [name, tensor]] of Object.entries(outputs).entries()) {
      const values = await tensor.data();
      if (tensor.dtype === "string") {
        written[name] = { dtype: "string", shape: tensor.shape,
          strings: values.map((v) => (typeof v === "string" ? v : Buffer.from(v).toString("utf8"))) };
      } else {
        const file = `out${index}_${position}.bin`;
        writeFileSync(join(folder, file), Buffer.from(values.buffer, values.byteOffset, values.byteLength));
        written[name] = { dtype: tensor.dtype, shape: tensor.shape, file };
      }
    }
    calls.push(written);
    tf.dispose([...Object.values(feed), ...Object.values(outputs)]);
  }
  const latency = [];
  if (job.latency) {
    const feed = feedOf(tf, job.latency, folder);
    for (let i = 0; i < (job.warmup ?? 2) + (job.runs ?? 30); i++) {
      const start = performance.now();
      const outputs = await run(model, feed);
      await Promise.all(Object.values(outputs).map((t) => t.data()));
      if (i >= (job.warmup ?? 2)) latency.push(performance.now() - start);
      tf.dispose(Object.values(outputs));
    }
    tf.dispose(Object.values(feed));
  }
  const result = { tfjs: tf.version.tfjs, backend: tf.getBackend(), node: process.version, load_ms: loadMs,
    calls, latency_ms: latency };
  writeFileSync(join(folder, "result.json"), JSON.stringify(result));
}

main().catch((error) => die(error && error.message ? error.message : error));

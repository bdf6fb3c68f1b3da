// The BullMQ peer of RelayMQ's Redis benchmark (io.relaymq.bench.RedisRunner, -Donly=redis).
//
// BullMQ's standard Queue and Worker in one Node process, on the Redis server given:
//   node bullmq-bench.mjs --port 6379 --jobs 100000 --warmup 20000 --concurrency 8 --chunk 500 --inflight 4
// The worker runs a no-op processor at the given concurrency; completed jobs are removed
// (removeOnComplete: true), as a production user keeps Redis memory bounded. The producer adds jobs
// with Queue.addBulk in chunks of --chunk, at most --inflight chunks in flight: the way a competent user
// enqueues many jobs (one MULTI per chunk instead of one round trip per job). Each job's data holds
// its creation time (performance.now(), same process); the processor records the latency to its start.
// A job counts when the worker's 'completed' event fires, which BullMQ emits after moveToFinished (the
// acknowledgement) returned. A warm-up batch runs first. Prints "MEASURE-START" when the measured batch
// starts and "MEASURE-END" when it ended; then a paced batch measures latency without a backlog
// (--latencyJobs jobs, one Queue.add each at --latencyRate per second); then one line "RESULT-JSON {...}".
import { Queue, Worker } from 'bullmq';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) => {
  if (a.startsWith('--')) pairs.push([a.slice(2), all[i + 1]]);
  return pairs;
}, []));
const port = Number(args.port ?? 6379);
const jobs = Number(args.jobs ?? 100000);
const warmup = Number(args.warmup ?? 20000);
const concurrency = Number(args.concurrency ?? 8);
const chunk = Number(args.chunk ?? 500);
const inflight = Number(args.inflight ?? 4);
const latencyJobs = Number(args.latencyJobs ?? 1000);
const latencyRate = Number(args.latencyRate ?? 200);

const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
const queue = new Queue('jobs', {
  connection,
  defaultJobOptions: { removeOnComplete: true, removeOnFail: 1000 },
});

let batch = null; // { n, latencies: Float64Array, handled, completed, resolve }
const worker = new Worker('jobs', async (job) => {
  const b = batch;
  if (b.handled < b.n) b.latencies[b.handled] = performance.now() - job.data.t;
  if (++b.handled === b.n) b.handledAt = performance.now();
}, { connection, concurrency });
worker.on('completed', () => {
  const b = batch;
  if (++b.completed === b.n) b.resolve(performance.now());
});
worker.on('failed', (job, err) => { console.error('job failed', err); process.exit(2); });
worker.on('error', (err) => { console.error('worker error', err); });

function arm(n) {
  return new Promise((resolve) => {
    batch = { n, latencies: new Float64Array(n), handled: 0, completed: 0, resolve };
  });
}

function percentiles(prefix) {
  const sorted = Array.from(batch.latencies).sort((a, b) => a - b);
  const at = (p) => sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1))] * 1000;
  const key = (k) => prefix ? prefix + k[0].toUpperCase() + k.slice(1) : k;
  return { [key('p50us')]: at(50), [key('p99us')]: at(99), [key('p999us')]: at(99.9), [key('maxus')]: sorted[sorted.length - 1] * 1000 };
}

async function paced(n, rate) {
  const done = arm(n);
  const start = performance.now();
  const adds = [];
  for (let i = 0; i < n; i++) {
    const due = start + i * 1000 / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    adds.push(queue.add('job', { t: performance.now() }));
  }
  await Promise.all(adds);
  await done;
  return percentiles('paced');
}

async function run(n) {
  const done = arm(n);
  const start = performance.now();
  let next = 0;
  async function producer() {
    while (next < n) {
      const size = Math.min(chunk, n - next);
      next += size;
      const list = new Array(size);
      for (let i = 0; i < size; i++) list[i] = { name: 'job', data: { t: performance.now() } };
      await queue.addBulk(list);
    }
  }
  const producers = [];
  for (let p = 0; p < inflight; p++) producers.push(producer());
  await Promise.all(producers);
  const published = performance.now();
  const end = await done;
  return {
    jobsPerSec: n / ((end - start) / 1000), seconds: (end - start) / 1000, publishedSec: (published - start) / 1000,
    handledSec: (batch.handledAt - start) / 1000,
    ...percentiles(''),
  };
}

await worker.waitUntilReady();
await queue.waitUntilReady();
if (warmup > 0) await run(warmup);
console.log('MEASURE-START');
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
const result = await run(jobs);
const cpu = process.cpuUsage(cpu0);
result.nodeCpus = (cpu.user + cpu.system) / 1000 / (performance.now() - wall0);
console.log('MEASURE-END');
if (latencyJobs > 0) Object.assign(result, await paced(latencyJobs, latencyRate));
result.bullmq = JSON.parse(readFileSync(new URL('./node_modules/bullmq/package.json', import.meta.url))).version;
result.node = process.version;
console.log('RESULT-JSON ' + JSON.stringify(result));
await worker.close();
await queue.close();
process.exit(0);

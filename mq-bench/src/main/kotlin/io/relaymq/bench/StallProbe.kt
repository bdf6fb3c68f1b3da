package io.relaymq.bench

/**
 * Diagnostic, not a benchmark: runs many batches through one workload and reports the slowest batch,
 * to catch stalls (a lost wake-up shows as a batch that takes orders of magnitude longer than the rest).
 * `java -cp mq-bench/target/benchmarks.jar io.relaymq.bench.StallProbeKt [relaymq|channel] [batches]`
 */
fun main(args: Array<String>) {
    val impl = args.getOrElse(0) { "relaymq" }
    val batches = args.getOrElse(1) { "300" }.toInt()
    val workload: Workload = if (impl == "channel") ChannelWorkload(1, 1) else RelayWorkload(1, 1)
    val times = LongArray(batches)
    for (i in 0 until batches) {
        val start = System.nanoTime()
        workload.run(100_000)
        times[i] = System.nanoTime() - start
    }
    workload.close()
    times.sort()
    println("$impl: batches=$batches median=${times[batches / 2] / 1_000}us p99=${times[batches * 99 / 100] / 1_000}us max=${times.last() / 1_000}us")
}

package io.relaymq

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.yield
import org.jetbrains.kotlinx.lincheck.annotations.Operation
import org.jetbrains.kotlinx.lincheck.annotations.Param
import org.jetbrains.kotlinx.lincheck.annotations.Validate
import org.jetbrains.kotlinx.lincheck.check
import org.jetbrains.kotlinx.lincheck.paramgen.IntGen
import org.jetbrains.kotlinx.lincheck.paramgen.ThreadIdGen
import org.jetbrains.kotlinx.lincheck.strategy.stress.StressOptions
import org.junit.jupiter.api.Test
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicLongArray
import kotlin.time.Duration.Companion.seconds

/*
 * Stress test (real threads, real Dispatchers.Default; not model checking) of the public Kotlin API: several
 * threads publish, pause, resume, resize and shut down one bus at once. A new bus per invocation, shut
 * down by the validation function.
 *
 * Two queues: "ordered" (concurrency 1, never resized: its handler must see each producer's messages in
 * publish order) and "wide" (resized between 1 and 3 while running).
 *
 * Checked:
 * - ordered: per producer, the handler sees strictly increasing sequence numbers;
 * - no publish succeeds once shutdown() has returned; a publish that returned an id counts as published;
 * - after shutdown, per queue: published = succeeded + failed + dropped + withdrawn + abandoned + saved,
 *   nothing pending or in flight, and the handler ran exactly `succeeded` times.
 * - shutdown drains within the drain timeout (handlers are quick, and close resumes paused queues).
 * Every operation is bounded: publishing to an unbounded queue never waits, shutdown waits at most the
 * drain timeout.
 *
 * FAILS on the current code: a pause() that lands after shutdown() has begun (after close's own resume)
 * leaves the consumers parked in `paused.first { !it }`; the drain then waits for the whole drain timeout,
 * reports timedOut and abandons whatever was pending. Minimal scenario: shutdown() || pause("wide").
 */

private val QUEUES = listOf("ordered", "wide")

/** A payload that says who published it: producer (Lincheck thread) and its sequence number. */
private fun payload(producer: Int, seq: Long) = "$producer:$seq"

@Param.Params(
    Param(name = "producer", gen = ThreadIdGen::class),
    Param(name = "queue", gen = IntGen::class, conf = "0:1"),
    Param(name = "concurrency", gen = IntGen::class, conf = "1:3"),
)
class MQLincheckTest {
    private val mq = stressMq(drainTimeout = 5.seconds)
    private val nextSeq = AtomicLongArray(8)
    private val lastOrderedSeq = AtomicLongArray(8)
    private val handled = AtomicLongArray(QUEUES.size)
    private val accepted = AtomicLongArray(QUEUES.size)
    private val violations = ConcurrentLinkedQueue<String>()

    @Volatile private var shutdownReturned = false

    init {
        mq.registerQueue<String>("ordered", concurrency = 1) { message ->
            val (producer, seq) = message.data.split(':').map { it.toLong() }
            val last = lastOrderedSeq.getAndSet(producer.toInt(), seq)
            if (seq <= last) violations += "ordered: producer $producer's message $seq handled after its message $last"
            handled.incrementAndGet(0)
        }
        mq.registerQueue<String>("wide", concurrency = 2) {
            yield()
            handled.incrementAndGet(1)
        }
        mq.start()
    }

    /** Returns the id, or "closed" when the bus refused the message. */
    @Operation
    fun publish(@Param(name = "producer") producer: Int, @Param(name = "queue") queue: Int): Any {
        val closedBefore = shutdownReturned
        val data = payload(producer, nextSeq.incrementAndGet(producer))
        return try {
            val id = runBlocking { mq.publish(QUEUES[queue], data) }
            accepted.incrementAndGet(queue)
            ensure(!closedBefore) { "publish of $data succeeded after shutdown returned" }
            id
        } catch (e: BusClosedException) {
            "closed"
        }
    }

    @Operation
    fun pause(@Param(name = "queue") queue: Int) = mq.pause(QUEUES[queue])

    @Operation
    fun resume(@Param(name = "queue") queue: Int) = mq.resume(QUEUES[queue])

    @Operation
    fun setConcurrency(@Param(name = "concurrency") concurrency: Int) = mq.setConcurrency("wide", concurrency)

    @Operation(runOnce = true)
    fun shutdown(): Long {
        val summary = runBlocking { mq.shutdown() }
        shutdownReturned = true
        ensure(!summary.timedOut) { "shutdown timed out: $summary; ${QUEUES.map { mq.stats(it) }}" }
        return summary.abandoned
    }

    @Validate
    fun everyMessageEndsOnce() {
        runBlocking { mq.shutdown() } // idempotent
        ensure(violations.isEmpty()) { violations.joinToString("; ") }
        for ((index, queue) in QUEUES.withIndex()) {
            val s = mq.stats(queue)
            val ended = s.succeeded + s.failed + s.dropped + s.withdrawn + s.abandoned + s.saved
            ensure(s.published == accepted.get(index)) { "$queue: ${accepted.get(index)} publishes returned an id, stats say $s" }
            ensure(s.published == ended && s.pending == 0L && s.inFlight == 0L) { "$queue: counters do not add up after shutdown: $s" }
            ensure(handled.get(index) == s.succeeded) { "$queue: handler ran ${handled.get(index)} times, stats say $s" }
        }
    }

    @Test
    fun stressTest() = StressOptions()
        .iterations(scaled(10))
        .invocationsPerIteration(100)
        .threads(3)
        .actorsPerThread(3)
        .actorsBefore(1)
        .actorsAfter(1)
        .verifier(NoExceptionVerifier::class.java)
        .check(this::class)
}

package io.relaymq

import io.relaymq.internal.BusSettings
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import java.io.FileDescriptor
import java.io.FileOutputStream
import java.nio.file.Path
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.concurrent.thread
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * The child JVM of [DurableCrashSpec]: a bus with tiny journal segments (roll-over and deletion of
 * finished segments all the time), one durable queue with consumers running, and [PUBLISHERS] threads
 * publishing unique payloads as fast as the journal acknowledges them, until the parent kills it.
 *
 * Arguments: the journal directory; the generation (a number unique within the test run, part of every
 * payload, so that payloads never repeat across children sharing a journal); and how many milliseconds
 * each handler call waits (0: consumers keep up, the backlog stays within a segment or two; a few:
 * publishers outrun consumers, the backlog spans many segments and completions land far from the
 * segments their messages live in); and the fsync policy ([policy]: under every one, the README
 * promises that a kill loses nothing acknowledged, only a power loss may).
 *
 * Everything it reports goes to stdout, one line per event, each written whole by one `write` call
 * under one lock (so lines never interleave, and a kill can tear at most the last one):
 * - `starting` first thing in `main`, before the bus is made (start-up kills aim after it);
 * - `registered` once the durable queue's registration returned (the journal recovered);
 * - `ready` once the first publish came back (publishing has begun);
 * - `acked <id> <payload>` after a publish returned its id (the message is on disk);
 * - `handled <id> <payload> <attempt>` in the handler, before it returns normally;
 * - `failed <id> <payload> <attempt>` in the handler, before it throws on purpose (see [failsFirst]);
 * - `error <publisher> <payload> <exception>` when a publish threw (the publisher stops; a bug).
 */
object DurableCrashChild {
    const val QUEUE: String = "orders"
    const val PUBLISHERS: Int = 8
    const val CONSUMERS: Int = 4
    const val SEGMENT_BYTES: Int = 8 * 1024

    /** Payload [seq] (from 1) of publisher [publisher] in child [generation]. */
    fun payload(generation: Int, publisher: Int, seq: Int): String = "g${generation}t$publisher-$seq"

    /** The parts of a payload written by [payload]; `null` when it has not that shape. */
    fun parse(payload: String): Triple<Int, Int, Int>? =
        PAYLOAD.matchEntire(payload)?.destructured?.let { (g, t, s) ->
            runCatching { Triple(g.toInt(), t.toInt(), s.toInt()) }.getOrNull()
        }

    private val PAYLOAD = Regex("g(\\d{1,9})t(\\d{1,2})-(\\d{1,9})")

    /** The ordering key of a payload (a quarter of them have one, shared across publishers), or `null`. */
    fun keyOf(publisher: Int, seq: Int): String? = if (seq % 4 == 1) "k${(publisher + seq) % 6}" else null

    /** Every tenth payload is published with a short delay (its due time goes to the journal too). */
    fun delayOf(seq: Int): Duration = if (seq % 10 == 3) 20.milliseconds else Duration.ZERO

    /** The handler throws on the first attempt at payloads ending in 7; the retry succeeds. */
    fun failsFirst(payload: String): Boolean = payload.endsWith('7')

    /** Short backoffs: a retry is due within a few milliseconds, so retries are pending at most kills. */
    val RETRY: RetryPolicy = RetryPolicy(maxAttempts = 3, initialBackoff = 5.milliseconds, maxBackoff = 50.milliseconds, jitter = 0.5)

    fun options(): QueueOptions = QueueOptions(concurrency = CONSUMERS, durable = true, retry = RETRY)

    internal fun settings(journal: Path): BusSettings =
        BusSettings(journalDirectory = journal, journalSegmentBytes = SEGMENT_BYTES, drainTimeout = 10.seconds)

    /** The fsync policies a child may run with, by the name the parent passes. */
    val POLICIES: List<String> = listOf("perGroupCommit", "interval", "none")

    fun policy(name: String): FsyncPolicy = when (name) {
        "perGroupCommit" -> FsyncPolicy.perGroupCommit()
        "interval" -> FsyncPolicy.interval(java.time.Duration.ofMillis(10))
        "none" -> FsyncPolicy.none()
        else -> throw IllegalArgumentException("unknown fsync policy $name")
    }

    private val stdout = FileOutputStream(FileDescriptor.out)

    /** Writes [line] and its newline with one `write` call, under one lock: lines never interleave. */
    fun out(line: String) {
        val bytes = (line + "\n").toByteArray(Charsets.UTF_8)
        synchronized(stdout) { stdout.write(bytes) }
    }

    @JvmStatic
    fun main(args: Array<String>) {
        out("starting")
        val journal = Path.of(args[0])
        val generation = args[1].toInt()
        val handlerDelayMs = args[2].toLong()
        val mq = MQ(settings(journal).copy(fsyncPolicy = policy(args[3])))
        mq.registerQueue<String>(QUEUE, options()) { msg ->
            if (handlerDelayMs > 0) delay(handlerDelayMs)
            if (failsFirst(msg.data) && msg.attempt == 1) {
                out("failed ${msg.id} ${msg.data} ${msg.attempt}")
                throw IllegalStateException("first attempt fails on purpose")
            }
            out("handled ${msg.id} ${msg.data} ${msg.attempt}")
        }
        out("registered")
        mq.start()
        val ready = AtomicBoolean(false)
        val publishers = List(PUBLISHERS) { publisher ->
            thread(name = "publisher-$publisher") {
                runBlocking {
                    var seq = 0
                    while (true) {
                        seq++
                        val payload = payload(generation, publisher, seq)
                        val key = keyOf(publisher, seq)
                        val delay = delayOf(seq)
                        val id = try {
                            if (key == null && delay == Duration.ZERO) {
                                mq.publish(QUEUE, payload)
                            } else {
                                mq.publish(QUEUE, payload, PublishOptions(key = key, delay = delay))
                            }
                        } catch (e: Throwable) {
                            out("error $publisher $payload ${e.toString().replace('\n', ' ')}")
                            e.printStackTrace()
                            break
                        }
                        out("acked $id $payload")
                        if (!ready.get() && ready.compareAndSet(false, true)) out("ready")
                    }
                }
            }
        }
        publishers.forEach { it.join() } // until killed (or every publisher failed)
    }
}

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
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicLongArray
import kotlin.time.Duration.Companion.milliseconds

/*
 * Stress test (real threads) of the close with a snapshot directory, in both shutdown modes, against
 * publishers, pause, resume and resize: the operations of MQLincheckTest, with a deadline short enough
 * to strike in DRAIN_THEN_SNAPSHOT. The validation restores the snapshot into a second bus and checks, by
 * id, that every message whose publish returned an id ended exactly once: handled in the first run,
 * abandoned (listed in the summary), or saved and then handled after the restore (a message in a handler
 * at the deadline may also have been handled in the first run: at-least-once, never more than the
 * queue's concurrency); and that the counters add up in both runs.
 */
@Param.Params(
    Param(name = "producer", gen = ThreadIdGen::class),
    Param(name = "queue", gen = IntGen::class, conf = "0:1"),
    Param(name = "concurrency", gen = IntGen::class, conf = "1:3"),
)
abstract class PersistentMQLincheck(private val mode: ShutdownMode) {
    private val dir = TestDirs.create("relaymq-lincheck")
    private val mq = stressMq(drainTimeout = 50.milliseconds, snapshotDirectory = dir, shutdownMode = mode)
    private val nextSeq = AtomicLongArray(8)
    private val accepted = List(QUEUES.size) { ConcurrentHashMap.newKeySet<Long>() }
    private val handledFirst = List(QUEUES.size) { ConcurrentHashMap.newKeySet<Long>() }

    init {
        mq.registerQueue<String>(QUEUES[0], concurrency = 1) { handledFirst[0] += it.id }
        mq.registerQueue<String>(QUEUES[1], concurrency = 2) {
            yield()
            handledFirst[1] += it.id
        }
        mq.start()
    }

    @Operation
    fun publish(@Param(name = "producer") producer: Int, @Param(name = "queue") queue: Int): Any = try {
        val id = runBlocking { mq.publish(QUEUES[queue], "$producer:${nextSeq.incrementAndGet(producer)}") }
        accepted[queue] += id
        id
    } catch (e: BusClosedException) {
        "closed"
    }

    @Operation
    fun pause(@Param(name = "queue") queue: Int) = mq.pause(QUEUES[queue])

    @Operation
    fun resume(@Param(name = "queue") queue: Int) = mq.resume(QUEUES[queue])

    @Operation
    fun setConcurrency(@Param(name = "concurrency") concurrency: Int) = mq.setConcurrency(QUEUES[1], concurrency)

    @Operation(runOnce = true)
    fun shutdown(): Long = runBlocking { mq.shutdown() }.saved

    @Validate
    fun everyAcceptedMessageEndsOnce() {
        try {
            val summary = runBlocking { mq.shutdown() } // idempotent
            for ((index, queue) in QUEUES.withIndex()) {
                val s = mq.stats(queue)
                ensure(s.published == accepted[index].size.toLong()) { "$queue: ${accepted[index].size} publishes returned an id, stats say $s" }
                ensure(s.published == s.succeeded + s.failed + s.dropped + s.withdrawn + s.abandoned + s.saved && s.pending == 0L && s.inFlight == 0L) {
                    "$queue: counters do not add up after shutdown: $s"
                }
            }
            val second = MQ(dispatcher = Dispatchers.Default, snapshotDirectory = dir)
            val handledSecond = List(QUEUES.size) { ConcurrentHashMap.newKeySet<Long>() }
            for ((index, queue) in QUEUES.withIndex()) second.registerQueue<String>(queue, concurrency = 1) { handledSecond[index] += it.id }
            second.start()
            runBlocking {
                second.awaitIdle()
                second.shutdown()
            }
            for ((index, queue) in QUEUES.withIndex()) {
                val abandoned = summary.queues.getValue(queue).abandonedIds.toSet()
                val saved = summary.queues.getValue(queue).saved
                ensure(handledSecond[index].size.toLong() == saved) { "$queue: saved $saved, restored and handled ${handledSecond[index].size}" }
                val twice = handledFirst[index].intersect(handledSecond[index])
                ensure(twice.size <= index + 1) { "$queue: ${twice.size} messages handled in both runs: $twice" }
                for (id in accepted[index]) {
                    val endings = listOf(id in handledFirst[index], id in handledSecond[index], id in abandoned).count { it }
                    ensure(endings == 1 || (endings == 2 && id in twice)) { "$queue: message $id ended $endings times ($mode)" }
                }
                val phantoms = (handledFirst[index] + handledSecond[index] + abandoned) - accepted[index]
                ensure(phantoms.isEmpty()) { "$queue: messages that were never accepted ended: $phantoms" }
            }
        } finally {
            TestDirs.delete(dir)
        }
    }

    protected fun stressTest() = StressOptions()
        .iterations(scaled(5))
        .invocationsPerIteration(50)
        .threads(3)
        .actorsPerThread(3)
        .actorsBefore(1)
        .actorsAfter(1)
        .verifier(NoExceptionVerifier::class.java)
        .check(this::class)

    private companion object {
        val QUEUES = listOf("ordered", "wide")
    }
}

class SnapshotImmediatelyMQLincheckTest : PersistentMQLincheck(ShutdownMode.SNAPSHOT_IMMEDIATELY) {
    @Test
    fun stress() = stressTest()
}

class DrainThenSnapshotMQLincheckTest : PersistentMQLincheck(ShutdownMode.DRAIN_THEN_SNAPSHOT) {
    @Test
    fun stress() = stressTest()
}

package io.relaymq

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import java.nio.charset.StandardCharsets
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.time.Duration.Companion.seconds

/** A payload type without a built-in codec. */
private data class Box(val value: String)

/**
 * A codec whose encode and decode call [probe] first: from inside the codec, it asks another thread to
 * read the bus (stats, queue names) and records whether that thread got an answer in time.
 */
private class ProbingCodec(private val probe: (String) -> Unit) : MessageCodec<Box> {
    override fun type(): Class<Box> = Box::class.java

    override fun encode(value: Box): ByteArray {
        probe("encode")
        return value.value.toByteArray(StandardCharsets.UTF_8)
    }

    override fun decode(bytes: ByteArray): Box {
        probe("decode")
        return Box(String(bytes, StandardCharsets.UTF_8))
    }
}

/** Regression tests for known engine defects seen through the Kotlin door ([MQ]); public API only. */
class DefectRegressionSpec : FunSpec({

    test("3k: after close, a full bounded queue refuses a Kotlin publish with BusClosedException whatever its policy") {
        runTest {
            val mq = MQ(dispatcher = StandardTestDispatcher(testScheduler), drainTimeout = 1.seconds, clock = VirtualClock(testScheduler))
            val drops = AtomicInteger()
            val policies = OverflowPolicy.entries
            for (policy in policies) {
                mq.registerQueue<String>("q-$policy", QueueOptions(capacity = 1, overflow = policy, onDrop = { drops.incrementAndGet() })) {
                    awaitCancellation()
                }
            }
            mq.start()
            for (policy in policies) mq.publish("q-$policy", "first")
            testScheduler.runCurrent() // every first message is now in its handler
            for (policy in policies) {
                mq.stats("q-$policy").inFlight shouldBe 1
                mq.publish("q-$policy", "second")
                mq.stats("q-$policy").pending shouldBe 1 // full
            }
            mq.shutdown()
            val dropsAtClose = drops.get()
            val outcomes = policies.associateWith { policy ->
                runCatching { withTimeout(10.seconds) { mq.publish("q-$policy", "late") } }.exceptionOrNull()
            }
            val wrong = outcomes.filterValues { it !is BusClosedException }.mapValues { (_, e) -> e?.toString() ?: "accepted" }
            wrong shouldBe emptyMap()
            drops.get() shouldBe dropsAtClose
        }
    }

    test("8k: MQ.close() called inside a suspend handler throws IllegalStateException at once; the bus keeps working") {
        val mq = MQ(dispatcher = Dispatchers.Default, drainTimeout = 1.seconds)
        val outcome = CompletableFuture<Throwable?>()
        val handled = CopyOnWriteArrayList<String>()
        mq.registerQueue<String>("q") { message ->
            if (message.data == "close-me") {
                val thrown = try {
                    mq.close()
                    null
                } catch (e: Throwable) {
                    e
                }
                outcome.complete(thrown)
            } else {
                handled += message.data
            }
        }
        mq.start()
        mq.publish("q", "close-me")
        val thrown = withContext(Dispatchers.IO) { outcome.get(30, TimeUnit.SECONDS) }
        if (thrown !is IllegalStateException || thrown is BusClosedException) {
            throw AssertionError("close() inside a handler should throw IllegalStateException, but it " +
                (if (thrown == null) "returned normally" else "threw $thrown"))
        }
        mq.publish("q", "after")
        withTimeout(10.seconds) { mq.awaitIdle() }
        handled shouldContainExactly listOf("after")
        mq.stats("q").succeeded shouldBe 2
        mq.shutdown()
    }

    test("13: a codec's decode (restore at registration) and encode (close) never run while the bus holds a lock") {
        val dir = tempDir("relaymq-defects")
        val reader = Executors.newSingleThreadExecutor()
        try {
            val first = MQ(snapshotDirectory = dir)
            first.registerQueue<Box>("boxes", QueueOptions(codec = ProbingCodec {})) {}
            first.publish("boxes", Box("a"))
            first.shutdown().saved shouldBe 1 // never started: everything goes to the snapshot

            val bus = AtomicReference<MQ>()
            val probes = CopyOnWriteArrayList<String>()
            val codec = ProbingCodec { where ->
                val mq = bus.get()
                val answer = CompletableFuture.supplyAsync({ mq.stats().size + mq.queueNames.size }, reader)
                probes += try {
                    answer.get(3, TimeUnit.SECONDS)
                    "$where: answered"
                } catch (e: TimeoutException) {
                    "$where: another thread could not read the bus (lock held)"
                }
            }
            val second = MQ(snapshotDirectory = dir)
            bus.set(second)
            second.registerQueue<String>("other") {}
            second.registerQueue<Box>("boxes", QueueOptions(codec = codec)) {}
            second.stats("boxes").pending shouldBe 1
            second.publish("boxes", Box("b"))
            second.shutdown().saved shouldBe 2
            probes shouldContainExactly listOf("decode: answered", "encode: answered", "encode: answered")
        } finally {
            reader.shutdownNow()
        }
    }
})

package io.relaymq

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.currentTime
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicIntegerArray
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

/** An engine on the test's virtual clock. */
private fun TestScope.virtualMq(drainTimeout: Duration = 30.seconds) =
    MQ(dispatcher = StandardTestDispatcher(testScheduler), drainTimeout = drainTimeout)

class MQSpec : FunSpec({

    context("bad input is refused with a clear error and loses nothing") {
        test("a blank queue name") {
            val mq = MQ()
            shouldThrow<IllegalArgumentException> { mq.registerQueue<String>("") {} }.message shouldContain "blank"
            shouldThrow<IllegalArgumentException> { mq.registerQueue<String>("  ") {} }
            mq.queueNames shouldBe emptyList()
            mq.shutdown()
        }

        test("a duplicate queue name names the queue, and the first registration stays") {
            runTest {
                val mq = virtualMq()
                val seen = mutableListOf<String>()
                mq.registerQueue<String>("words") { seen += "first:${it.data}" }
                val e = shouldThrow<IllegalArgumentException> { mq.registerQueue<String>("words") { seen += "second" } }
                e.message shouldContain "'words'"
                mq.start()
                mq.publish("words", "a")
                mq.awaitIdle()
                seen shouldContainExactly listOf("first:a")
                mq.shutdown()
            }
        }

        test("concurrency below 1") {
            val mq = MQ()
            shouldThrow<IllegalArgumentException> { mq.registerQueue<String>("q", concurrency = 0) {} }
                .message shouldContain "concurrency"
            shouldThrow<IllegalArgumentException> { mq.registerQueue<String>("q", concurrency = -3) {} }
            mq.queueNames shouldBe emptyList()
            mq.shutdown()
        }

        test("an unknown queue, named in the error") {
            runTest {
                val mq = virtualMq()
                mq.registerQueue<String>("known") {}
                mq.start()
                val e = shouldThrow<UnknownQueueException> { mq.publish("Known", "x") }
                e.queueName shouldBe "Known"
                e.message shouldContain "'Known'"
                shouldThrow<UnknownQueueException> { mq.stats("nope") }
                mq.stats("known").published shouldBe 0
                mq.shutdown()
            }
        }

        test("a payload of the wrong type is refused at publish, not in the handler") {
            runTest {
                val mq = virtualMq()
                mq.registerQueue<String>("words") {}
                mq.start()
                val e = shouldThrow<IllegalArgumentException> { mq.publish("words", 42) }
                e.message shouldContain "'words'"
                e.message shouldContain "java.lang.String"
                mq.stats("words").published shouldBe 0
                mq.shutdown()
            }
        }

        test("primitive payload types are checked against their boxed class") {
            runTest {
                val mq = virtualMq()
                val sum = AtomicInteger()
                mq.registerQueue<Int>("ints") { sum.addAndGet(it.data) }
                mq.start()
                mq.publish("ints", 2)
                mq.publish("ints", 3)
                mq.awaitIdle()
                sum.get() shouldBe 5
                mq.shutdown()
            }
        }

        test("publish after close is refused and names the queue; the message is not counted") {
            runTest {
                val mq = virtualMq()
                mq.registerQueue<String>("words") {}
                mq.start()
                mq.publish("words", "before")
                mq.shutdown()
                val e = shouldThrow<BusClosedException> { mq.publish("words", "after") }
                e.queueName shouldBe "words"
                e.message shouldContain "'words'"
                mq.stats("words").published shouldBe 1
                mq.stats("words").succeeded shouldBe 1
            }
        }

        test("register, start and start-twice after close or when running") {
            runTest {
                val mq = virtualMq()
                mq.start()
                shouldThrow<IllegalStateException> { mq.start() }.message shouldContain "already started"
                mq.shutdown()
                shouldThrow<BusClosedException> { mq.registerQueue<String>("late") {} }
                shouldThrow<BusClosedException> { mq.start() }
            }
        }

        test("shutdown from inside a handler is refused instead of waiting for itself") {
            runTest {
                val mq = virtualMq()
                val failure = java.util.concurrent.CompletableFuture<Throwable>()
                mq.registerQueue<String>("q") {
                    try {
                        mq.shutdown()
                        failure.complete(null)
                    } catch (e: IllegalStateException) {
                        failure.complete(e)
                    }
                }
                mq.start()
                mq.publish("q", "x")
                mq.awaitIdle()
                failure.getNow(null)!!.message shouldContain "handler"
                mq.shutdown().abandoned shouldBe 0
            }
        }
    }

    context("delivery") {
        test("messages published before start are delivered after start, ids start at 1 and increase") {
            runTest {
                val mq = virtualMq()
                val seen = mutableListOf<Pair<Long, String>>()
                mq.registerQueue<String>("words") { seen += it.id to it.data }
                val ids = listOf("a", "b", "c").map { mq.publish("words", it) }
                ids shouldContainExactly listOf(1L, 2L, 3L)
                mq.stats("words").pending shouldBe 3
                seen shouldBe emptyList()
                mq.start()
                mq.awaitIdle()
                seen shouldContainExactly listOf(1L to "a", 2L to "b", 3L to "c")
                mq.shutdown()
            }
        }

        test("a single consumer processes in publish order, across many relay batches") {
            runTest {
                val mq = virtualMq()
                val seen = ArrayList<Int>()
                mq.registerQueue<Int>("ordered", concurrency = 1) {
                    if (it.data % 97 == 0) delay(1) // let the backlog build up in inbox and buffer
                    seen += it.data
                }
                mq.start()
                repeat(10_000) { mq.publish("ordered", it) }
                mq.awaitIdle()
                seen shouldBe (0 until 10_000).toList()
                mq.shutdown()
            }
        }

        test("each queue has its own id sequence and its own handler") {
            runTest {
                val mq = virtualMq()
                val a = mutableListOf<Message<String>>()
                val b = mutableListOf<Message<String>>()
                mq.registerQueue<String>("a") { a += it }
                mq.registerQueue<String>("b") { b += it }
                mq.start()
                mq.publish("a", "x") shouldBe 1
                mq.publish("b", "y") shouldBe 1
                mq.publish("a", "z") shouldBe 2
                mq.awaitIdle()
                a.map { it.queue to it.data } shouldContainExactly listOf("a" to "x", "a" to "z")
                b.map { it.queue to it.data } shouldContainExactly listOf("b" to "y")
                mq.shutdown()
            }
        }

        test("4 producer threads x 50,000 messages, 8 consumers: each delivered exactly once") {
            val producers = 4
            val perProducer = 50_000
            val total = producers * perProducer
            val mq = MQ(dispatcher = Dispatchers.Default)
            val deliveries = AtomicIntegerArray(total + 1)
            val payloadSeen = ConcurrentHashMap.newKeySet<String>()
            mq.registerQueue<String>("load", concurrency = 8) {
                deliveries.incrementAndGet(it.id.toInt())
                payloadSeen.add(it.data)
            }
            mq.start()
            val pool = Executors.newFixedThreadPool(producers).asCoroutineDispatcher()
            val idsByProducer = Array(producers) { LongArray(perProducer) }
            withTimeout(1.minutes) {
                coroutineScope {
                    repeat(producers) { p ->
                        launch(pool) {
                            repeat(perProducer) { i -> idsByProducer[p][i] = mq.publish("load", "$p-$i") }
                        }
                    }
                }
                mq.awaitIdle()
            }
            pool.close()
            for (id in 1..total) deliveries.get(id) shouldBe 1
            payloadSeen.size shouldBe total
            // ids increase in the order each producer published
            for (ids in idsByProducer) (1 until perProducer).all { ids[it] > ids[it - 1] } shouldBe true
            val stats = mq.stats("load")
            stats.published shouldBe total
            stats.succeeded shouldBe total
            stats.pending shouldBe 0
            stats.inFlight shouldBe 0
            mq.shutdown().abandoned shouldBe 0
        }
    }

    context("failures") {
        test("a handler that throws on every other message: the rest are processed, the queue keeps working") {
            runTest {
                val mq = virtualMq()
                val ok = mutableListOf<Int>()
                mq.registerQueue<Int>("flaky", concurrency = 2) {
                    if (it.data % 2 == 1) throw IllegalStateException("odd ${it.data}")
                    ok += it.data
                }
                mq.start()
                repeat(1_000) { mq.publish("flaky", it) }
                mq.awaitIdle()
                ok.sorted() shouldBe (0 until 1_000 step 2).toList()
                mq.stats("flaky").failed shouldBe 500
                mq.stats("flaky").succeeded shouldBe 500

                mq.publish("flaky", 2_000)
                mq.awaitIdle()
                ok.last() shouldBe 2_000
                mq.shutdown()
            }
        }

        test("a CancellationException thrown by the handler itself is a failure, not the consumer's end") {
            runTest {
                val mq = virtualMq()
                val handled = AtomicInteger()
                mq.registerQueue<Int>("q") {
                    handled.incrementAndGet()
                    if (it.data == 0) withTimeout(1.milliseconds) { awaitCancellation() }
                }
                mq.start()
                mq.publish("q", 0)
                mq.publish("q", 1)
                mq.awaitIdle()
                handled.get() shouldBe 2
                mq.stats("q").failed shouldBe 1
                mq.stats("q").succeeded shouldBe 1
                mq.shutdown()
            }
        }

        test("errors thrown by a handler are counted too") {
            runTest {
                val mq = virtualMq()
                mq.registerQueue<Int>("q") { if (it.data == 0) throw StackOverflowError("deep") }
                mq.start()
                mq.publish("q", 0)
                mq.publish("q", 1)
                mq.awaitIdle()
                mq.stats("q").failed shouldBe 1
                mq.stats("q").succeeded shouldBe 1
                mq.shutdown()
            }
        }
    }

    context("concurrency") {
        test("never more than N handlers at once, and N are reached") {
            runTest {
                val mq = virtualMq()
                val active = AtomicInteger()
                val maxActive = AtomicInteger()
                mq.registerQueue<Int>("limited", concurrency = 4) {
                    maxActive.accumulateAndGet(active.incrementAndGet(), ::maxOf)
                    delay(10 + (it.data % 7).toLong())
                    active.decrementAndGet()
                }
                mq.start()
                repeat(200) { mq.publish("limited", it) }
                mq.awaitIdle()
                maxActive.get() shouldBe 4
                mq.stats("limited").succeeded shouldBe 200
                mq.shutdown()
            }
        }

        test("N handlers really run in parallel on real threads, never more") {
            val mq = MQ(dispatcher = Dispatchers.Default)
            val active = AtomicInteger()
            val maxActive = AtomicInteger()
            mq.registerQueue<Int>("limited", concurrency = 3) {
                maxActive.accumulateAndGet(active.incrementAndGet(), ::maxOf)
                withContext(Dispatchers.IO) { Thread.sleep(2) }
                active.decrementAndGet()
            }
            mq.start()
            repeat(300) { mq.publish("limited", it) }
            withTimeout(1.minutes) { mq.awaitIdle() }
            (maxActive.get() <= 3) shouldBe true
            mq.shutdown()
        }
    }

    context("close") {
        test("close drains everything already accepted, then reports it") {
            runTest {
                val mq = virtualMq()
                val done = AtomicInteger()
                mq.registerQueue<Int>("slow", concurrency = 2) {
                    delay(100)
                    done.incrementAndGet()
                }
                mq.start()
                repeat(20) { mq.publish("slow", it) }
                val summary = mq.shutdown()
                done.get() shouldBe 20
                summary.timedOut shouldBe false
                summary.abandoned shouldBe 0
                summary.processedDuringClose shouldBe 20
                summary.queues.getValue("slow").processedDuringClose shouldBe 20
                currentTime shouldBe 1_000 // 20 messages x 100 ms / 2 consumers, on virtual time
            }
        }

        test("close twice is harmless and returns the same summary") {
            runTest {
                val mq = virtualMq()
                mq.registerQueue<String>("q") {}
                mq.start()
                val first = mq.shutdown()
                mq.shutdown() shouldBe first
            }
        }

        test("close of a bus that was never started delivers what it accepted") {
            runTest {
                val mq = virtualMq()
                val seen = mutableListOf<String>()
                mq.registerQueue<String>("q") { seen += it.data }
                mq.publish("q", "a")
                mq.shutdown().processedDuringClose shouldBe 1
                seen shouldContainExactly listOf("a")
            }
        }

        test("drain timeout: a handler that never returns is cancelled at the deadline and counted") {
            runTest {
                val mq = virtualMq(drainTimeout = 5.seconds)
                val cancelled = AtomicInteger()
                mq.registerQueue<Int>("stuck", concurrency = 1) {
                    if (it.data == 0) {
                        try {
                            awaitCancellation()
                        } catch (e: CancellationException) {
                            cancelled.incrementAndGet()
                            throw e
                        }
                    }
                }
                mq.start()
                repeat(3) { mq.publish("stuck", it) }
                val start = currentTime
                val summary = mq.shutdown()
                (currentTime - start) shouldBe 5_000
                cancelled.get() shouldBe 1
                summary.timedOut shouldBe true
                summary.abandoned shouldBe 3
                summary.queues.getValue("stuck").abandonedIds shouldContainExactly listOf(1L, 2L, 3L)
                val stats = mq.stats("stuck")
                stats.abandoned shouldBe 3
                stats.succeeded shouldBe 0
                stats.pending shouldBe 0
                stats.inFlight shouldBe 0
                mq.awaitIdle() // closed and accounted for: idle
            }
        }

        test("close during heavy publishing: every accepted message is processed or reported abandoned") {
            runTest {
                val mq = virtualMq(drainTimeout = 2.seconds)
                val processed = ConcurrentHashMap.newKeySet<Long>()
                mq.registerQueue<Int>("busy", concurrency = 4) {
                    delay(1 + it.data % 5L)
                    processed.add(it.id)
                }
                mq.start()
                val accepted = mutableListOf<Long>()
                var refused = 0
                val producers = List(4) { p ->
                    launch {
                        var i = 0
                        while (true) {
                            try {
                                val id = mq.publish("busy", p * 1_000_000 + i++)
                                synchronized(accepted) { accepted += id }
                            } catch (e: BusClosedException) {
                                synchronized(accepted) { refused++ }
                                break
                            }
                            if (i % 50 == 0) delay(1)
                        }
                    }
                }
                delay(500)
                val summary = mq.shutdown()
                producers.forEach { it.join() }

                refused shouldBe 4 // each producer learned of the close through an exception
                val abandoned = summary.queues.getValue("busy").abandonedIds.toSet()
                summary.timedOut shouldBe true
                (abandoned.size > 0) shouldBe true
                processed.intersect(abandoned) shouldBe emptySet()
                (processed + abandoned) shouldBe accepted.toSet()
                val stats = mq.stats("busy")
                stats.published shouldBe accepted.size.toLong()
                (stats.succeeded + stats.abandoned) shouldBe accepted.size.toLong()
            }
        }

        test("close during heavy publishing on real threads, with time to drain: nothing abandoned") {
            val mq = MQ(dispatcher = Dispatchers.Default, drainTimeout = 1.minutes)
            val processed = ConcurrentHashMap.newKeySet<Long>()
            mq.registerQueue<Int>("busy", concurrency = 4) { processed.add(it.id) }
            mq.start()
            val accepted = ConcurrentHashMap.newKeySet<Long>()
            val pool = Executors.newFixedThreadPool(4).asCoroutineDispatcher()
            val summary = coroutineScope {
                val producers = List(4) {
                    launch(pool) {
                        var i = 0
                        while (true) {
                            try {
                                accepted += mq.publish("busy", i++)
                            } catch (e: BusClosedException) {
                                break
                            }
                        }
                    }
                }
                while (accepted.size < 20_000) delay(1)
                val summary = withContext(Dispatchers.Default) { mq.shutdown() }
                producers.forEach { it.join() }
                summary
            }
            pool.close()
            summary.abandoned shouldBe 0
            processed shouldBe accepted
        }
    }

    test("stats add up") {
        runTest {
            val mq = virtualMq()
            mq.registerQueue<Int>("q", concurrency = 2) {
                delay(10)
                if (it.data == 3) error("boom")
            }
            repeat(5) { mq.publish("q", it) }
            mq.stats("q").let {
                it.published shouldBe 5
                it.pending shouldBe 5
                it.delivered shouldBe 0
                it.concurrency shouldBe 2
            }
            mq.start()
            testScheduler.runCurrent()
            mq.stats("q").let {
                it.delivered shouldBe 2
                it.inFlight shouldBe 2
                it.pending shouldBe 3
            }
            mq.awaitIdle()
            mq.stats("q").let {
                it.succeeded shouldBe 4
                it.failed shouldBe 1
                it.inFlight shouldBe 0
                it.pending shouldBe 0
            }
            mq.stats().keys shouldContainExactly listOf("q")
            mq.shutdown()
        }
    }
})

package io.relaymq

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicIntegerArray
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

private fun TestScope.virtualMq() = MQ(dispatcher = StandardTestDispatcher(testScheduler), drainTimeout = 30.seconds)

class FlowControlSpec : FunSpec({

    context("overflow policies") {
        test("SUSPEND: a publisher to a full queue waits until a consumer takes a message") {
            runTest {
                val mq = virtualMq()
                val handled = mutableListOf<Int>()
                mq.registerQueue<Int>("q", QueueOptions(capacity = 2, overflow = OverflowPolicy.SUSPEND)) { handled += it.data }
                mq.publish("q", 1) shouldBe 1
                mq.publish("q", 2) shouldBe 2
                val third = async { mq.publish("q", 3) }
                testScheduler.runCurrent()
                third.isCompleted shouldBe false
                mq.stats("q").pending shouldBe 2
                mq.start()
                third.await() shouldBe 3
                mq.awaitIdle()
                handled shouldContainExactly listOf(1, 2, 3)
                mq.shutdown()
            }
        }

        test("SUSPEND: a publisher still waiting when the bus closes is refused, never left hanging") {
            runTest {
                val mq = virtualMq()
                mq.registerQueue<Int>("q", QueueOptions(capacity = 1)) {}
                mq.publish("q", 1)
                val waiting = async { runCatching { mq.publish("q", 2) } }
                testScheduler.runCurrent()
                mq.shutdown()
                (waiting.await().exceptionOrNull() is BusClosedException) shouldBe true
                mq.stats("q").published shouldBe 1
            }
        }

        test("REJECT: a publish to a full queue fails at once with QueueFullException and is counted") {
            runTest {
                val mq = virtualMq()
                mq.registerQueue<Int>("q", QueueOptions(capacity = 2, overflow = OverflowPolicy.REJECT)) {}
                mq.publish("q", 1)
                mq.publish("q", 2)
                val e = shouldThrow<QueueFullException> { mq.publish("q", 3) }
                e.queueName shouldBe "q"
                e.capacity shouldBe 2
                mq.stats("q").let {
                    it.rejected shouldBe 1
                    it.published shouldBe 2
                    it.capacity shouldBe 2
                }
                mq.start()
                mq.awaitIdle()
                mq.publish("q", 4) shouldBe 3 // room again once consumers took the backlog
                mq.shutdown()
            }
        }

        test("capacity counts only messages not yet handed to a consumer") {
            runTest {
                val mq = virtualMq()
                mq.registerQueue<Int>("q", QueueOptions(capacity = 1, overflow = OverflowPolicy.REJECT)) { delay(1_000) }
                mq.start()
                mq.publish("q", 1)
                testScheduler.runCurrent() // message 1 is now in its handler
                mq.publish("q", 2) // fits: the queue holds only message 2
                shouldThrow<QueueFullException> { mq.publish("q", 3) }
                mq.shutdown()
            }
        }

        test("DROP_OLDEST: the oldest waiting message is dropped, counted and passed to the listener") {
            runTest {
                val mq = virtualMq()
                val droppedIds = mutableListOf<Long>()
                val handled = mutableListOf<Int>()
                mq.registerQueue<Int>(
                    "q",
                    QueueOptions(capacity = 2, overflow = OverflowPolicy.DROP_OLDEST, onDrop = { droppedIds += it.id }),
                ) { handled += it.data }
                (1..5).forEach { mq.publish("q", it) }
                droppedIds shouldContainExactly listOf(1L, 2L, 3L)
                mq.stats("q").dropped shouldBe 3
                mq.stats("q").pending shouldBe 2
                mq.start()
                mq.awaitIdle()
                handled shouldContainExactly listOf(4, 5)
                mq.shutdown()
            }
        }

        test("DROP_NEWEST: the new message is dropped, counted and passed to the listener") {
            runTest {
                val mq = virtualMq()
                val dropped = mutableListOf<Any?>()
                val handled = mutableListOf<Int>()
                mq.registerQueue<Int>(
                    "q",
                    QueueOptions(capacity = 2, overflow = OverflowPolicy.DROP_NEWEST, onDrop = { dropped += it.data }),
                ) { handled += it.data }
                (1..4).forEach { mq.publish("q", it) shouldBe it.toLong() }
                dropped shouldContainExactly listOf(3, 4)
                mq.start()
                mq.awaitIdle()
                handled shouldContainExactly listOf(1, 2)
                mq.stats("q").let {
                    it.dropped shouldBe 2
                    it.published shouldBe 4
                    it.succeeded shouldBe 2
                }
                mq.shutdown()
            }
        }

        test("a request whose message is dropped fails instead of waiting forever") {
            runTest {
                val mq = virtualMq()
                mq.registerReplyingQueue<Int, Int>("q", QueueOptions(capacity = 1, overflow = OverflowPolicy.DROP_OLDEST)) { it.data }
                val first = async { runCatching { mq.request<Int>("q", 1) } }
                testScheduler.runCurrent()
                mq.publish("q", 2)
                (first.await().exceptionOrNull() is MessageDroppedException) shouldBe true
                mq.shutdown()
            }
        }
    }

    context("results") {
        test("request returns the handler's value") {
            runTest {
                val mq = virtualMq()
                mq.registerReplyingQueue<Int, Int>("square", QueueOptions(concurrency = 2)) {
                    delay(10)
                    it.data * it.data
                }
                mq.start()
                mq.request<Int>("square", 7) shouldBe 49
                mq.publish("square", 3) // plain publish to a replying queue: result discarded
                mq.awaitIdle()
                mq.stats("square").succeeded shouldBe 2
                mq.shutdown()
            }
        }

        test("request rethrows the handler's exception") {
            runTest {
                val mq = virtualMq()
                mq.registerReplyingQueue<String, Int>("parse") { it.data.toInt() }
                mq.start()
                shouldThrow<NumberFormatException> { mq.request<Int>("parse", "x") }
                mq.request<Int>("parse", "12") shouldBe 12
                mq.shutdown()
            }
        }

        test("a plain queue answers a request with Unit once the handler finished") {
            runTest {
                val mq = virtualMq()
                val done = AtomicInteger()
                mq.registerQueue<String>("q") {
                    delay(50)
                    done.incrementAndGet()
                }
                mq.start()
                mq.request<Unit>("q", "x")
                done.get() shouldBe 1
                mq.shutdown()
            }
        }

        test("timeout before delivery withdraws the message; it is never handled") {
            runTest {
                val mq = virtualMq()
                val handled = AtomicInteger()
                mq.registerReplyingQueue<Int, Int>("q") { handled.incrementAndGet() }
                mq.start()
                mq.pause("q")
                shouldThrow<TimeoutCancellationException> { mq.request<Int>("q", 1, timeout = 1.seconds) }
                mq.resume("q")
                mq.awaitIdle()
                handled.get() shouldBe 0
                mq.stats("q").withdrawn shouldBe 1
                mq.shutdown()
            }
        }

        test("cancelling a request before delivery withdraws the message") {
            runTest {
                val mq = virtualMq()
                val handled = AtomicInteger()
                mq.registerReplyingQueue<Int, Int>("q") { handled.incrementAndGet() }
                mq.start()
                mq.pause("q")
                val waiting = launch { mq.request<Int>("q", 1) }
                testScheduler.runCurrent()
                waiting.cancel()
                mq.resume("q")
                mq.awaitIdle()
                handled.get() shouldBe 0
                mq.stats("q").withdrawn shouldBe 1
                mq.shutdown()
            }
        }

        test("timeout after delivery: the handler finishes, only the waiting stops") {
            runTest {
                val mq = virtualMq()
                val handled = AtomicInteger()
                mq.registerReplyingQueue<Int, Int>("q") {
                    delay(5_000)
                    handled.incrementAndGet()
                }
                mq.start()
                shouldThrow<TimeoutCancellationException> { mq.request<Int>("q", 1, timeout = 1.seconds) }
                mq.awaitIdle()
                handled.get() shouldBe 1
                mq.stats("q").withdrawn shouldBe 0
                mq.shutdown()
            }
        }
    }

    context("pause and resume") {
        test("publishing works while paused, consumers take nothing new, running handlers finish") {
            runTest {
                val mq = virtualMq()
                val handled = mutableListOf<Int>()
                mq.registerQueue<Int>("q", QueueOptions(concurrency = 1)) {
                    delay(100)
                    handled += it.data
                }
                mq.start()
                mq.publish("q", 1)
                testScheduler.runCurrent() // 1 is in its handler
                mq.pause("q")
                (2..4).forEach { mq.publish("q", it) }
                delay(1_000)
                handled shouldContainExactly listOf(1)
                mq.stats("q").paused shouldBe true
                mq.stats("q").pending shouldBe 3
                mq.resume("q")
                mq.awaitIdle()
                handled shouldContainExactly listOf(1, 2, 3, 4)
                mq.stats("q").paused shouldBe false
                mq.shutdown()
            }
        }

        test("closing a paused queue drains it") {
            runTest {
                val mq = virtualMq()
                val handled = AtomicInteger()
                mq.registerQueue<Int>("q") { handled.incrementAndGet() }
                mq.start()
                mq.pause("q")
                repeat(5) { mq.publish("q", it) }
                mq.shutdown().processedDuringClose shouldBe 5
                handled.get() shouldBe 5
            }
        }
    }

    context("resizing") {
        test("growing starts consumers at once; shrinking lets surplus ones finish and stop") {
            runTest {
                val mq = virtualMq()
                val active = AtomicInteger()
                val maxActive = AtomicInteger()
                mq.registerQueue<Int>("q", QueueOptions(concurrency = 1)) {
                    maxActive.accumulateAndGet(active.incrementAndGet(), ::maxOf)
                    delay(100)
                    active.decrementAndGet()
                }
                mq.start()
                repeat(40) { mq.publish("q", it) }
                delay(250)
                maxActive.get() shouldBe 1
                mq.setConcurrency("q", 4)
                mq.stats("q").concurrency shouldBe 4
                delay(250)
                maxActive.get() shouldBe 4
                mq.setConcurrency("q", 2)
                delay(150) // the surplus two finish their current message
                maxActive.set(0)
                delay(300)
                maxActive.get() shouldBe 2
                mq.awaitIdle()
                mq.stats("q").succeeded shouldBe 40
                shouldThrow<IllegalArgumentException> { mq.setConcurrency("q", 0) }
                mq.shutdown()
            }
        }

        test("resize up and down under continuous load on real threads: every message exactly once") {
            val total = 200_000
            val mq = MQ(dispatcher = Dispatchers.Default, drainTimeout = 1.minutes)
            val seen = AtomicIntegerArray(total + 1)
            mq.registerQueue<Int>("q", QueueOptions(concurrency = 2)) { seen.incrementAndGet(it.id.toInt()) }
            mq.start()
            val pool = Executors.newFixedThreadPool(2).asCoroutineDispatcher()
            withTimeout(1.minutes) {
                coroutineScope {
                    val producers = List(2) { launch(pool) { repeat(total / 2) { i -> mq.publish("q", i) } } }
                    launch(Dispatchers.Default) {
                        var n = 0
                        while (producers.any { it.isActive }) {
                            mq.setConcurrency("q", listOf(1, 8, 3, 6, 2)[n++ % 5])
                            delay(2.milliseconds)
                        }
                    }
                }
                withContext(Dispatchers.Default) { mq.awaitIdle() }
            }
            pool.close()
            for (id in 1..total) seen.get(id) shouldBe 1
            mq.stats("q").succeeded shouldBe total.toLong()
            mq.shutdown().abandoned shouldBe 0
        }
    }

    test("bad options are refused with a clear error") {
        shouldThrow<IllegalArgumentException> { QueueOptions(capacity = 0) }.message shouldContain "capacity"
        shouldThrow<IllegalArgumentException> { QueueOptions(concurrency = 0) }.message shouldContain "concurrency"
        val mq = MQ()
        shouldThrow<UnknownQueueException> { mq.pause("nope") }
        mq.shutdown()
    }
})

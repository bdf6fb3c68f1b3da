package io.relaymq

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import io.kotest.property.Arb
import io.kotest.property.arbitrary.int
import io.kotest.property.arbitrary.long
import io.kotest.property.checkAll
import kotlinx.coroutines.delay
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.currentTime
import kotlinx.coroutines.test.runTest
import java.nio.file.Path
import java.time.Instant
import java.util.concurrent.atomic.AtomicInteger
import kotlin.random.Random
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

private fun TestScope.virtualMq(snapshots: Path? = null) = MQ(
    dispatcher = StandardTestDispatcher(testScheduler),
    drainTimeout = 30.seconds,
    snapshotDirectory = snapshots,
    clock = VirtualClock(testScheduler),
)

private class Boom(message: String) : RuntimeException(message)

class RoutingSpec : FunSpec({

    context("retries") {
        test("backoff schedule without jitter: exponential, capped; attempt numbers; then dead-lettered with details") {
            runTest {
                val mq = virtualMq()
                val attempts = mutableListOf<Pair<Int, Long>>()
                val letters = mutableListOf<DeadLetter>()
                val policy = RetryPolicy(maxAttempts = 4, initialBackoff = 100.milliseconds, multiplier = 2.0, maxBackoff = 250.milliseconds, jitter = 0.0)
                mq.registerQueue<String>("work", QueueOptions(retry = policy, deadLetterHandler = { letters += it })) {
                    attempts += it.attempt to currentTime
                    throw Boom("attempt ${it.attempt}")
                }
                mq.start()
                mq.publish("work", "x")
                mq.awaitIdle()
                attempts shouldContainExactly listOf(1 to 0L, 2 to 100L, 3 to 300L, 4 to 550L)
                val letter = letters.single()
                letter.queue shouldBe "work"
                letter.messageId shouldBe 1
                letter.data shouldBe "x"
                letter.attempts shouldBe 4
                letter.failureClass shouldBe Boom::class.java.name
                letter.failureMessage shouldBe "attempt 4"
                letter.firstFailureAt shouldBe Instant.ofEpochMilli(0)
                letter.lastFailureAt shouldBe Instant.ofEpochMilli(550)
                letter.failure.shouldBeInstanceOf<Boom>()
                mq.stats("work").let {
                    it.retried shouldBe 3
                    it.deadLettered shouldBe 1
                    it.failed shouldBe 1
                    it.succeeded shouldBe 0
                }
                mq.shutdown()
            }
        }

        test("jitter stays within nominal * (1 +- jitter) and never above the cap (property)") {
            checkAll(300, Arb.int(1..12), Arb.long()) { attempt, seed ->
                val policy = RetryPolicy(initialBackoff = 200.milliseconds, multiplier = 3.0, maxBackoff = 20.seconds, jitter = 0.5)
                val nominal = policy.nominalBackoff(attempt).inWholeMilliseconds
                val wait = policy.backoff(attempt, Random(seed)).inWholeMilliseconds
                (wait >= (nominal * 0.5).toLong() - 1) shouldBe true
                (wait <= (nominal * 1.5).toLong() + 1) shouldBe true
                (wait <= 20_000) shouldBe true
            }
        }

        test("observed retry waits on virtual time respect the jitter bounds") {
            runTest {
                val mq = virtualMq()
                val times = mutableListOf<Long>()
                val policy = RetryPolicy(maxAttempts = 6, initialBackoff = 1.seconds, multiplier = 2.0, maxBackoff = 1.minutes, jitter = 0.3)
                mq.registerQueue<String>("work", QueueOptions(retry = policy)) {
                    times += currentTime
                    throw Boom("again")
                }
                mq.start()
                mq.publish("work", "x")
                mq.awaitIdle()
                times.size shouldBe 6
                times.zipWithNext { a, b -> b - a }.forEachIndexed { i, wait ->
                    val nominal = 1_000L shl i
                    (wait >= (nominal * 0.7).toLong() - 1) shouldBe true
                    (wait <= (nominal * 1.3).toLong() + 1) shouldBe true
                }
                mq.shutdown()
            }
        }

        test("a failure the predicate rejects is not retried") {
            runTest {
                val mq = virtualMq()
                val calls = AtomicInteger()
                val letters = mutableListOf<DeadLetter>()
                val policy = RetryPolicy(maxAttempts = 5, retryOn = { it !is IllegalArgumentException })
                mq.registerQueue<String>("work", QueueOptions(retry = policy, deadLetterHandler = { letters += it })) {
                    calls.incrementAndGet()
                    if (it.data == "bad") throw IllegalArgumentException("bad input") else throw Boom("transient")
                }
                mq.start()
                mq.publish("work", "bad")
                mq.awaitIdle()
                calls.get() shouldBe 1
                letters.single().attempts shouldBe 1
                letters.single().failureClass shouldBe IllegalArgumentException::class.java.name
                mq.shutdown()
            }
        }

        test("a message waiting for its retry does not occupy a consumer") {
            runTest {
                val mq = virtualMq()
                val order = mutableListOf<String>()
                val policy = RetryPolicy(maxAttempts = 2, initialBackoff = 10.seconds, jitter = 0.0)
                mq.registerQueue<String>("work", QueueOptions(concurrency = 1, retry = policy)) {
                    order += "${it.data}#${it.attempt}@$currentTime"
                    if (it.data == "a" && it.attempt == 1) throw Boom("first try fails")
                }
                mq.start()
                mq.publish("work", "a")
                mq.publish("work", "b")
                mq.awaitIdle()
                order shouldContainExactly listOf("a#1@0", "b#1@0", "a#2@10000")
                mq.stats("work").succeeded shouldBe 2
                mq.shutdown()
            }
        }

        test("the dead-letter queue receives exactly the exhausted messages") {
            runTest {
                val mq = virtualMq()
                val dead = mutableListOf<DeadLetter>()
                mq.registerQueue<DeadLetter>("dead") { dead += it.data }
                val policy = RetryPolicy(maxAttempts = 3, initialBackoff = 1.seconds)
                mq.registerQueue<Int>("work", QueueOptions(concurrency = 4, retry = policy, deadLetterQueue = "dead")) {
                    if (it.data % 2 == 1) throw Boom("odd ${it.data}")
                }
                mq.start()
                (0 until 10).forEach { mq.publish("work", it) }
                mq.awaitIdle()
                dead.map { it.data }.sortedBy { it as Int } shouldContainExactly listOf(1, 3, 5, 7, 9)
                dead.all { it.attempts == 3 && it.queue == "work" } shouldBe true
                mq.stats("work").deadLettered shouldBe 5
                mq.stats("work").succeeded shouldBe 5
                mq.stats("dead").succeeded shouldBe 5
                mq.shutdown()
            }
        }

        test("a request gets the final outcome after retries") {
            runTest {
                val mq = virtualMq()
                val calls = AtomicInteger()
                mq.registerReplyingQueue<String, Int>("work", QueueOptions(retry = RetryPolicy(maxAttempts = 3, initialBackoff = 1.seconds))) {
                    if (calls.incrementAndGet() < 3) throw Boom("not yet")
                    it.attempt
                }
                mq.start()
                mq.request<Int>("work", "x") shouldBe 3
                mq.shutdown()
            }
        }
    }

    context("delayed delivery") {
        test("never early, and due messages come in due-time order") {
            runTest {
                val mq = virtualMq()
                val seen = mutableListOf<Pair<String, Long>>()
                mq.registerQueue<String>("later", QueueOptions(concurrency = 4)) { seen += it.data to currentTime }
                mq.start()
                mq.publish("later", "A", PublishOptions(delay = 3.seconds))
                mq.publish("later", "B", PublishOptions(delay = 1.seconds))
                mq.publish("later", "C", PublishOptions(dueAt = Instant.ofEpochMilli(2_000)))
                mq.publish("later", "now")
                mq.stats("later").delayed shouldBe 3
                mq.awaitIdle()
                seen shouldContainExactly listOf("now" to 0L, "B" to 1_000L, "C" to 2_000L, "A" to 3_000L)
            }
        }

        test("random delays are never delivered early (property on virtual time)") {
            runTest {
                val mq = virtualMq()
                val early = AtomicInteger()
                val dueById = HashMap<Long, Long>()
                mq.registerQueue<String>("later", QueueOptions(concurrency = 3)) {
                    if (currentTime < dueById.getValue(it.id)) early.incrementAndGet()
                }
                mq.start()
                val random = Random(7)
                repeat(500) {
                    val wait = random.nextLong(0, 60_000)
                    val id = mq.publish("later", "m$it", PublishOptions(delay = wait.milliseconds))
                    dueById[id] = currentTime + wait
                    if (it % 50 == 0) delay(random.nextLong(0, 1_000))
                }
                mq.awaitIdle()
                early.get() shouldBe 0
                mq.stats("later").succeeded shouldBe 500
                mq.shutdown()
            }
        }

        test("delayed messages and pending retries are saved with their due time and restored") {
            runTest {
                val dir = tempDir()
                val first = virtualMq(dir)
                first.registerQueue<String>("later", QueueOptions(retry = RetryPolicy(maxAttempts = 2, initialBackoff = 30.minutes, maxBackoff = 1.hours, jitter = 0.0))) {
                    throw Boom("fails once, retry in 30 min")
                }
                first.start()
                first.publish("later", "delayed", PublishOptions(delay = 1.hours, key = "k1"))
                first.publish("later", "retried")
                delay(1.seconds) // "retried" fails and now waits 30 minutes
                first.stats("later").delayed shouldBe 2
                first.shutdown().saved shouldBe 2

                val second = virtualMq(dir)
                val seen = mutableListOf<String>()
                second.registerQueue<String>("later") { seen += "${it.data}#${it.attempt}/${it.key}@${currentTime / 60_000}" }
                second.start()
                delay(20.minutes)
                seen shouldBe emptyList()
                second.awaitIdle()
                seen shouldContainExactly listOf("retried#2/null@30", "delayed#1/k1@60")
                second.shutdown()
            }
        }
    }

    context("ordering keys") {
        test("concurrency 8, random latencies: per-key order holds, one at a time per key, keys overlap") {
            runTest {
                val mq = virtualMq()
                val perKey = HashMap<String, MutableList<Int>>()
                val activePerKey = HashMap<String, Int>()
                var active = 0
                var maxActive = 0
                var maxPerKey = 0
                val random = Random(42)
                mq.registerQueue<Int>("ordered", QueueOptions(concurrency = 8)) {
                    val key = it.key!!
                    active++
                    maxActive = maxOf(maxActive, active)
                    activePerKey[key] = (activePerKey[key] ?: 0) + 1
                    maxPerKey = maxOf(maxPerKey, activePerKey.getValue(key))
                    delay(random.nextLong(1, 50))
                    perKey.getOrPut(key) { mutableListOf() } += it.data
                    activePerKey[key] = activePerKey.getValue(key) - 1
                    active--
                }
                mq.start()
                repeat(50) { i -> repeat(20) { k -> mq.publish("ordered", i, PublishOptions(key = "key-$k")) } }
                mq.awaitIdle()
                perKey.size shouldBe 20
                perKey.values.forEach { it shouldContainExactly (0 until 50).toList() }
                maxPerKey shouldBe 1
                (maxActive > 1) shouldBe true
                (maxActive <= 8) shouldBe true
                mq.shutdown()
            }
        }

        test("per-key order holds on real threads too, where consumers race between take and key") {
            val mq = MQ(dispatcher = kotlinx.coroutines.Dispatchers.Default)
            val perKey = java.util.concurrent.ConcurrentHashMap<String, MutableList<Int>>()
            val busyKeys = java.util.concurrent.ConcurrentHashMap.newKeySet<String>()
            val overlaps = AtomicInteger()
            mq.registerQueue<Int>("ordered", QueueOptions(concurrency = 8)) {
                val key = it.key!!
                if (!busyKeys.add(key)) overlaps.incrementAndGet()
                if (it.data % 3 == 0) delay(1) else kotlinx.coroutines.yield()
                perKey.computeIfAbsent(key) { mutableListOf() } += it.data
                busyKeys.remove(key)
            }
            mq.start()
            repeat(300) { i -> repeat(8) { k -> mq.publish("ordered", i, PublishOptions(key = "k$k")) } }
            kotlinx.coroutines.withTimeout(60.seconds) { mq.awaitIdle() }
            overlaps.get() shouldBe 0
            perKey.values.forEach { it shouldContainExactly (0 until 300).toList() }
            mq.shutdown()
        }

        test("a failing message holds its key until it succeeds; messages without a key are not held") {
            runTest {
                val mq = virtualMq()
                val order = mutableListOf<String>()
                mq.registerQueue<String>("q", QueueOptions(concurrency = 4, retry = RetryPolicy(maxAttempts = 3, initialBackoff = 5.seconds, jitter = 0.0))) {
                    order += "${it.data}@${currentTime / 1000}"
                    if (it.data == "k1" && it.attempt < 3) throw Boom("retry")
                }
                mq.start()
                mq.publish("q", "k1", PublishOptions(key = "k"))
                mq.publish("q", "k2", PublishOptions(key = "k"))
                mq.publish("q", "free")
                mq.awaitIdle()
                order shouldContainExactly listOf("k1@0", "free@0", "k1@5", "k1@15", "k2@15")
                mq.shutdown()
            }
        }
    }

    context("fan-out") {
        test("one publish reaches every bound queue, each with its own message") {
            runTest {
                val mq = virtualMq()
                val seen = mutableListOf<String>()
                for (q in listOf("audit", "mail", "billing")) mq.registerQueue<String>(q) { seen += "${it.queue}:${it.data}:${it.id}" }
                mq.bindFanOut("order-placed", listOf("audit", "mail", "billing"))
                mq.start()
                val result = mq.fanOut("order-placed", "o1")
                result.ids shouldBe mapOf("audit" to 1L, "mail" to 1L, "billing" to 1L)
                mq.awaitIdle()
                seen.sorted() shouldContainExactly listOf("audit:o1:1", "billing:o1:1", "mail:o1:1")
                mq.shutdown()
            }
        }

        test("fan-out to three queues with one refusing names it, and the others keep their copy") {
            runTest {
                val mq = virtualMq()
                mq.registerQueue<String>("a") {}
                mq.registerQueue<String>("b", QueueOptions(capacity = 1, overflow = OverflowPolicy.REJECT)) {}
                mq.registerQueue<String>("c") {}
                mq.bindFanOut("all", "a", "b", "c") // the vararg form
                mq.publish("b", "filler") // b is now full (not started)
                val e = shouldThrow<FanOutException> { mq.fanOut("all", "x") }
                e.refused.keys shouldBe setOf("b")
                e.refused.getValue("b").shouldBeInstanceOf<QueueFullException>()
                e.accepted shouldBe mapOf("a" to 1L, "c" to 1L)
                e.message shouldContain "'b'"
                mq.stats("a").published shouldBe 1
                mq.stats("c").published shouldBe 1
                mq.shutdown()
            }
        }

        test("bad bindings are refused") {
            val mq = MQ()
            mq.registerQueue<String>("a") {}
            shouldThrow<UnknownQueueException> { mq.bindFanOut("t", listOf("a", "nope")) }
            shouldThrow<IllegalArgumentException> { mq.bindFanOut("t", emptyList()) }
            shouldThrow<IllegalArgumentException> { mq.bindFanOut("t") }
            shouldThrow<IllegalArgumentException> { mq.bindFanOut("t", "a", "a") }
            shouldThrow<IllegalArgumentException> { mq.bindFanOut("t", listOf("a", "a")) }
            mq.bindFanOut("t", listOf("a"))
            shouldThrow<IllegalArgumentException> { mq.bindFanOut("t", listOf("a")) }
            shouldThrow<IllegalArgumentException> { mq.fanOut("unbound", "x") }.message shouldContain "bindFanOut"
            mq.shutdown()
        }
    }
})

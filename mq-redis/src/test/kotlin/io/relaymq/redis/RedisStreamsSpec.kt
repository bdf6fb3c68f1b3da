package io.relaymq.redis

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactlyInAnyOrder
import io.kotest.matchers.shouldBe
import io.relaymq.MQ
import io.relaymq.PublishOptions
import io.relaymq.QueueOptions
import io.relaymq.RetryPolicy
import io.relaymq.DeadLetter
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

class RedisStreamsSpec : FunSpec({
    val redis = TestRedis()
    afterSpec { redis.close() }
    var prefixes = 0
    fun backend() = RedisStreams.builder(redis.uri).keyPrefix("t${++prefixes}").visibilityTimeout(java.time.Duration.ofSeconds(5)).build()

    test("publish, handle, request, delayed, retry, dead letter") {
        val mq = MQ(backend = backend())
        val seen = ConcurrentLinkedQueue<String>()
        val flaky = AtomicInteger()
        mq.registerQueue<DeadLetter>("dlq", 1) { seen += "dead:" + it.data.failureMessage }
        mq.registerReplyingQueue<String, String>("jobs", QueueOptions(concurrency = 4, retry = RetryPolicy(maxAttempts = 3, initialBackoff = 10.milliseconds), deadLetterQueue = "dlq")) { m ->
            when (m.data) {
                "flaky" -> if (flaky.incrementAndGet() < 2) error("first try fails")
                "bad" -> error("always fails")
            }
            seen += m.data
            "done:" + m.data
        }
        mq.start()
        repeat(100) { mq.publish("jobs", "m$it") }
        mq.publish("jobs", "later", PublishOptions(delay = 300.milliseconds))
        mq.publish("jobs", "flaky")
        mq.publish("jobs", "bad")
        mq.request<String>("jobs", "asked", timeout = 10.seconds) shouldBe "done:asked"
        mq.awaitIdle()
        val handled = seen.filter { !it.startsWith("dead:") }
        handled.shouldContainExactlyInAnyOrder((0 until 100).map { "m$it" } + listOf("later", "flaky", "asked"))
        seen.filter { it.startsWith("dead:") } shouldBe listOf("dead:always fails")
        val stats = mq.stats("jobs")
        println(stats)
        stats.cluster!!.length shouldBe 0L
        mq.shutdown()
    }

    test("a closing bus drains what it took and gives the rest back to the others") {
        val prefix = "t${++prefixes}"
        fun bus(drain: kotlin.time.Duration) = MQ(
            drainTimeout = drain,
            backend = RedisStreams.builder(redis.uri).keyPrefix(prefix).visibilityTimeout(java.time.Duration.ofSeconds(30)).build(),
        )
        val handledByA = ConcurrentLinkedQueue<String>()
        val handledByB = ConcurrentLinkedQueue<String>()
        val a = bus(300.milliseconds)
        a.registerQueue<String>("work", 2) { m ->
            kotlinx.coroutines.delay(200)
            handledByA += m.data
        }
        a.start()
        repeat(20) { a.publish("work", "w$it") }
        kotlinx.coroutines.delay(250) // A is in its first handlers
        val summary = a.shutdown()
        val b = bus(10.seconds)
        b.registerQueue<String>("work", 4) { m -> handledByB += m.data }
        b.start()
        b.awaitIdle()
        b.shutdown()
        // Nothing lost: every message ran, in A or (given back at A's close, or never taken) in B.
        (handledByA + handledByB).toSet() shouldBe (0 until 20).map { "w$it" }.toSet()
        summary.queues["work"]!!.saved shouldBe a.stats("work").saved
        (handledByA.size + handledByB.size) shouldBe 20 // nothing crashed: nothing ran twice
    }

    test("a paused bus takes nothing new; resumed, it carries on") {
        val mq = MQ(backend = backend())
        val handled = ConcurrentLinkedQueue<String>()
        mq.registerQueue<String>("p", 2) { handled += it.data }
        mq.start()
        mq.pause("p")
        repeat(5) { mq.publish("p", "x$it") }
        kotlinx.coroutines.delay(700)
        handled.size shouldBe 0
        mq.stats("p").cluster!!.lag shouldBe 5L
        mq.resume("p")
        mq.awaitIdle()
        handled.size shouldBe 5
        mq.shutdown()
    }

    test("Redis restarted without persistence: the queue is created again and work resumes") {
        val mq = MQ(backend = RedisStreams.builder(redis.uri).keyPrefix("t${++prefixes}").publishTimeout(java.time.Duration.ofSeconds(2)).build())
        val handled = ConcurrentLinkedQueue<String>()
        mq.registerQueue<String>("r", 2) { handled += it.data }
        mq.start()
        mq.publish("r", "before")
        mq.awaitIdle()
        redis.restart() // no AOF: Redis comes back empty
        var published = false
        var attempts = 0
        while (!published && attempts++ < 50) {
            try {
                mq.publish("r", "after")
                published = true
            } catch (e: io.relaymq.BackendException) {
                kotlinx.coroutines.delay(100)
            }
        }
        published shouldBe true
        kotlinx.coroutines.withTimeout(20.seconds) { while ("after" !in handled) kotlinx.coroutines.delay(20) }
        mq.shutdown()
    }

    test("a retry waits in Redis and keeps counting its attempts, whichever bus runs it") {
        val prefix = "t${++prefixes}"
        val attempts = ConcurrentLinkedQueue<Pair<String, Int>>()
        val letters = ConcurrentLinkedQueue<DeadLetter>()
        fun bus(name: String): MQ {
            val mq = MQ(backend = RedisStreams.builder(redis.uri).keyPrefix(prefix).build())
            mq.registerQueue<DeadLetter>("dead", 1) { letters += it.data }
            mq.registerQueue<String>(
                "flaky",
                QueueOptions(concurrency = 2, retry = RetryPolicy(maxAttempts = 4, initialBackoff = 20.milliseconds), deadLetterQueue = "dead"),
            ) { m ->
                attempts += name to m.attempt
                if (m.data == "never" || m.attempt < 3) error("attempt ${m.attempt} fails")
            }
            mq.start()
            return mq
        }
        val a = bus("a")
        val b = bus("b")
        repeat(10) { a.publish("flaky", "job$it") }
        a.publish("flaky", "never")
        a.awaitIdle()
        // Each job ran attempts 1, 2, 3 once each (never restarting at 1), wherever it ran.
        attempts.filter { true }.size shouldBe 10 * 3 + 4
        attempts.map { it.second }.groupingBy { it }.eachCount() shouldBe mapOf(1 to 11, 2 to 11, 3 to 11, 4 to 1)
        letters.single().attempts shouldBe 4
        letters.single().failureMessage shouldBe "attempt 4 fails"
        val retried = a.stats("flaky").retried + b.stats("flaky").retried
        retried shouldBe 10L * 2 + 3
        a.stats("flaky").cluster!!.length shouldBe 0L
        a.shutdown()
        b.shutdown()
    }

    test("Kotlin: a publish-only bus publishes and requests; the worker bus runs the messages") {
        val prefix = "t${++prefixes}"
        val web = MQ(backend = RedisStreams.builder(redis.uri).keyPrefix(prefix).build())
        web.registerPublisher<String>("thumbnails")
        web.start()
        val worker = MQ(backend = RedisStreams.builder(redis.uri).keyPrefix(prefix).build())
        val made = ConcurrentLinkedQueue<String>()
        worker.registerReplyingQueue<String, String>("thumbnails", 2) { made += it.data; "thumb of ${it.data}" }
        worker.start()
        repeat(5) { web.publish("thumbnails", "img$it") }
        web.request<String>("thumbnails", "cat.png", timeout = 10.seconds) shouldBe "thumb of cat.png"
        web.awaitIdle()
        made.size shouldBe 6
        web.stats("thumbnails").delivered shouldBe 0L
        // A payload type without a codec cannot cross to Redis: refused at registration, saying what to do.
        val refused = kotlin.runCatching { web.registerPublisher<Int>("numbers") }.exceptionOrNull()
        (refused is IllegalArgumentException) shouldBe true
        refused!!.message!!.contains("pass a MessageCodec<Integer>") shouldBe true
        web.shutdown()
        worker.shutdown()
    }

    test("a healthy slow handler keeps its message past the visibility timeout: no other bus runs it") {
        val prefix = "t${++prefixes}"
        val runs = ConcurrentLinkedQueue<String>()
        fun bus(name: String) = MQ(
            backend = RedisStreams.builder(redis.uri).keyPrefix(prefix).visibilityTimeout(java.time.Duration.ofMillis(600)).build(),
        ).also { mq ->
            mq.registerQueue<String>("slow", 1) { m ->
                runs += "$name:${m.data}"
                if (m.data == "long") kotlinx.coroutines.delay(2_500) // four visibility timeouts
            }
            mq.start()
        }
        val a = bus("a")
        a.publish("slow", "long")
        kotlinx.coroutines.withTimeout(10.seconds) { while (runs.isEmpty()) kotlinx.coroutines.delay(10) }
        val b = bus("b") // idle, reclaiming every 150 ms: it must find nothing to take over
        b.awaitIdle()
        runs.toList() shouldBe listOf("a:long")
        a.shutdown()
        b.shutdown()
    }
})

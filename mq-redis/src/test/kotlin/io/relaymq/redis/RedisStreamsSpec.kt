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
})

package io.relaymq.redis

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.longs.shouldBeLessThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import io.relaymq.BackendException
import io.relaymq.MQ
import io.relaymq.MessageHandler
import io.relaymq.QueueOptions
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import java.net.Socket
import java.time.Duration
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

/**
 * Redis down at publish (issue 12): with `publishTimeout(1 s)`, a publish to a Redis that is not there
 * fails with [BackendException] whose message says what to check, and returns (bounded generously at
 * 3x the timeout); the bus still closes, bounded. Each test restarts Redis before it ends.
 */
class RedisDownSpec : FunSpec({
    val redis = TestRedis()
    afterSpec { redis.close() }
    val publishTimeout = Duration.ofSeconds(1)

    fun shouldSayWhatToCheck(e: Throwable) {
        e.shouldBeInstanceOf<BackendException>()
        e.message!! shouldContain "127.0.0.1:${redis.port}"
        e.message!! shouldContain "reachable"
    }

    test("publish to a stopped Redis fails with BackendException saying what to check; the bus still closes").config(timeout = 2.minutes) {
        // The Java door, as README shows it.
        val bus = JavaDoor.bus(redis.uri, "down1", publishTimeout, Duration.ofSeconds(5))
        bus.registerQueue("jobs", 1, MessageHandler<String> { })
        bus.start()
        bus.publish("jobs", "before").get(10, TimeUnit.SECONDS)
        redis.kill()
        try {
            val began = System.nanoTime()
            val failure = shouldThrow<ExecutionException> { bus.publish("jobs", "during").get(30, TimeUnit.SECONDS) }.cause!!
            elapsedMillis(began) shouldBeLessThan 3 * publishTimeout.toMillis()
            shouldSayWhatToCheck(failure)
            println("RedisDownSpec: ${failure.message}")

            val closing = System.nanoTime()
            val summary = withContext(Dispatchers.IO) { withTimeout(60.seconds) { bus.shutdown() } }
            summary.abandoned shouldBe 0L
            println("RedisDownSpec: closed in ${elapsedMillis(closing)} ms with Redis down: $summary")
            bus.stats("jobs").rejected shouldBe 1L
        } finally {
            redis.restart()
        }
    }

    test("the Kotlin door: publish and request to a stopped Redis fail with BackendException").config(timeout = 2.minutes) {
        val mq = MQ(backend = RedisStreams.builder(redis.uri).keyPrefix("down2").publishTimeout(publishTimeout).build(), drainTimeout = 5.seconds)
        mq.registerReplyingQueue<String, String>("jobs", 1) { "r:" + it.data }
        mq.start()
        mq.request<String>("jobs", "before", timeout = 30.seconds) shouldBe "r:before"
        redis.kill()
        try {
            var began = System.nanoTime()
            shouldSayWhatToCheck(shouldThrow<BackendException> { mq.publish("jobs", "during") })
            elapsedMillis(began) shouldBeLessThan 3 * publishTimeout.toMillis()
            began = System.nanoTime()
            shouldSayWhatToCheck(shouldThrow<BackendException> { mq.request<String>("jobs", "asked", timeout = 30.seconds) })
            elapsedMillis(began) shouldBeLessThan 3 * publishTimeout.toMillis()
            withTimeout(60.seconds) { mq.shutdown() }
        } finally {
            redis.restart()
        }
    }

    test("building a bus while Redis is down fails with BackendException, bounded").config(timeout = 2.minutes) {
        redis.kill()
        try {
            val began = System.nanoTime()
            val failure = withContext(Dispatchers.IO) {
                shouldThrow<BackendException> {
                    MQ(backend = RedisStreams.builder(redis.uri).keyPrefix("down3").publishTimeout(publishTimeout).build())
                }
            }
            elapsedMillis(began) shouldBeLessThan 30_000L
            failure.message!! shouldContain "127.0.0.1:${redis.port}"
            failure.message!! shouldContain "Is Redis running"
        } finally {
            redis.restart()
        }
    }

    /*
     * Regression (found by this test, fixed): a publish whose command was already sent when Redis died (connection reset) fails with
     * the raw java.net.SocketException("Connection reset"), not BackendException. Lettuce completes the
     * command in flight with the channel's IOException; RedisQueue.translate (RedisQueue.kt:284,
     * `else -> e`) passes anything that is not a RedisException through unchanged.
     * Made deterministic here: a busy script keeps Redis from reading, the publish waits unread in its
     * socket, and the kill makes the kernel reset the connection (unread data).
     */
    test("a publish in flight when Redis dies fails with BackendException").config(timeout = 2.minutes) {
        val mq = MQ(backend = RedisStreams.builder(redis.uri).keyPrefix("down4").publishTimeout(Duration.ofSeconds(5)).build(), drainTimeout = 5.seconds)
        mq.registerQueue<String>("jobs", 1) { }
        mq.publish("jobs", "before") // loads the publish script: the next publish is one EVALSHA
        val busy = Socket("127.0.0.1", redis.port)
        try {
            busy.getOutputStream().write(busyScript(millis = 3000))
            busy.getOutputStream().flush()
            delay(300) // Redis is inside the script now
            val publish = async(Dispatchers.IO) { runCatching { mq.publish("jobs", "in flight") } }
            delay(300) // the publish is written, unread
            val began = System.nanoTime()
            redis.kill()
            val failure = withTimeout(30.seconds) { publish.await() }.exceptionOrNull()
            println("RedisDownSpec: a publish in flight at the kill failed ${elapsedMillis(began)} ms after it with $failure")
            failure.shouldBeInstanceOf<BackendException>()
        } finally {
            busy.close()
            redis.restart()
            withTimeout(60.seconds) { mq.shutdown() }
        }
    }

    test("close while Redis is down and handled messages wait for their acknowledgement: bounded; another bus gets them after the visibility timeout")
        .config(timeout = 2.minutes) {
            TestRedis(aof = true).use { redis -> closeWithRedisDown(redis, publishTimeout) }
        }
})

/** Messages survive a Redis kill only with AOF: this test has its own Redis. */
private suspend fun closeWithRedisDown(redis: TestRedis, publishTimeout: Duration) {
    fun backend(name: String) = RedisStreams.builder(redis.uri).keyPrefix("down5").consumerName(name)
        .publishTimeout(publishTimeout).visibilityTimeout(Duration.ofSeconds(1)).build()
    val first = MQ(backend = backend("first"), drainTimeout = 3.seconds)
    val handledFirst = ConcurrentLinkedQueue<String>()
    val gate = CompletableDeferred<Unit>()
    first.registerQueue<String>("jobs", QueueOptions(concurrency = 4)) { m ->
        gate.await() // finish only once Redis is gone: the acknowledgements cannot be sent
        handledFirst += m.data
    }
    first.start()
    for (i in 0 until 4) first.publish("jobs", "m$i")
    withTimeout(30.seconds) { while (first.stats("jobs").inFlight < 4) delay(20) }
    redis.kill()
    gate.complete(Unit)
    val began = System.nanoTime()
    val summary = try {
        withTimeout(60.seconds) { first.shutdown() }
    } finally {
        redis.restart()
    }
    println("RedisDownSpec: close with Redis down took ${elapsedMillis(began)} ms: $summary")
    summary.abandoned shouldBe 0L
    handledFirst.toSet() shouldBe (0 until 4).map { "m$it" }.toSet()

    // Redis is back: the messages were never acknowledged, so another bus handles them again (at-least-once).
    val second = MQ(backend = backend("second"))
    val handledSecond = ConcurrentLinkedQueue<String>()
    second.registerQueue<String>("jobs", QueueOptions(concurrency = 4)) { m -> handledSecond += m.data }
    second.start()
    withTimeout(60.seconds) { second.awaitIdle() }
    second.shutdown()
    handledSecond.toSet() shouldBe (0 until 4).map { "m$it" }.toSet()
}

private fun elapsedMillis(began: Long) = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began)

/** `EVAL` of a script that keeps Redis busy for [millis] (Redis answers BUSY to others only after 5 s). */
private fun busyScript(millis: Long): ByteArray = resp(
    "EVAL",
    "local t=redis.call('TIME') local s=t[1]*1000+t[2]/1000 " +
        "while true do local n=redis.call('TIME') if n[1]*1000+n[2]/1000-s > $millis then break end end return 1",
    "0",
)

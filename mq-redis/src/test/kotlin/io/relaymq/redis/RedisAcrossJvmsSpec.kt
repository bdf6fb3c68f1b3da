package io.relaymq.redis

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldNotContain
import io.kotest.matchers.longs.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldNotContain
import io.relaymq.MQ
import io.relaymq.PublishOptions
import io.relaymq.RemoteHandlerException
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.delay
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

/**
 * Requests and delayed messages across two JVMs (issue 12). The handlers run in a [RedisChild]; this
 * JVM's bus registers the same queue but never starts, so its handler never runs: everything it gets
 * back crossed from the child.
 */
class RedisAcrossJvmsSpec : FunSpec({
    val redis = TestRedis()
    val child by lazy {
        ChildJvm("uri=${redis.uri}", "prefix=across", "queue=ask", "visibility=5000", "concurrency=2", "mode=reply").also { it.awaitReady() }
    }
    val mq by lazy {
        MQ(backend = RedisStreams.builder(redis.uri).keyPrefix("across").build()).apply {
            registerReplyingQueue<String, String>("ask", 1) { error("this bus never starts: its handler must not run") }
        }
    }
    afterSpec {
        mq.shutdown()
        child.shutdown()
        child.close()
        redis.close()
    }

    test("a request whose handler runs in the other JVM: the result crosses back; a failure is a RemoteHandlerException").config(timeout = 2.minutes) {
        child // started
        mq.request<String>("ask", "x", timeout = 60.seconds) shouldBe "r:x"
        val answers = (0 until 20).map { i -> async { mq.request<String>("ask", "q$i", timeout = 60.seconds) } }.awaitAll()
        answers shouldBe (0 until 20).map { "r:q$it" } // each to its own requester
        val failure = shouldThrow<RemoteHandlerException> { mq.request<String>("ask", "fail1", timeout = 60.seconds) }
        failure.queueName shouldBe "ask"
        failure.failureClass shouldBe IllegalStateException::class.java.name
        failure.failureMessage shouldBe "boom fail1"
        failure.messageId shouldBeGreaterThan 0L
        child.handled().toSet() shouldBe (listOf("x", "fail1") + (0 until 20).map { "q$it" }).toSet()
    }

    test("delayed messages published by one JVM are handled by the other once due, not before; requests too").config(timeout = 2.minutes) {
        val dueAt = HashMap<String, Long>()
        for (i in 0 until 20) {
            dueAt["d$i"] = System.currentTimeMillis() + 1500 // the bus reads its clock after this: the real due time is no earlier
            mq.publish("ask", "d$i", PublishOptions(delay = 1500.milliseconds))
        }
        val asked = System.currentTimeMillis() + 1000
        mq.request<String>("ask", "dr", timeout = 60.seconds, options = PublishOptions(delay = 1.seconds)) shouldBe "r:dr"
        dueAt["dr"] = asked
        child.await("the delayed messages handled") { lines -> dueAt.keys.all { d -> lines.any { it.startsWith("handled ") && it.split(' ')[2] == d } } }
        val early = child.lines("handled").filter { it[1] in dueAt }.filter { it[2].toLong() < dueAt.getValue(it[1]) }
        early.shouldBeEmpty()

        // One due in an hour waits in the store's delayed set, seen by every bus.
        mq.publish("ask", "far", PublishOptions(delay = 1.hours))
        val cluster = mq.stats("ask").cluster!!
        cluster.delayed shouldBe 1L
        cluster.length shouldBe 1L
        cluster.lag shouldBe 0L
        cluster.pending shouldBe 0L
        child.lines("handled").map { it[1] } shouldNotContain "far"
    }

    /*
     * Regression (found by this test, fixed): publishTimeout is also Lettuce's timeout for the blocking reads (RedisBackend.kt:59, TimeoutOptions.enabled(timeout)):
     * below the fetch's XREADGROUP BLOCK (500 ms, RemoteFeed.FETCH_WAIT) every idle fetch fails with a command timeout, and below the reply
     * listener's BLPOP 1 s (RedisReplies.kt:32) every idle poll does; both then back off up to 5 s. Worse, a command Lettuce gave up on
     * is still blocked in Redis: the next outcome pushed to the reply list is popped by it and discarded by Lettuce, so the request
     * never gets its answer (seen: the handler ran, LLEN of the reply list is 0, no answer in 20 s). A timed-out XREADGROUP likewise
     * takes messages into this consumer's pending list unseen (they wait for the visibility timeout). At exactly 1 s (the value
     * issue 12's own test uses) the BLPOP races its timeout.
     * The builder accepts any positive publishTimeout and says nothing about this.
     */
    test("a publishTimeout below the blocking reads' waits: idle fetches and the reply listener do not fail, no outcome is lost").config(timeout = 2.minutes) {
        ChildJvm(
            "uri=${redis.uri}", "prefix=short", "queue=short", "timeout=300", "concurrency=2", "consumer=shortc",
            jvmOptions = listOf("-Dorg.slf4j.simpleLogger.log.io.relaymq=warn"),
        ).use { short ->
            short.awaitReady()
            short.send("request 1 warm") // opens the reply listener
            short.await("'request-done warm'") { "request-done warm" in it }
            delay(2500) // idle: the fetcher and the reply listener wait in Redis
            short.send("publish 5 p")
            short.send("request 3 r")
            short.await("5 published messages handled") { lines -> (0 until 5).all { i -> lines.any { it.startsWith("handled ") && it.split(' ')[2] == "p$i" } } }
            try {
                short.await("'request-done r'", seconds = 20) { "request-done r" in it }
            } catch (e: AssertionError) {
                // Where did the outcome go? Not left in the reply list: popped by a BLPOP that Lettuce had already given up on.
                throw AssertionError(
                    "${e.message}\nRedis: LLEN short:replies:shortc = ${respCommand(redis.port, "LLEN", "short:replies:shortc")}",
                    e,
                )
            } finally {
                println("RedisAcrossJvmsSpec: warnings of the child with publishTimeout 300 ms:\n" + short.stderr().lines().filter { "WARN" in it }.take(6).joinToString("\n"))
            }
            short.shutdown()
            short.lines("request-failed").shouldBeEmpty()
            val stderr = short.stderr()
            stderr shouldNotContain "fetching messages from the backend failed"
            stderr shouldNotContain "waiting for request outcomes failed"
        }
    }
})

package io.relaymq.redis

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.ints.shouldBeGreaterThanOrEqual
import io.kotest.matchers.shouldBe
import io.relaymq.MQ
import io.relaymq.QueueOptions
import kotlinx.coroutines.delay
import kotlinx.coroutines.withTimeout
import java.time.Duration
import java.util.concurrent.ConcurrentLinkedQueue
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

/**
 * Two JVMs share one queue (issue 12): this one and a [RedisChild]. Both publish at the same time and
 * both handle; nothing crashes, so every message is handled exactly once, by one of them, and each
 * does a real share of the work. Handled messages are recorded here and on the child's stdout.
 */
class RedisSharingSpec : FunSpec({
    val redis = TestRedis()
    afterSpec { redis.close() }

    test("two JVMs on one queue: both publish, both handle, every message handled exactly once").config(timeout = 2.minutes) {
        val perSide = 600
        ChildJvm("uri=${redis.uri}", "prefix=share", "queue=work", "visibility=5000", "concurrency=4", "work=5").use { child ->
            child.awaitReady()
            val here = ConcurrentLinkedQueue<String>()
            val mq = MQ(backend = RedisStreams.builder(redis.uri).keyPrefix("share").visibilityTimeout(Duration.ofSeconds(5)).build())
            mq.registerQueue<String>("work", QueueOptions(concurrency = 4)) { m ->
                delay(5)
                here += m.data
            }
            mq.start()
            child.send("publish $perSide c")
            val ids = ArrayList<Long>()
            for (i in 0 until perSide) ids += mq.publish("work", "p$i")
            child.await("'publish-done c'") { "publish-done c" in it }
            // Idle on a remote bus: this bus holds nothing and the store holds nothing (the child acknowledged all).
            withTimeout(60.seconds) { mq.awaitIdle() }
            mq.stats("work").cluster!!.length shouldBe 0L
            val summary = mq.shutdown()
            summary.abandoned shouldBe 0L
            child.shutdown()

            child.lines("publish-failed").shouldBeEmpty()
            ids += child.lines("published").map { it[0].toLong() }
            ids.toSet().size shouldBe 2 * perSide // ids are unique across both buses

            val there = child.handled()
            val published = (0 until perSide).flatMap { listOf("p$it", "c$it") }.toSet()
            val all = here + there
            all.groupingBy { it }.eachCount().filterValues { it > 1 }.keys.shouldBeEmpty() // handled once: by one JVM, once there
            all.toSet() shouldBe published
            println("RedisSharingSpec: this JVM handled ${here.size}, the child ${there.size}")
            here.size shouldBeGreaterThanOrEqual published.size / 10
            there.size shouldBeGreaterThanOrEqual published.size / 10
        }
    }
})

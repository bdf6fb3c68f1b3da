package io.relaymq.internal

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.property.Arb
import io.kotest.property.arbitrary.list
import io.kotest.property.arbitrary.long
import io.kotest.property.checkAll
import io.relaymq.MQ
import io.relaymq.Message
import java.time.Clock
import java.time.Instant
import java.time.ZoneId
import java.time.ZoneOffset
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

/** A clock the test moves by hand, forwards and backwards. */
private class HandClock(@Volatile var now: Long) : Clock() {
    override fun getZone(): ZoneId = ZoneOffset.UTC
    override fun withZone(zone: ZoneId?): Clock = this
    override fun millis(): Long = now
    override fun instant(): Instant = Instant.ofEpochMilli(now)
}

class QueueOriginSpec : FunSpec({
    test("every id and publish time survives packing, whatever the jumps between them") {
        val steps = Arb.list(Arb.long(-5_000_000L..5_000_000L), 1..200)
        checkAll(500, steps, steps, Arb.long(0L..Long.MAX_VALUE / 2)) { idSteps, timeSteps, start ->
            val origins = Origins("q")
            var id = 1L
            var time = start
            for (i in idSteps.indices) {
                id = maxOf(1L, id + idSteps[i])
                time += timeSteps[i % timeSteps.size]
                val origin = origins.originFor(id, time)
                val message = Message(origin, "x", origin.pack(id, time))
                message.id shouldBe id
                message.publishedAtMillis shouldBe time
                message.queue shouldBe "q"
            }
        }
    }

    test("ids and times a little behind the current origin's start still fit in it (racing publishers share it)") {
        val origins = Origins("q")
        val first = origins.originFor(1_000_000L, 5_000_000L)
        origins.originFor(1_000_000L - QueueOrigin.ID_SLACK, 5_000_000L - QueueOrigin.TIME_SLACK) shouldBe first
        origins.originFor(1_000_000L + QueueOrigin.MAX_ID_OFFSET - QueueOrigin.ID_SLACK, 5_000_000L) shouldBe first
        (origins.originFor(1_000_000L + QueueOrigin.MAX_ID_OFFSET, 5_000_000L) === first) shouldBe false
    }

    test("a queue keeps every message's id and publish time across clock jumps and many origins") {
        val clock = HandClock(1_700_000_000_000L)
        val seen = ConcurrentLinkedQueue<Pair<Long, Long>>()
        val mq = MQ(clock = clock)
        val expected = ArrayList<Pair<Long, Long>>()
        val total = 1_200_000 // more ids than one origin covers
        val done = CountDownLatch(total)
        mq.registerQueue<String>("q", 1) {
            if (it.id % 1000 == 1L || it.id > total - 5) seen.add(it.id to it.publishedAt.toEpochMilli())
            done.countDown()
        }
        mq.start()
        val jumps = longArrayOf(1, 4_095, 4_096, 10_000, -1, -3_600_000, 30L * 24 * 3_600_000, 0)
        for (i in 1..total) {
            if (i % 150_000 == 0) clock.now += jumps[(i / 150_000) % jumps.size]
            val id = mq.publish("q", "m")
            id shouldBe i.toLong()
            if (i % 1000 == 1 || i > total - 5) expected.add(id to clock.now)
        }
        done.await(2, TimeUnit.MINUTES) shouldBe true
        mq.close()
        seen.sortedBy { it.first } shouldBe expected
    }

    test("concurrent publishers get unique ids and their own publish times") {
        val clock = HandClock(0L)
        val mq = MQ(clock = clock)
        val seen = ConcurrentLinkedQueue<Message<String>>()
        mq.registerQueue<String>("q", 2) { seen.add(it) }
        mq.start()
        val publishers = (1..4).map { p ->
            thread {
                var last = 0L
                repeat(100_000) { i ->
                    if (p == 1 && i % 10_000 == 0) clock.now += 5_000 // outgrows an origin's time span
                    val id = kotlinx.coroutines.runBlocking { mq.publish("q", "$p:$i") }
                    (id > last) shouldBe true
                    last = id
                }
            }
        }
        publishers.forEach { it.join() }
        mq.close()
        val ids = seen.map { it.id }
        ids.toSet().size shouldBe 400_000
        ids.max() shouldBe 400_000L
        seen.all { it.publishedAt.toEpochMilli() in 0L..clock.now && it.publishedAt.toEpochMilli() % 5_000 == 0L } shouldBe true
    }
})

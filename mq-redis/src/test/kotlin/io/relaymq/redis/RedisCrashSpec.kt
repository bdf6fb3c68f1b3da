package io.relaymq.redis

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldNotBeEmpty
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
 * Kill -9 of a JVM that holds messages mid-handling (issue 12): a [RedisChild] with slow handlers (3 s)
 * takes messages and is killed (SIGKILL) while it handles them; this JVM's bus, with a 1.5-s visibility
 * timeout, takes over what the dead one held once its claims lapse, and finishes everything. Every
 * message is handled at least once; a message is handled twice only if the dead JVM had taken it.
 */
class RedisCrashSpec : FunSpec({
    val redis = TestRedis()
    afterSpec { redis.close() }

    test("kill -9 mid-handling: the survivor takes over what the dead JVM held, every message handled, duplicates only among those").config(timeout = 2.minutes) {
        ChildJvm("uri=${redis.uri}", "prefix=crash", "queue=work", "visibility=1500", "concurrency=4", "work=3000").use { child ->
            child.awaitReady()
            val survivorHandled = ConcurrentLinkedQueue<String>()
            val survivor = MQ(backend = RedisStreams.builder(redis.uri).keyPrefix("crash").visibilityTimeout(Duration.ofMillis(1500)).build())
            survivor.registerQueue<String>("work", QueueOptions(concurrency = 4)) { m ->
                delay(20)
                survivorHandled += m.data
            }
            val published = (0 until 48).map { "m$it" }
            // First only the child consumes (this bus publishes before it starts): it takes 4 and handles them for 3 s.
            for (data in published.take(8)) survivor.publish("work", data)
            child.await("4 handlers running") { lines -> lines.count { it.startsWith("start ") } >= 4 }
            survivor.start()
            for (data in published.drop(8)) survivor.publish("work", data)

            child.kill() // SIGKILL while its handlers sleep
            val started = child.started()
            val heldAtDeath = started - child.handled().toSet()
            heldAtDeath.shouldNotBeEmpty() // the kill did land mid-handling

            // The survivor takes them over after the visibility timeout and finishes everything.
            withTimeout(60.seconds) { survivor.awaitIdle() }
            val stats = survivor.stats("work")
            stats.cluster!!.length shouldBe 0L
            stats.cluster!!.pending shouldBe 0L
            // The dead consumer stops counting once it has been silent for a visibility timeout.
            withTimeout(30.seconds) {
                while (survivor.stats("work").cluster!!.consumers != 1) delay(100)
            }
            survivor.shutdown().abandoned shouldBe 0L

            val all = survivorHandled.toList() + child.handled()
            all.toSet() shouldBe published.toSet() // every message handled at least once
            heldAtDeath.filterNot { it in survivorHandled }.shouldBeEmpty() // what the dead JVM held was finished here
            val twice = all.groupingBy { it }.eachCount().filterValues { it > 1 }.keys
            twice.filterNot { it in started }.shouldBeEmpty() // duplicates only among what the dead JVM had taken
            println("RedisCrashSpec: the child took ${started.size} (finished ${child.handled().size}), held ${heldAtDeath.size} at its death; " +
                "the survivor handled ${survivorHandled.size}; handled twice: $twice")
        }
    }
})

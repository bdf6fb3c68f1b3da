package io.relaymq.internal

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import io.relaymq.QueueOptions
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

/** The live threads of [queue]'s own pool. */
private fun threadsOf(queue: String): List<Thread> =
    Thread.getAllStackTraces().keys.filter { it.name.startsWith("relaymq-$queue-") }

class QueueThreadsSpec : FunSpec({

    test("a crash for testing ends the queue's threads at once, interrupting a blocked handler") {
        val bus = Bus(BusSettings())
        val entered = CountDownLatch(1)
        val seen = CompletableFuture<Throwable?>()
        bus.register<Int>("crashing", QueueOptions(concurrency = 2), null, {
            entered.countDown()
            try {
                CountDownLatch(1).await() // until interrupted
                seen.complete(null)
            } catch (e: InterruptedException) {
                seen.complete(e)
                throw e
            }
        }, blocking = true)
        bus.start()
        bus.publishAsync("crashing", 1, null, null, 0L)
        entered.await(30, TimeUnit.SECONDS) shouldBe true
        threadsOf("crashing").size shouldBe 2 // one per consumer: both started
        bus.crashForTesting()
        seen.get(30, TimeUnit.SECONDS).shouldBeInstanceOf<InterruptedException>()
        for (thread in threadsOf("crashing")) thread.join(30_000) // bounded join, no sleep
        threadsOf("crashing").shouldBeEmpty()
    }

    test("threads take the lowest free number, and a resize changes how many may exist") {
        val threads = QueueThreads("numbered", 2)
        val names = java.util.concurrent.ConcurrentHashMap.newKeySet<String>()
        val release = CountDownLatch(1)
        val running = CountDownLatch(3)
        threads.resize(3)
        threads.size shouldBe 3
        repeat(3) {
            threads.dispatcher.dispatch(kotlin.coroutines.EmptyCoroutineContext, Runnable {
                names += Thread.currentThread().name
                running.countDown()
                release.await()
            })
        }
        running.await(30, TimeUnit.SECONDS) shouldBe true
        names shouldBe setOf("relaymq-numbered-1", "relaymq-numbered-2", "relaymq-numbered-3")
        threads.resize(1)
        threads.size shouldBe 1
        threads.resize(0)
        threads.size shouldBe 1 // never below one
        release.countDown()
        threads.shutdown()
        for (thread in threadsOf("numbered")) thread.join(30_000)
        threadsOf("numbered").shouldBeEmpty()
    }
})

package io.relaymq

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.future.await
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.currentTime
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withContext
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.milliseconds

/**
 * Kotlin side of the close-from-own-handler matrix (the Java side is `OwnHandlerCloseTest`): every
 * handler kind × every close method × every place in the handler's code. Each close must be refused
 * with IllegalStateException at once, and the bus must go on working. The drain timeout is one hour:
 * a close that is not refused would wait for its own handler that long (the suspending one on virtual
 * time, where "at once" means no virtual time passed; the blocking one on real threads, where it would
 * hang the handler and the bounded wait for its outcome fails).
 */
class OwnHandlerCloseSpec : FunSpec({

    for (kind in Kind.entries) {
        for (where in Where.entries) {
            test("$kind handler, shutdown() ${where.text}: refused at once (virtual time)") {
                runTest {
                    val mq = MQ(dispatcher = StandardTestDispatcher(testScheduler), drainTimeout = 1.hours)
                    val outcome = CompletableFuture<Throwable?>()
                    kind.register(mq) { outcome.complete(where.attempt { mq.shutdown() }) }
                    mq.start()
                    mq.publish("q", "close-me")
                    val thrown = outcome.await()
                    thrown.shouldBeInstanceOf<IllegalStateException>()
                    (thrown is BusClosedException) shouldBe false
                    (currentTime < 1.hours.inWholeMilliseconds) shouldBe true // not after waiting out the drain timeout
                    stillWorks(mq)
                }
            }

            test("$kind handler, blocking close() ${where.text}: refused at once (real threads)") {
                val mq = MQ(dispatcher = Dispatchers.Default, drainTimeout = 1.hours)
                val outcome = CompletableFuture<Throwable?>()
                kind.register(mq) { outcome.complete(where.attempt { mq.close() }) }
                mq.start()
                mq.publish("q", "close-me")
                // Bounded only so that a failure does not hang the build: a close that is not refused
                // blocks for the one-hour drain timeout.
                val thrown = withContext(Dispatchers.IO) { outcome.get(60, TimeUnit.SECONDS) }
                thrown.shouldBeInstanceOf<IllegalStateException>()
                (thrown is BusClosedException) shouldBe false
                stillWorks(mq)
            }
        }
    }
})

/** Kotlin handler kinds: a plain queue and a replying queue. */
private enum class Kind {
    PLAIN {
        override fun register(mq: MQ, onCloseMe: suspend () -> Unit) =
            mq.registerQueue<String>("q") { if (it.data == "close-me") onCloseMe() }
    },
    REPLYING {
        override fun register(mq: MQ, onCloseMe: suspend () -> Unit) =
            mq.registerReplyingQueue<String, Int>("q") {
                if (it.data == "close-me") onCloseMe()
                it.data.length
            };
    };

    abstract fun register(mq: MQ, onCloseMe: suspend () -> Unit)
}

/** Where in the handler's code the close is called. */
private enum class Where(val text: String) {
    BEFORE_SUSPENSION("before its first suspension") {
        override suspend fun place(close: suspend () -> Throwable?) = close()
    },
    AFTER_SUSPENSION("after it suspended and resumed") {
        override suspend fun place(close: suspend () -> Throwable?): Throwable? {
            delay(1.milliseconds)
            return close()
        }
    },
    CHILD_COROUTINE("in a coroutine it started in its own scope, after a suspension") {
        override suspend fun place(close: suspend () -> Throwable?): Throwable? = coroutineScope {
            async {
                delay(1.milliseconds)
                close()
            }.await()
        }
    },
    OTHER_DISPATCHER("in withContext(Dispatchers.IO)") {
        override suspend fun place(close: suspend () -> Throwable?): Throwable? = withContext(Dispatchers.IO) { close() }
    };

    abstract suspend fun place(close: suspend () -> Throwable?): Throwable?

    /** Calls [close] at this place; what it threw, or `null` when it returned. */
    suspend fun attempt(close: suspend () -> Unit): Throwable? = place {
        try {
            close()
            null
        } catch (e: Throwable) {
            e
        }
    }
}

/** The refused close left the bus running: it takes and handles a message, and closes from outside. */
private suspend fun stillWorks(mq: MQ) {
    mq.publish("q", "after")
    mq.awaitIdle()
    mq.stats("q").succeeded shouldBe 2
    mq.shutdown().abandoned shouldBe 0
}

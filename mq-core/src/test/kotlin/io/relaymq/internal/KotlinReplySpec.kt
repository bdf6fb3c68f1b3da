package io.relaymq.internal

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.test.runTest
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread

class KotlinReplySpec : FunSpec({
    test("an outcome set before the wait is returned at once; only the first outcome counts") {
        runTest {
            val reply = KotlinReply()
            reply.complete("first") shouldBe true
            reply.complete("second") shouldBe false
            reply.completeExceptionally(IllegalStateException()) shouldBe false
            reply.await<String>() shouldBe "first"
        }
    }

    test("a waiting requester gets the result or the failure set later") {
        runTest {
            val ok = KotlinReply()
            val failed = KotlinReply()
            val a = async { ok.await<Int?>() }
            val b = async { runCatching { failed.await<Int>() } }
            testScheduler.runCurrent()
            ok.complete(null)
            failed.completeExceptionally(IllegalArgumentException("boom"))
            a.await() shouldBe null
            b.await().exceptionOrNull()!!.message shouldBe "boom"
        }
    }

    test("a requester that stops waiting withdraws its message once and gets the cancellation") {
        runTest {
            val reply = KotlinReply()
            val withdrawn = AtomicInteger()
            reply.message = io.relaymq.Message("q", "m")
            reply.withdraw = { withdrawn.incrementAndGet() }
            val done = AtomicInteger()
            reply.invokeOnCompletion { done.incrementAndGet() }
            val waiting = async { runCatching { reply.await<String>() } }
            testScheduler.runCurrent()
            waiting.cancel()
            testScheduler.runCurrent()
            waiting.isCancelled shouldBe true
            withdrawn.get() shouldBe 1
            done.get() shouldBe 1
            reply.complete("late") shouldBe false // a handler that ends afterwards changes nothing
            reply.isDone shouldBe true
        }
    }

    test("completion racing with the wait on real threads: every requester gets its result") {
        repeat(2_000) { i ->
            val reply = KotlinReply()
            val completer = thread { reply.complete(i) }
            runBlocking { reply.await<Int>() } shouldBe i
            completer.join()
        }
    }
})

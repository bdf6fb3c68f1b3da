package io.relaymq.internal

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.relaymq.Message
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.ClosedReceiveChannelException
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.runTest

/** What a consumer does: poll, else wait; `null` once closed and empty. */
/** The one consumer's take counter of each relay (a consumer registers its counter once). */
private val consumers = java.util.Collections.synchronizedMap(java.util.WeakHashMap<ChannelRelay<*>, TakeCounter>())

private suspend fun ChannelRelay<String>.next(): Message<*>? {
    val consumer = consumers.getOrPut(this) { TakeCounter().also(::registerTakeCounter) }
    poll(consumer)?.let { return it }
    if (!prepareToWait {}) return null
    val raw = try {
        awaitNext()
    } catch (e: ClosedReceiveChannelException) {
        return null
    }
    return accept(raw, consumer) as Message<*>
}

private fun msg(id: Long) = Message(QueueOrigin("q", 0L, 0L), "m$id", (id shl QueueOrigin.TIME_BITS).toInt())

class ChannelRelaySpec : FunSpec({

    test("hands messages out in offer order and ends with null once closed and empty") {
        runTest {
            val relay = ChannelRelay<String>("q", outboxCapacity = 4, batchLimit = 3)
            (1L..20L).forEach { relay.offer(msg(it)) shouldBe true }
            val scope = CoroutineScope(StandardTestDispatcher(testScheduler) + Job())
            relay.start(scope)
            relay.closeForPublishing()
            relay.offer(msg(99)) shouldBe false
            relay.finishInput()
            relay.offer(msg(100), internal = true) shouldBe false
            val taken = generateSequence { null }.toMutableList<Long>()
            while (true) taken += (relay.next() ?: break).id
            taken shouldContainExactly (1L..20L).toList()
        }
    }

    test("cancelled mid-flight, nothing is lost: taken + undelivered = offered, no id twice among taken") {
        for (takeCount in listOf(0, 1, 3, 7, 15, 40)) {
            runTest {
                val relay = ChannelRelay<String>("q", outboxCapacity = 4, batchLimit = 5)
                val job = Job()
                val scope = CoroutineScope(StandardTestDispatcher(testScheduler) + job)
                val relayJob = relay.start(scope)
                (1L..30L).forEach { relay.offer(msg(it)) }
                val taken = mutableListOf<Long>()
                val consumer = scope.launch {
                    repeat(takeCount) { taken += (relay.next() ?: return@launch).id }
                }
                testScheduler.runCurrent()
                (11L..25L).forEach { relay.offer(msg(it + 100)) }
                testScheduler.runCurrent()
                consumer.cancelAndJoin()
                relayJob.cancelAndJoin()
                val undelivered = relay.drainUndelivered().map { it.id }.toSet()
                taken.toSet().size shouldBe taken.size
                (taken.toSet() intersect undelivered) shouldBe emptySet()
                (taken.toSet() + undelivered) shouldBe ((1L..30L) + (111L..125L)).toSet()
            }
        }
    }
})

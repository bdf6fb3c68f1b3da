package io.relaymq.internal

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.shouldNotBe
import io.relaymq.Message
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.cancel
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

    test("pollOldest takes the oldest wherever it waits (channel, backlog buffer, inbox), in order") {
        runTest {
            val relay = ChannelRelay<String>("q", outboxCapacity = 2, batchLimit = 2)
            val scope = CoroutineScope(StandardTestDispatcher(testScheduler) + Job())
            relay.start(scope)
            (1L..7L).forEach { relay.offer(msg(it)) shouldBe true }
            testScheduler.runCurrent() // the relay moves what the channel cannot take into its buffer
            (8L..9L).forEach { relay.offer(msg(it)) shouldBe true } // behind the backlog: in the inbox
            val dropped = generateSequence { relay.pollOldest()?.id }.toList()
            dropped shouldContainExactly (1L..9L).toList()
            relay.pollOldest() shouldBe null
            relay.offer(msg(10)) shouldBe true // no backlog left: straight to the consumers' channel
            relay.next()?.id shouldBe 10L
            scope.cancel()
        }
    }

    test("pollOldest leaves wake-ups meant for consumers in place") {
        runTest {
            val relay = ChannelRelay<String>("q", outboxCapacity = 4)
            val scope = CoroutineScope(StandardTestDispatcher(testScheduler) + Job())
            relay.start(scope)
            relay.wakeConsumers(1) // a shrink or a close, while its consumer is about to wait
            relay.pollOldest() shouldBe null // a full DROP_OLDEST queue looks for something to drop
            relay.prepareToWait {} shouldBe true
            val counter = TakeCounter().also(relay::registerTakeCounter)
            relay.accept(relay.awaitNext(), counter) shouldBe TakeInterrupted // the consumer still wakes
            scope.cancel()
        }
    }

    test("a consumer that stopped keeps its takes in the sum, and its counter is no longer read") {
        val relay = ChannelRelay<String>("q", outboxCapacity = 8)
        val first = TakeCounter().also(relay::registerTakeCounter)
        val second = TakeCounter().also(relay::registerTakeCounter)
        (1L..5L).forEach { relay.offer(msg(it)) }
        repeat(3) { relay.poll(first) shouldNotBe null }
        repeat(2) { relay.poll(second) shouldNotBe null }
        relay.retireTakeCounter(first)
        relay.takesSum() shouldBe 5L
        relay.takeCounters shouldContainExactly listOf(second)
        relay.retireTakeCounter(first) // twice: counted once
        relay.takesSum() shouldBe 5L
    }
})

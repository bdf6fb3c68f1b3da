package io.relaymq.internal

import io.relaymq.Message
import io.relaymq.NoExceptionVerifier
import io.relaymq.atomic
import io.relaymq.ensure
import io.relaymq.scaled
import kotlinx.coroutines.CompletableDeferred
import org.jetbrains.kotlinx.lincheck.annotations.Operation
import org.jetbrains.kotlinx.lincheck.annotations.Param
import org.jetbrains.kotlinx.lincheck.annotations.Validate
import org.jetbrains.kotlinx.lincheck.check
import org.jetbrains.kotlinx.lincheck.paramgen.BooleanGen
import org.jetbrains.kotlinx.lincheck.paramgen.IntGen
import org.jetbrains.kotlinx.lincheck.strategy.managed.modelchecking.ModelCheckingOptions
import org.junit.jupiter.api.Test
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicLong

/*
 * Model checking of KeyLocks, per-key ordering, driven the way QueueEngine drives it:
 * - publish: take the next id, register it in its key's line, then put the message into the queue
 *   (a ConcurrentLinkedQueue stands in for the transport);
 * - consume: take a message; a withdrawn one (its requester gave up) leaves its line with deregister and
 *   hands back the message that now heads it, if parked, to requeue; otherwise tryAcquire, and when that
 *   succeeds run it, release, and run what release hands back, and so on; when it fails the message is
 *   parked inside KeyLocks;
 * - dropOldest: a DROP_OLDEST publisher takes the oldest message and drops it (deregister + requeue).
 * Properties: a message runs only at the head of its line (every earlier message of its key has ended),
 * never two of a key at once, each at most once; at the end (everything consumed) every message ran or
 * was withdrawn/dropped, and nothing stays parked.
 */

private fun keyOf(k: Int) = "k$k"

/** A keyed message; a [withdrawn] one has a requester that already gave up (its reply is completed). */
private fun keyed(id: Long, key: String, withdrawn: Boolean): Message<String> {
    val reply = if (withdrawn) CompletableDeferred<Any?>().apply { cancel() } else null
    return RichMessage(QueueOrigin("q", 0L, 0L), "m$id", (id shl QueueOrigin.TIME_BITS).toInt(), reply, key, 1, 0L, RichMessage.NEVER_FAILED)
}

/** What the test knows: each key's line in publish order, and what ran or ended. Model checking treats it as atomic. */
private class KeyLedger {
    private val lines = HashMap<String, MutableList<Long>>()
    private val ended = HashSet<Long>()
    private val running = HashSet<String>()

    fun registered(key: String, id: Long) {
        lines.getOrPut(key) { mutableListOf() } += id
    }

    fun starts(key: String, id: Long) {
        val earlier = lines.getValue(key).takeWhile { it != id }
        ensure(key !in running) { "message $id of $key runs while another message of $key runs" }
        ensure(ended.containsAll(earlier)) { "message $id of $key runs before ${earlier - ended} of the same key ended" }
        ensure(id !in ended) { "message $id ran twice" }
        running += key
    }

    fun finishes(key: String, id: Long) {
        running -= key
        ended += id
    }

    fun ended(id: Long) {
        ensure(ended.add(id)) { "message $id ended twice" }
    }

    fun unfinished(): List<Long> = lines.values.flatten().filter { it !in ended }
}

@Param.Params(
    Param(name = "key", gen = IntGen::class, conf = "0:1"),
    Param(name = "withdrawn", gen = BooleanGen::class),
)
class KeyLocksLincheckTest {
    private val keyLocks = KeyLocks<String>()
    private val queue = ConcurrentLinkedQueue<Message<String>>()
    private val sequence = AtomicLong()
    private val ledger = KeyLedger()

    private fun requeue(message: Message<String>?) {
        if (message != null) queue.add(message)
    }

    /** Runs [message] (it heads its line), then whatever release hands over; returns the ids that ran. */
    private fun runFrom(message: Message<String>): List<Long> {
        val ran = mutableListOf<Long>()
        var next: Message<String>? = message
        while (next != null) {
            val key = next.key!!
            ledger.starts(key, next.id)
            ran += next.id
            ledger.finishes(key, next.id)
            next = keyLocks.release(key, next.id)
        }
        return ran
    }

    @Operation
    fun publish(@Param(name = "key") key: Int, @Param(name = "withdrawn") withdrawn: Boolean): Long {
        val id = sequence.incrementAndGet()
        // Registering and noting the line position together (KeyLocks locks itself, re-entrantly).
        synchronized(keyLocks) {
            keyLocks.register(keyOf(key), id)
            ledger.registered(keyOf(key), id)
        }
        queue.add(keyed(id, keyOf(key), withdrawn))
        return id
    }

    @Operation
    fun consume(): String {
        val message = queue.poll() ?: return "empty"
        val key = message.key!!
        if (message.isWithdrawn) {
            ledger.ended(message.id)
            requeue(keyLocks.deregister(key, message.id))
            return "withdrew ${message.id}"
        }
        if (!keyLocks.tryAcquire(key, message)) return "parked ${message.id}"
        return "ran ${runFrom(message)}"
    }

    @Operation
    fun dropOldest(): String {
        val message = queue.poll() ?: return "empty"
        ledger.ended(message.id)
        requeue(keyLocks.deregister(message.key!!, message.id))
        return "dropped ${message.id}"
    }

    /** Consumers take what is left; then every message has ended and nothing is parked. */
    @Validate
    fun everythingEnds() {
        while (queue.isNotEmpty()) consume()
        ensure(ledger.unfinished().isEmpty()) { "messages ${ledger.unfinished()} never ran (lost in KeyLocks?)" }
        ensure(keyLocks.waiting() == 0) { "${keyLocks.waiting()} message(s) still parked" }
        ensure(keyLocks.drain().isEmpty()) { "parked messages left at the end" }
    }

    @Test
    fun modelCheckingTest() = ModelCheckingOptions()
        .iterations(scaled(8))
        .invocationsPerIteration(75)
        .threads(2)
        .actorsPerThread(3)
        .actorsBefore(2)
        .actorsAfter(1)
        // Each KeyLocks method is one step: it is @Synchronized throughout, so nothing else can interleave
        // inside it anyway. (Drop KeyLocks from this list if it ever becomes lock-free.)
        .atomic(KeyLocks::class, KeyLedger::class, ConcurrentLinkedQueue::class)
        .verifier(NoExceptionVerifier::class.java)
        .check(this::class)
}

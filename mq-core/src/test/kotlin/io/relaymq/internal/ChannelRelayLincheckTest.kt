package io.relaymq.internal

import io.relaymq.Message
import io.relaymq.NoExceptionVerifier
import io.relaymq.StepDispatcher
import io.relaymq.atomic
import io.relaymq.coroutinesAtomic
import io.relaymq.ensure
import io.relaymq.scaled
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import org.jetbrains.kotlinx.lincheck.annotations.Operation
import org.jetbrains.kotlinx.lincheck.annotations.Param
import org.jetbrains.kotlinx.lincheck.annotations.Validate
import org.jetbrains.kotlinx.lincheck.check
import org.jetbrains.kotlinx.lincheck.paramgen.ThreadIdGen
import org.jetbrains.kotlinx.lincheck.strategy.managed.modelchecking.ModelCheckingOptions
import org.junit.jupiter.api.Test

/*
 * Model checking of ChannelRelay, the in-memory transport: publishers' direct path to the outbox, the
 * relay coroutine's inbox -> buffer -> outbox moves and its wake-up thresholds, consumers' takes, and
 * the close sequence.
 *
 * The relay coroutine runs on a [StepDispatcher]: it moves only when the "relay" thread calls relayStep,
 * so Lincheck interleaves the relay's steps with the publishers and the consumer like any other thread.
 * The consumer behaves like QueueEngine's: poll, and when nothing is there, prepareToWait (which wakes
 * a sleeping relay) instead of suspending in awaitNext.
 *
 * Checked (operations throw on a violation, see [RelayLedger]; the rest in @Validate):
 * - per-producer FIFO among the messages the consumer takes; nothing taken twice;
 * - no `offer` succeeds once closeForPublishing has returned;
 * - liveness at rest (scenarios without closeForPublishing): once publishers stop and the consumer keeps
 *   taking, every accepted message reaches it (no message stuck behind a lost wake-up);
 * - close (scenarios with it): after finishInput, cancelling the relay and drainUndelivered,
 *   taken + drained = accepted, never both, and no message whose offer returned false shows up anywhere.
 *
 * Tiny outbox and batch (1 and 2) so that a few messages reach the full-outbox, sleep/wake and batch paths.
 * Random scenarios plus one custom scenario aimed at the direct-path bypass (FIFO, invariant 2): random
 * ones rarely hit that two-switch window within the budget. Seeded mutations (backlog lowered before the
 * send; both wake-up signals removed; the closed check removed) each fail this test.
 * To adapt to a rewrite: [RelayLedger] and the operations name the transport calls in one place each
 * (`drainUndelivered` -> `takeAll` is a one-line change in the @Validate function).
 */

private const val OUTBOX_CAPACITY = 1
private const val BATCH_LIMIT = 2

/** Message ids encode their producer (the Lincheck thread) and its sequence number. */
private fun idOf(producer: Int, seq: Int): Long = producer * 1_000L + seq
private fun producerOf(id: Long): Int = (id / 1_000).toInt()
private fun seqOf(id: Long): Int = (id % 1_000).toInt()

private fun messageOf(id: Long) = Message(QueueOrigin("q", 0L, 0L), "m$id", (id shl QueueOrigin.TIME_BITS).toInt())

/** What happened to every message, as the test saw it. Model checking treats it as atomic. */
private class RelayLedger {
    private val nextSeq = IntArray(8)
    val accepted = HashSet<Long>()
    val refused = HashSet<Long>()
    val taken = LinkedHashSet<Long>()
    private val lastTakenSeq = IntArray(8)

    fun nextId(producer: Int): Long = idOf(producer, ++nextSeq[producer])

    fun offered(id: Long, accepted: Boolean, closedBefore: Boolean) {
        if (accepted) this.accepted += id else refused += id
        ensure(!(accepted && closedBefore)) { "offer of $id succeeded after closeForPublishing returned" }
    }

    fun took(id: Long) {
        ensure(taken.add(id)) { "message $id taken twice" }
        val producer = producerOf(id)
        ensure(seqOf(id) > lastTakenSeq[producer]) {
            "message $id taken after message ${idOf(producer, lastTakenSeq[producer])} of the same producer (FIFO)"
        }
        lastTakenSeq[producer] = seqOf(id)
    }
}

@Param(name = "producer", gen = ThreadIdGen::class)
class ChannelRelayLincheckTest {
    private val relay = ChannelRelay<String>("q", outboxCapacity = OUTBOX_CAPACITY, batchLimit = BATCH_LIMIT)
    private val relayThread = StepDispatcher()
    private val consumer = TakeCounter().also(relay::registerTakeCounter)
    private val relayJob: Job = relay.start(CoroutineScope(relayThread + Job()))
    private val ledger = RelayLedger()

    @Volatile private var closeReturned = false

    /** A producer publishes its next message (ids increase per producer). */
    @Operation
    fun offer(@Param(name = "producer") producer: Int): Boolean {
        val id = ledger.nextId(producer)
        val closedBefore = closeReturned
        return relay.offer(messageOf(id)).also { ledger.offered(id, it, closedBefore) }
    }

    /** The consumer takes one message if one is ready; otherwise it would wait (and wakes the relay). */
    @Operation(nonParallelGroup = "consumer")
    fun take(): Long? {
        val message = relay.poll(consumer)
        if (message == null) {
            relay.prepareToWait {}
            return null
        }
        ledger.took(message.id)
        return message.id
    }

    /** The relay coroutine runs until it suspends; returns how many dispatched steps it ran. */
    @Operation(nonParallelGroup = "relay")
    fun relayStep(): Int = relayThread.runPending()

    @Operation(runOnce = true)
    fun closeForPublishing() {
        relay.closeForPublishing()
        closeReturned = true
    }

    /** What pause/resize do: consumers blocked in awaitNext get a no-op wake-up; it must never surface. */
    @Operation
    fun wakeConsumers() = relay.wakeConsumers(1)

    /**
     * Without a close in the scenario: at rest, the consumer keeps taking until nothing moves, and must get
     * every accepted message; then the relay ends by itself. With one: the abrupt close (QueueEngine's
     * takeRemaining): no more input, relay cancelled wherever it is, the rest drained.
     */
    @Validate
    fun nothingLostNothingTwice() {
        if (!closeReturned) {
            do {
                val moved = relayThread.runPending()
                var took = 0
                while (take() != null) took++
            } while (moved + took > 0)
            val stuck = ledger.accepted - ledger.taken
            ensure(stuck.isEmpty()) { "accepted messages $stuck never reached the waiting consumer (a lost wake-up?)" }
        }
        relay.finishInput()
        relayThread.runPending()
        relayJob.cancel()
        relayThread.runPending()
        ensure(relayJob.isCompleted) { "the relay did not stop" }
        val drained = relay.drainUndelivered().map { it.id }.toSet()
        ensure(0L !in drained) { "a wake-up sentinel was drained as a message" }
        ensure((drained intersect ledger.taken).isEmpty()) { "messages ${drained intersect ledger.taken} taken and drained" }
        ensure((drained intersect ledger.refused).isEmpty()) { "refused messages ${drained intersect ledger.refused} were kept" }
        ensure(ledger.taken + drained == ledger.accepted) {
            "accepted ${ledger.accepted}, but taken ${ledger.taken} + drained $drained"
        }
    }

    @Test
    fun modelCheckingTest() = ModelCheckingOptions()
        .addCustomScenario {
            // Producer 1's second message waits in the inbox while the relay moves it to the outbox and
            // its third message may bypass inbox and buffer: FIFO hinges on the relay lowering the backlog
            // only after the send (invariant 2).
            initial {
                repeat(2) { actor(ChannelRelayLincheckTest::offer, 1) }
                actor(ChannelRelayLincheckTest::take)
            }
            parallel {
                thread { actor(ChannelRelayLincheckTest::offer, 1) }
                thread { actor(ChannelRelayLincheckTest::relayStep) }
            }
        }
        .iterations(scaled(8))
        .invocationsPerIteration(75)
        .threads(2)
        .actorsPerThread(3)
        .actorsBefore(2)
        .actorsAfter(2)
        .coroutinesAtomic()
        .atomic(RelayLedger::class)
        .verifier(NoExceptionVerifier::class.java)
        .check(this::class)
}

package io.relaymq.internal

import io.relaymq.NoExceptionVerifier
import io.relaymq.StepDispatcher
import io.relaymq.atomic
import io.relaymq.coroutinesAtomic
import io.relaymq.ensure
import io.relaymq.scaled
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import org.jetbrains.kotlinx.lincheck.annotations.Operation
import org.jetbrains.kotlinx.lincheck.annotations.Param
import org.jetbrains.kotlinx.lincheck.annotations.Validate
import org.jetbrains.kotlinx.lincheck.check
import org.jetbrains.kotlinx.lincheck.paramgen.ThreadIdGen
import org.jetbrains.kotlinx.lincheck.strategy.managed.modelchecking.ModelCheckingOptions
import org.junit.jupiter.api.Test

/*
 * Model checking of CapacityGate, the bound on a queue's waiting messages.
 *
 * The engine's protocol: a publisher enters (tryEnter; enter for SUSPEND; forceEnter for DROP_OLDEST)
 * and the consumer that takes the message leaves. The tests follow it: each Lincheck thread leaves only
 * places it entered itself ([Holdings]), so a `leave` never comes from nowhere. Lincheck numbers threads
 * 0 (init part), 1..n (parallel part), n+1 (post part); ThreadIdGen passes that number.
 */

private const val CAPACITY = 1

/** Places held per Lincheck thread: a thread leaves only its own. */
private class Holdings {
    private val held = IntArray(8)

    fun add(thread: Int) {
        held[thread]++
    }

    /** Gives up one of [thread]'s places; `false` if it holds none. */
    fun remove(thread: Int): Boolean {
        if (held[thread] == 0) return false
        held[thread]--
        return true
    }

    fun total(): Int = held.sum()
}

/**
 * Counting (REJECT, DROP_*): checked for linearizability against itself run sequentially, where tryEnter
 * fails exactly when `capacity` places are held. A tryEnter that fails although a place is free throws
 * QueueFullException (REJECT) or drops the new message (DROP_NEWEST) for nothing.
 *
 * Found a defect in the previous gate (an AtomicLong incremented, then decremented when over capacity): in
 * between, the place it briefly held made a concurrent tryEnter fail although the gate had room (the
 * custom scenario: thread 2 leaves its only place and cannot enter again). Today's gate enters by
 * compare-and-set below the capacity.
 */
@Param(name = "thread", gen = ThreadIdGen::class)
class CountingCapacityGateLincheckTest {
    private val gate = CapacityGate(CAPACITY)
    private val holdings = Holdings()

    @Operation
    fun tryEnter(@Param(name = "thread") thread: Int): Boolean = gate.tryEnter().also { if (it) holdings.add(thread) }

    @Operation
    fun forceEnter(@Param(name = "thread") thread: Int) {
        gate.forceEnter()
        holdings.add(thread)
    }

    @Operation
    fun leave(@Param(name = "thread") thread: Int): Boolean = holdings.remove(thread).also { if (it) gate.leave() }

    @Test
    fun modelCheckingTest() = ModelCheckingOptions()
        .addCustomScenario {
            parallel {
                thread { actor(::tryEnter, 1) }
                thread {
                    actor(::tryEnter, 2)
                    actor(::leave, 2)
                    actor(::tryEnter, 2)
                }
            }
        }
        .iterations(scaled(10))
        .invocationsPerIteration(300)
        .threads(2)
        .actorsPerThread(3)
        .actorsBefore(1)
        .actorsAfter(1)
        .atomic(Holdings::class)
        .check(this::class)
}

/**
 * Suspending (SUSPEND): publishers wait for room. Checked by property rather than against a sequential
 * specification (which would have to be a channel, i.e. the implementation itself):
 * - never more than `capacity` places held at once;
 * - "nothing is counted if cancelled" (CapacityGate.enter's contract, which Admission.publishWhenRoom
 *   relies on): once every publisher has run, free places = capacity - held;
 * - after `close`, waiting and later `enter`s fail instead of hanging.
 *
 * Each Lincheck thread owns one waiting publisher ([Publisher]): a coroutine on the thread's own
 * [StepDispatcher], started by `enter`, resumed only when its thread runs `resume` (or `cancelEnter`).
 * That models the engine, where a publisher resumed by a consumer's `leave` runs later, on its dispatcher,
 * and can be cancelled in between. (Lincheck's own suspending operations resume in place, so they never
 * reach that window.)
 *
 * Found a defect in the previous gate: `enter` was `Channel.send`, whose prompt-cancellation guarantee
 * throws CancellationException even when the token was already delivered. The place was then held by
 * nobody and never given back: the capacity shrank by one for good, and a SUSPEND queue whose places all
 * leaked this way blocked every publisher forever (the custom scenario). Today's gate resumes a waiter
 * with an on-cancellation handler that passes the place on.
 */
@Param(name = "thread", gen = ThreadIdGen::class)
class SuspendingCapacityGateLincheckTest {
    private val gate = CapacityGate(CAPACITY)
    private val holdings = Holdings()
    private val failures = mutableListOf<Throwable>()
    private val scope = CoroutineScope(SupervisorJob() + CoroutineExceptionHandler { _, e -> failures += e })
    private val publishers = Array(8) { Publisher() }

    @Volatile private var closed = false

    /** One publisher waiting in `enter`, on its own thread's dispatcher; [outcome] once it is done. */
    private class Publisher {
        val dispatcher = StepDispatcher()
        var job: Job? = null
        var outcome = "none"
    }

    private fun entered(thread: Int) {
        holdings.add(thread)
        ensure(closed || holdings.total() <= CAPACITY) { "${holdings.total()} places held, capacity $CAPACITY" }
    }

    private fun Publisher.step(): String {
        dispatcher.runPending()
        failures.firstOrNull()?.let { throw it }
        return outcome
    }

    @Operation
    fun tryEnter(@Param(name = "thread") thread: Int): Boolean = gate.tryEnter().also { if (it) entered(thread) }

    /** Starts waiting for a place (unless this thread's publisher still waits); runs it until it suspends. */
    @Operation
    fun enter(@Param(name = "thread") thread: Int): String {
        val publisher = publishers[thread]
        if (publisher.job?.isActive == true) return "busy"
        publisher.outcome = "waiting"
        publisher.job = scope.launch(publisher.dispatcher) {
            publisher.outcome = try {
                gate.enter()
                entered(thread)
                "entered"
            } catch (e: CancellationException) {
                if (!isActive) "cancelled" else throw e
            } catch (e: IllegalStateException) {
                "closed" // the gate closed while it waited
            }
        }
        return publisher.step()
    }

    /** This thread's publisher gets to run: a place it was handed is taken now. */
    @Operation
    fun resume(@Param(name = "thread") thread: Int): String = publishers[thread].step()

    /** The publisher's caller gives up (a timeout, a cancelled scope). */
    @Operation
    fun cancelEnter(@Param(name = "thread") thread: Int): String {
        val publisher = publishers[thread]
        publisher.job?.cancel()
        return publisher.step()
    }

    @Operation
    fun leave(@Param(name = "thread") thread: Int): Boolean = holdings.remove(thread).also { if (it) gate.leave() }

    @Operation(runOnce = true)
    fun close() {
        closed = true
        gate.close { IllegalStateException("closed") }
    }

    /** Every publisher runs; then free places = capacity - held (a publisher still waiting holds none). */
    @Validate
    fun placesAddUp() {
        publishers.forEach { it.step() }
        if (closed) {
            ensure(publishers.none { it.job?.isActive == true }) { "a publisher still waits after close" }
            return
        }
        var free = 0
        while (gate.tryEnter()) free++
        ensure(free == CAPACITY - holdings.total()) {
            "$free free place(s), but capacity $CAPACITY and ${holdings.total()} held: a place leaked"
        }
    }

    @Test
    fun modelCheckingTest() = ModelCheckingOptions()
        .addCustomScenario {
            // Thread 1 waits; thread 2 leaves, handing thread 1 the place; thread 1 is cancelled before it runs.
            parallel {
                thread {
                    actor(::enter, 1)
                    actor(::cancelEnter, 1)
                }
                thread {
                    actor(::tryEnter, 2)
                    actor(::leave, 2)
                }
            }
        }
        .iterations(scaled(10))
        .invocationsPerIteration(200)
        .threads(2)
        .actorsPerThread(3)
        .actorsBefore(1)
        .actorsAfter(1)
        .coroutinesAtomic()
        .atomic(Holdings::class)
        .verifier(NoExceptionVerifier::class.java)
        .check(this::class)
}

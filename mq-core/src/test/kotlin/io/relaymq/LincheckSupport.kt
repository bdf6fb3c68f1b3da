package io.relaymq

import kotlinx.coroutines.CoroutineDispatcher
import org.jetbrains.kotlinx.lincheck.ExceptionResult
import org.jetbrains.kotlinx.lincheck.execution.ExecutionResult
import org.jetbrains.kotlinx.lincheck.execution.ExecutionScenario
import org.jetbrains.kotlinx.lincheck.strategy.managed.forClasses
import org.jetbrains.kotlinx.lincheck.strategy.managed.modelchecking.ModelCheckingOptions
import org.jetbrains.kotlinx.lincheck.verifier.Verifier
import java.util.concurrent.ConcurrentLinkedQueue
import kotlin.coroutines.CoroutineContext
import kotlin.reflect.KClass

/*
 * Shared bits of the Lincheck tests (files named *LincheckTest.kt).
 *
 * Lincheck 2.x treats every exception an operation throws as that operation's *result*; only the verifier
 * decides whether a result is wrong. Tests whose operations check properties themselves (and throw
 * [AssertionError] on a violation) therefore use [NoExceptionVerifier] instead of a sequential
 * specification; a failed @Validate function fails the run with any verifier.
 */

/**
 * Scales the tests' Lincheck budgets (scenarios per test): `-Drelaymq.lincheck.scale=10` for a deeper run.
 * The defaults keep each test to seconds on a developer machine.
 */
fun scaled(iterations: Int): Int = iterations * (System.getProperty("relaymq.lincheck.scale")?.toIntOrNull() ?: 1)

/** Passes an execution unless some operation threw: operations assert their own properties. */
class NoExceptionVerifier(@Suppress("UNUSED_PARAMETER") sequentialSpecification: Class<*>) : Verifier {
    override fun verifyResults(scenario: ExecutionScenario, results: ExecutionResult): Boolean =
        (results.initResults + results.parallelResultsWithClock.flatten().map { it.result } + results.postResults)
            .none { it is ExceptionResult }
}

/**
 * Model checking treats kotlinx.coroutines' own code (channels, jobs, continuations) and the JDK's
 * ConcurrentLinkedQueue as atomic steps: no thread switch inside. The tests are about *our* code between
 * those calls; exploring the library's lock-free internals (well tested by kotlinx.coroutines itself)
 * multiplies the interleavings a hundredfold and trips Lincheck's spin-loop detector on the 32-cell
 * segment sweeps of a closed channel.
 *
 * Exception: `run` (DispatchedTask.run, how a [StepDispatcher] resumes a coroutine) is not atomic, since
 * it runs our coroutine's code. So test coroutines must start dispatched (the default), never
 * UNDISPATCHED: `launch` itself is atomic and would swallow an undispatched coroutine's first steps.
 */
fun ModelCheckingOptions.coroutinesAtomic(): ModelCheckingOptions = this
    .addGuarantee(forClasses { it.startsWith("kotlinx.coroutines.") }.methods { it != "run" }.treatAsAtomic())
    .addGuarantee(forClasses(ConcurrentLinkedQueue::class).allMethods().treatAsAtomic())

/**
 * Model checking treats every method of [classes] as one atomic step. For the tests' own bookkeeping
 * (ledgers of what was offered, held, run): its steps are not what is being tested.
 */
fun ModelCheckingOptions.atomic(vararg classes: KClass<*>): ModelCheckingOptions =
    addGuarantee(forClasses(*classes).allMethods().treatAsAtomic())

/** Throws an [AssertionError] with [message] unless [condition]: a property violation, reported with the interleaving. */
inline fun ensure(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

/**
 * A dispatcher that only queues: coroutines dispatched to it run when somebody calls [runPending], on that
 * caller's thread. Lets a test thread play "the relay coroutine's thread", so that Lincheck (which manages
 * only its own test threads) explores the coroutine's steps against the other operations.
 */
class StepDispatcher : CoroutineDispatcher() {
    private val tasks = ConcurrentLinkedQueue<Runnable>()

    override fun dispatch(context: CoroutineContext, block: Runnable) {
        tasks.add(block)
    }

    /** Runs what is queued, including what those tasks queue, up to [limit] tasks; returns how many ran. */
    fun runPending(limit: Int = 1_000): Int {
        var ran = 0
        while (ran < limit) {
            val task = tasks.poll() ?: break
            task.run()
            ran++
        }
        return ran
    }
}

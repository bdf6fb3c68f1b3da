package io.relaymq.internal

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.runCurrent
import kotlinx.coroutines.test.runTest

private class RecordingWaiter(private val log: MutableList<String>, private val name: String) : CapacityGate.Waiter() {
    override fun granted() {
        log += "$name granted"
    }

    override fun refused(failure: Throwable) {
        log += "$name refused: ${failure.message}"
    }
}

class CapacityGateSpec : FunSpec({

    test("tryEnter takes places up to the capacity; leave frees one") {
        val gate = CapacityGate(2)
        gate.tryEnter() shouldBe true
        gate.tryEnter() shouldBe true
        gate.tryEnter() shouldBe false
        gate.size shouldBe 2
        gate.leave()
        gate.tryEnter() shouldBe true
    }

    test("waiters are let in first come first served, and nobody barges past a waiter") {
        val gate = CapacityGate(1)
        val log = mutableListOf<String>()
        gate.tryEnter() shouldBe true
        gate.await(RecordingWaiter(log, "a"))
        gate.await(RecordingWaiter(log, "b"))
        gate.leave() // room for a; b still waits
        log shouldContainExactly listOf("a granted")
        gate.tryEnter() shouldBe false // full again: a holds the place
        gate.leave()
        log shouldContainExactly listOf("a granted", "b granted")
        gate.leave()
        gate.tryEnter() shouldBe true // nobody waits any more
    }

    test("a waiter that is let in runs in order even when granted() itself frees a place") {
        val gate = CapacityGate(1)
        val log = mutableListOf<String>()
        gate.tryEnter() shouldBe true
        gate.await(object : CapacityGate.Waiter() {
            override fun granted() {
                log += "a granted"
                gate.leave() // say it was refused after all and gives the place back
            }

            override fun refused(failure: Throwable) = Unit
        })
        gate.await(RecordingWaiter(log, "b"))
        gate.leave()
        log shouldContainExactly listOf("a granted", "b granted")
        gate.size shouldBe 1
    }

    test("forceEnter counts past the capacity; publishers wait until the count is below it again") {
        val gate = CapacityGate(1)
        gate.forceEnter()
        gate.forceEnter()
        gate.size shouldBe 2
        gate.tryEnter() shouldBe false
        gate.leave()
        gate.tryEnter() shouldBe false
        gate.leave()
        gate.tryEnter() shouldBe true
    }

    test("close refuses every waiter, now and later; nothing hangs") {
        val gate = CapacityGate(1)
        val log = mutableListOf<String>()
        gate.tryEnter() shouldBe true
        gate.await(RecordingWaiter(log, "a"))
        gate.close { IllegalStateException("closed") }
        gate.await(RecordingWaiter(log, "b"))
        log shouldContainExactly listOf("a refused: closed", "b refused: closed")
    }

    test("a cancelled waiter holds no place and is skipped") {
        val gate = CapacityGate(1)
        val log = mutableListOf<String>()
        gate.tryEnter() shouldBe true
        val a = RecordingWaiter(log, "a")
        gate.await(a)
        gate.await(RecordingWaiter(log, "b"))
        a.cancel() shouldBe true
        gate.leave()
        log shouldContainExactly listOf("b granted")
        gate.size shouldBe 1
    }

    test("suspending enter: cancellation is atomic, a place handed to a cancelled publisher is passed on") {
        runTest {
            val dispatcher = StandardTestDispatcher(testScheduler)
            val gate = CapacityGate(1)
            gate.tryEnter() shouldBe true
            val first = launch(dispatcher) { gate.enter() }
            var secondEntered = false
            launch(dispatcher) {
                gate.enter()
                secondEntered = true
            }
            runCurrent() // both wait
            gate.leave() // the place goes to `first`, which has not resumed yet...
            first.cancel() // ...and is cancelled before it does: the place must go on to `second`
            runCurrent()
            secondEntered shouldBe true
            gate.size shouldBe 1
        }
    }

    test("suspending enter fails with the close's exception when the gate closes while it waits") {
        runTest {
            val dispatcher = StandardTestDispatcher(testScheduler)
            val gate = CapacityGate(1)
            gate.tryEnter() shouldBe true
            var failure: Throwable? = null
            launch(dispatcher) { failure = runCatching { gate.enter() }.exceptionOrNull() }
            runCurrent()
            gate.close { IllegalStateException("closed") }
            runCurrent()
            (failure is IllegalStateException && failure !is CancellationException) shouldBe true
            shouldThrow<IllegalStateException> { gate.enter() }
        }
    }
})

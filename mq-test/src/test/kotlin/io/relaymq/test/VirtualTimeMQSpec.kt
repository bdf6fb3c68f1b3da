package io.relaymq.test

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.relaymq.PublishOptions
import io.relaymq.QueueOptions
import io.relaymq.RetryPolicy
import kotlinx.coroutines.delay
import kotlinx.coroutines.test.currentTime
import kotlinx.coroutines.test.runTest
import java.time.Instant
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes

class VirtualTimeMQSpec : FunSpec({
    test("handlers' delays, delayed messages and retry backoffs run on virtual time") {
        runTest {
            val mq = virtualTimeMQ()
            val seen = mutableListOf<String>()
            mq.registerQueue<String>("slow") { m ->
                delay(1.hours)
                seen += "slow ${m.data} at ${currentTime}"
            }
            var attempts = 0
            mq.registerQueue<String>(
                "flaky",
                QueueOptions(retry = RetryPolicy(maxAttempts = 3, initialBackoff = 10.minutes, maxBackoff = 1.hours, jitter = 0.0)),
            ) { m ->
                attempts++
                if (m.attempt < 3) error("attempt ${m.attempt} fails")
                seen += "flaky ${m.data} attempt ${m.attempt} at ${currentTime}"
            }
            mq.start()
            mq.publish("slow", "a")
            mq.publish("flaky", "b", PublishOptions(delay = 5.minutes))
            mq.awaitIdle()

            seen.toSet() shouldBe setOf(
                "slow a at ${1.hours.inWholeMilliseconds}",
                // due after 5 min, then backoffs of 10 and 20 min
                "flaky b attempt 3 at ${35.minutes.inWholeMilliseconds}",
            )
            attempts shouldBe 3
            mq.shutdown()
        }
    }

    test("the clock reads the scheduler's time") {
        runTest {
            val clock = VirtualClock(testScheduler)
            clock.instant() shouldBe Instant.EPOCH
            delay(1_500.milliseconds)
            clock.millis() shouldBe 1_500L
            clock.instant() shouldBe Instant.ofEpochMilli(1_500)
        }
    }

    test("the drain timeout elapses on virtual time") {
        runTest {
            val mq = virtualTimeMQ(drainTimeout = 2.minutes)
            mq.registerQueue<String>("stuck") { delay(1.hours) }
            mq.start()
            mq.publish("stuck", "x")
            val summary = mq.shutdown()
            summary.timedOut shouldBe true
            summary.abandoned shouldBe 1L
            currentTime shouldBe 2.minutes.inWholeMilliseconds
        }
    }
})

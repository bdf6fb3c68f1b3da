package io.relaymq.test

import kotlinx.coroutines.test.TestCoroutineScheduler
import java.time.Clock
import java.time.Instant
import java.time.ZoneId
import java.time.ZoneOffset

/**
 * A `java.time.Clock` that reads a test scheduler's virtual time (in UTC, from the epoch), to pair with
 * that scheduler's dispatcher: `MQ(dispatcher = StandardTestDispatcher(testScheduler), clock =
 * VirtualClock(testScheduler))`. Then publish times, delayed deliveries and retry backoffs follow
 * `runTest`'s virtual time along with handlers' `delay`s and the drain timeout. [virtualTimeMQ] does
 * both for you.
 */
public class VirtualClock(private val scheduler: TestCoroutineScheduler) : Clock() {
    override fun getZone(): ZoneId = ZoneOffset.UTC

    /** The same clock: virtual time has no zone of its own. */
    override fun withZone(zone: ZoneId?): Clock = this

    override fun millis(): Long = scheduler.currentTime

    override fun instant(): Instant = Instant.ofEpochMilli(millis())

    override fun toString(): String = "VirtualClock(${instant()})"
}

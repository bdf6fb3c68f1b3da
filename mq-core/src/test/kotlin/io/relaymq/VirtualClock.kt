package io.relaymq

import kotlinx.coroutines.test.TestCoroutineScheduler
import java.time.Clock
import java.time.Instant
import java.time.ZoneId
import java.time.ZoneOffset

/** A clock that reads the test scheduler's virtual time, to pair with its dispatcher. */
class VirtualClock(private val scheduler: TestCoroutineScheduler) : Clock() {
    override fun getZone(): ZoneId = ZoneOffset.UTC

    override fun withZone(zone: ZoneId?): Clock = this

    override fun millis(): Long = scheduler.currentTime

    override fun instant(): Instant = Instant.ofEpochMilli(millis())
}

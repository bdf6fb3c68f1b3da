package io.relaymq.test

import io.relaymq.MQ
import io.relaymq.ShutdownMode
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.TestScope
import java.nio.file.Path
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * An [MQ] that runs entirely on this test's virtual time: relays and handlers on a
 * `StandardTestDispatcher` of the test's scheduler, publish times, delays and retry backoffs on a
 * [VirtualClock] of it. Handlers' `delay`s, delayed messages, backoffs and the drain timeout then
 * take no real time:
 *
 * ```kotlin
 * @Test fun retries() = runTest {
 *     val mq = virtualTimeMQ()
 *     mq.registerQueue<String>("q", QueueOptions(retry = RetryPolicy(maxAttempts = 3))) { ... }
 *     mq.start()
 *     mq.publish("q", "x")
 *     mq.awaitIdle()           // backoffs elapse on virtual time
 *     mq.shutdown()            // the suspending close; never the blocking close() inside runTest
 * }
 * ```
 *
 * Close it with `shutdown()` before the test ends, or `runTest` reports the bus's coroutines as
 * still active. Parameters as for [MQ]'s constructor.
 */
public fun TestScope.virtualTimeMQ(
    drainTimeout: Duration = 30.seconds,
    snapshotDirectory: Path? = null,
    shutdownMode: ShutdownMode = ShutdownMode.SNAPSHOT_IMMEDIATELY,
    strictSnapshots: Boolean = false,
): MQ = MQ(
    dispatcher = StandardTestDispatcher(testScheduler),
    drainTimeout = drainTimeout,
    snapshotDirectory = snapshotDirectory,
    shutdownMode = shutdownMode,
    strictSnapshots = strictSnapshots,
    clock = VirtualClock(testScheduler),
)

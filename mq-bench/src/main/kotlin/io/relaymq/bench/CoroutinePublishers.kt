package io.relaymq.bench

import io.relaymq.FsyncPolicy
import io.relaymq.MQ
import io.relaymq.QueueOptions
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import java.nio.file.Path
import kotlin.time.Duration.Companion.seconds

/**
 * RelayMQ, Kotlin: [count] coroutines on `Dispatchers.Default`, each calling the suspending `publish`
 * in a loop (it returns once the record is durable), on an `MQ(journalDirectory = ...)` whose durable
 * queue's consumers run a no-op handler.
 */
class CoroutinePublishers(private val journal: Path, private val count: Int) : PublishLoad, AutoCloseable {
    private val mq = MQ(drainTimeout = 60.seconds, journalDirectory = journal, fsyncPolicy = FsyncPolicy.perGroupCommit())
    private var job: Job? = null

    @Volatile
    private var running = true

    init {
        mq.registerQueue<String>(DurableBus.QUEUE, QueueOptions(concurrency = DurableBus.CONSUMERS, durable = true)) { }
        if (!System.getProperty("durableConsumers", "true").toBoolean()) mq.pause(DurableBus.QUEUE) // diagnosis: see DurableBus.started
        mq.start()
    }

    override fun start(meter: PublishMeter) {
        job = CoroutineScope(Dispatchers.Default).launch {
            repeat(count) {
                launch {
                    try {
                        while (running) {
                            val start = System.nanoTime()
                            mq.publish(DurableBus.QUEUE, DurablePayload.TEXT)
                            meter.record(start)
                        }
                    } catch (e: Throwable) {
                        meter.fail(e)
                    }
                }
            }
        }
    }

    override fun stop() {
        running = false
        runBlocking { withTimeout(60.seconds) { job?.join() } }
    }

    override fun close() {
        DurableBus.checkJournalWritten(journal)
        mq.close()
    }
}

package io.relaymq.internal

import io.relaymq.FsyncPolicy
import io.relaymq.QueueBackend
import io.relaymq.spi.RemoteBackend
import io.relaymq.ShutdownMode
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import java.nio.file.Path
import java.time.Clock
import java.util.concurrent.Executor
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * The settings of one bus, the same for both doors: `MQ`'s constructor parameters and
 * `MessageBus.Builder`'s setters both end up here, so that each default and each check exists once.
 *
 * Invariant, checked at construction (so also by every `copy`, which is how the Java builder applies a
 * setter: a bad value is refused by the setter that passed it): [drainTimeout] is positive.
 */
internal data class BusSettings(
    /** Where relays, Kotlin handlers and the synchronous part of async handlers run. */
    val dispatcher: CoroutineDispatcher = Dispatchers.Default,
    /** How long close waits for accepted messages before it gives up on them. */
    val drainTimeout: Duration = DEFAULT_DRAIN_TIMEOUT,
    /** Where pending messages are saved on close; `null`: memory only. */
    val snapshotDirectory: Path? = null,
    /** What close does with pending messages when there is a snapshot directory. */
    val shutdownMode: ShutdownMode = ShutdownMode.SNAPSHOT_IMMEDIATELY,
    /** A corrupt snapshot fails registration instead of being moved aside. */
    val strictSnapshots: Boolean = false,
    /** Publish times, delays and retry backoffs. */
    val clock: Clock = Clock.systemUTC(),
    /**
     * Where blocking (Java) handlers run; `null`: each blocking queue gets its own named pool
     * ([QueueThreads]). The bus never shuts this executor down.
     */
    val executor: Executor? = null,
    /** Test seam for snapshot writes. */
    val snapshotFileSystem: SnapshotFileSystem = SnapshotFileSystem.Default,
    /** Where durable queues keep their journals; `null`: no queue of this bus can be durable. */
    val journalDirectory: Path? = null,
    /** When journals are forced to disk. */
    val fsyncPolicy: FsyncPolicy = FsyncPolicy.perGroupCommit(),
    /** A corrupt journal file fails registration instead of being moved aside. */
    val strictJournal: Boolean = false,
    /** Test seam: a journal rolls to a new segment file before one would grow past this many bytes. */
    val journalSegmentBytes: Int = DEFAULT_JOURNAL_SEGMENT_BYTES,
    /** Test seam for journal writes. */
    val journalFileSystem: JournalFileSystem = JournalFileSystem.Default,
    /**
     * Messages that may wait in a queue's consumer channel before the relay's compact buffer takes the
     * backlog ([ChannelRelay]). Not configurable by users: tests set it small so that interactions
     * also run through the relay path, which the default only takes beyond 65,536 waiting messages.
     */
    val outboxCapacity: Int = DEFAULT_OUTBOX_CAPACITY,
    /** Where the queues live: this JVM ([InMemoryBackend]) or a remote store ([RemoteBackend]). */
    val backend: QueueBackend = InMemoryBackend,
) {
    init {
        require(backend === InMemoryBackend || backend is RemoteBackend) {
            "Unsupported backend $backend (${backend.javaClass.name}): use QueueBackend.inMemory() or a backend module's (RedisStreams in mq-redis)."
        }
        if (backend is RemoteBackend) {
            require(snapshotDirectory == null) {
                "A bus on $backend keeps its messages there; a snapshot directory has no meaning for it. Remove snapshotDirectory, or use the in-memory backend."
            }
            require(journalDirectory == null) {
                "A bus on $backend keeps its messages there; a journal directory has no meaning for it (durability is the store's: for Redis, AOF). " +
                    "Remove journalDirectory, or use the in-memory backend."
            }
        }
        require(journalSegmentBytes >= 4096) { "journalSegmentBytes must be at least 4096, was $journalSegmentBytes" }
        require(drainTimeout.isPositive()) {
            "drainTimeout must be positive (it is how long close waits for accepted messages), was $drainTimeout"
        }
    }

    override fun toString(): String =
        "BusSettings(drainTimeout=$drainTimeout, snapshotDirectory=$snapshotDirectory, shutdownMode=$shutdownMode, " +
            "strictSnapshots=$strictSnapshots, clock=$clock, executor=$executor, journalDirectory=$journalDirectory, " +
            "fsyncPolicy=$fsyncPolicy, strictJournal=$strictJournal, backend=$backend)"
}

/** The largest a journal segment file grows before the journal rolls to a new one. */
internal const val DEFAULT_JOURNAL_SEGMENT_BYTES: Int = 64 * 1024 * 1024

/** The default drain timeout of a bus. */
internal val DEFAULT_DRAIN_TIMEOUT: Duration = 30.seconds

/** The capacity of a queue without a bound ([io.relaymq.QueueOptions.capacity]'s default). */
internal const val UNBOUNDED_CAPACITY: Int = Int.MAX_VALUE

/**
 * The one check of a queue's concurrency, at registration ([io.relaymq.QueueOptions]) and at resize.
 * @throws IllegalArgumentException if [concurrency] < 1; the message starts with [what].
 */
internal fun requireConcurrency(concurrency: Int, what: String) {
    require(concurrency >= 1) {
        "$what: concurrency (how many handlers may run at once) must be at least 1, was $concurrency"
    }
}

/**
 * Messages that may wait in the consumers' channel: publishers hand messages straight to it
 * while no backlog waits behind it, and the relay refills it in batches when one does. A burst
 * of up to this many waiting messages costs one channel hop per message, like a raw channel;
 * beyond it the backlog waits in the relay's compact buffer (4 bytes a message instead of a
 * channel cell's 10) and takes two more hops. At 65,536 the channel's share of a million
 * waiting messages is 0.7 bytes each (docs/performance.md).
 */
internal const val DEFAULT_OUTBOX_CAPACITY: Int = 1 shl 16

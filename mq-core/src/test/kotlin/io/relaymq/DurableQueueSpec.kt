package io.relaymq

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.ints.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.relaymq.internal.BusSettings
import io.relaymq.internal.QueueFileNames
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import java.nio.file.Files
import java.nio.file.Path
import java.util.Collections
import kotlin.io.path.listDirectoryEntries
import kotlin.io.path.name

/** A bus on real threads (the journal writer is one) with a journal in [dir]. */
internal fun durableMq(dir: Path, segmentBytes: Int = 64 * 1024 * 1024, fsync: FsyncPolicy = FsyncPolicy.perGroupCommit()) =
    MQ(BusSettings(Dispatchers.Default, journalDirectory = dir, journalSegmentBytes = segmentBytes, fsyncPolicy = fsync))

internal fun segmentsOf(dir: Path, queue: String): List<Path> =
    dir.resolve(QueueFileNames.journalDirectoryName(queue)).listDirectoryEntries("*.seg").sortedBy { it.name }

class DurableQueueSpec : FunSpec({

    test("a publish returns once journaled; a crash loses nothing acknowledged; recovery replays ids and payloads in order") {
        runBlocking {
            val dir = tempDir()
            val first = durableMq(dir)
            first.registerQueue<String>("orders", QueueOptions(durable = true)) { error("never started") }
            val ids = (1..1_000).map { first.publish("orders", "o$it") }
            ids shouldContainExactly (1L..1_000L).toList()
            first.crashForTesting()

            val second = durableMq(dir)
            val seen = Collections.synchronizedList(ArrayList<Pair<Long, String>>())
            second.registerQueue<String>("orders", QueueOptions(durable = true)) { seen += it.id to it.data }
            second.stats("orders").pending shouldBe 1_000
            second.publish("orders", "new") shouldBe 1_001
            second.start()
            second.awaitIdle()
            seen shouldContainExactly (1..1_000).map { it.toLong() to "o$it" } + (1_001L to "new")
            second.shutdown().saved shouldBe 0

            val third = durableMq(dir)
            val again = Collections.synchronizedList(ArrayList<Long>())
            third.registerQueue<String>("orders", QueueOptions(durable = true)) { again += it.id }
            third.stats("orders").pending shouldBe 0
            third.publish("orders", "later") shouldBe 1_002 // ids go on after a clean close too
            third.start()
            third.awaitIdle()
            again shouldContainExactly listOf(1_002L)
            third.shutdown()
        }
    }

    test("concurrent publishers share fsyncs and every acknowledged message survives a crash") {
        runBlocking {
            val dir = tempDir()
            val first = durableMq(dir, segmentBytes = 16 * 1024)
            first.registerQueue<String>("q", QueueOptions(durable = true)) { error("never started") }
            val acked = coroutineScope {
                (0 until 64).map { p -> async(Dispatchers.Default) { (0 until 100).map { first.publish("q", "p$p-$it") to "p$p-$it" } } }.awaitAll().flatten()
            }
            first.crashForTesting()
            val second = durableMq(dir, segmentBytes = 16 * 1024)
            val seen = Collections.synchronizedMap(HashMap<Long, String>())
            second.registerQueue<String>("q", QueueOptions(durable = true, concurrency = 4)) { seen[it.id] = it.data }
            second.start()
            second.awaitIdle()
            seen shouldBe acked.toMap()
            second.shutdown()
            // everything ended: only the active segment is left
            segmentsOf(dir, "q").size shouldBeLessThanOrEqual 2
        }
    }

    test("a publish cancelled while its record is being written still accepts the message and returns its id") {
        runBlocking {
            val mq = durableMq(tempDir())
            val seen = Collections.synchronizedList(ArrayList<String>())
            mq.registerQueue<String>("q", QueueOptions(durable = true)) { seen += it.data }
            var id = 0L
            val publisher = launch(Dispatchers.Default, start = kotlinx.coroutines.CoroutineStart.UNDISPATCHED) {
                id = mq.publish("q", "kept") // suspends on the journal: handed to the writer already
            }
            publisher.cancel()
            publisher.join()
            id shouldBe 1L
            mq.stats("q").published shouldBe 1
            mq.start()
            mq.awaitIdle()
            seen shouldContainExactly listOf("kept")
            mq.shutdown()
        }
    }

    test("a durable queue on a bus without a journal directory fails at registration, naming the queue") {
        val mq = MQ()
        val e = shouldThrow<IllegalArgumentException> { mq.registerQueue<String>("audit", QueueOptions(durable = true)) {} }
        e.message shouldContain "'audit'"
        e.message shouldContain "journal directory"
        mq.close()
    }

    test("processed messages leave the journal: 50,000 messages through a small backlog keep a few segments") {
        runBlocking {
            val dir = tempDir()
            val mq = durableMq(dir, segmentBytes = 64 * 1024)
            mq.registerQueue<String>("q", QueueOptions(durable = true, concurrency = 2)) {}
            mq.start()
            val most = java.util.concurrent.atomic.AtomicInteger()
            repeat(500) { batch ->
                coroutineScope { repeat(100) { launch { mq.publish("q", "m$batch-$it") } } }
                most.set(maxOf(most.get(), segmentsOf(dir, "q").size))
            }
            mq.awaitIdle()
            mq.shutdown()
            Files.exists(dir) shouldBe true
            most.get() shouldBeLessThanOrEqual 8
            segmentsOf(dir, "q").size shouldBeLessThanOrEqual 2
        }
    }
})

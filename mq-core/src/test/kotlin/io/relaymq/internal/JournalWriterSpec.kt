package io.relaymq.internal

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.ints.shouldBeLessThanOrEqual
import io.kotest.matchers.longs.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.relaymq.FsyncPolicy
import io.relaymq.JournalException
import io.relaymq.tempDir
import java.nio.ByteBuffer
import java.nio.file.Files
import java.nio.file.Path
import java.time.Clock
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlin.io.path.fileSize
import kotlin.io.path.listDirectoryEntries

/** Counts forces, so that a test can see fsyncs being shared. */
private class CountingFileSystem : JournalFileSystem by JournalFileSystem.Default {
    val forces = AtomicInteger()

    override fun create(file: Path): JournalFile = counting(JournalFileSystem.Default.create(file))

    private fun counting(file: JournalFile) = object : JournalFile by file {
        override fun force() {
            forces.incrementAndGet()
            file.force()
        }
    }
}

private fun writer(dir: Path, fs: JournalFileSystem, policy: FsyncPolicy, segmentBytes: Int): JournalWriter {
    Files.createDirectories(dir)
    val recovered = JournalRecovery.recover("q", dir, fs, strict = false)
    return JournalWriter("q", dir, fs, policy, segmentBytes, recovered.book, AtomicLong(recovered.maxId), Clock.systemUTC())
        .also { it.begin(recovered.relocations) }
}

private fun frame(id: Long) = JournalFormat.messageFrame(id, 0L, 0L, Long.MIN_VALUE, 1, null, "payload-$id".toByteArray())

private class Latch(count: Int) : JournalCallback {
    val done = CountDownLatch(count)

    override fun stored() = done.countDown()

    override fun failed(error: JournalException) = throw error
}

class JournalWriterSpec : FunSpec({

    test("publishes that arrive while the writer is busy share one write and one fsync") {
        val dir = tempDir().resolve("j")
        val fs = CountingFileSystem()
        val writer = writer(dir, fs, FsyncPolicy.perGroupCommit(), 64 * 1024 * 1024)
        val forcesBefore = fs.forces.get()
        val latch = Latch(1_000)
        for (id in 1L..1_000L) writer.submit(JournalEntry.Append(id, frame(id), latch)) // before the thread runs
        writer.start()
        latch.done.await(30, TimeUnit.SECONDS) shouldBe true
        fs.forces.get() - forcesBefore shouldBe 1
        val done = CompletableFuture<Unit>()
        writer.submit(JournalEntry.Barrier(done))
        done.get(30, TimeUnit.SECONDS)
        writer.stop()
        JournalRecovery.recover("q", dir, fs, strict = false).messages.map { it.id } shouldBe (1L..1_000L).toList()
    }

    test("10 million messages through a small backlog keep the journal to a few segments") {
        val dir = tempDir().resolve("j")
        val segmentBytes = 1024 * 1024
        val writer = writer(dir, JournalFileSystem.Default, FsyncPolicy.none(), segmentBytes)
        writer.start()
        val backlog = 1_000L
        val total = 10_000_000L
        var mostSegments = 0
        var mostBytes = 0L
        for (id in 1L..total) {
            writer.submit(JournalEntry.Append(id, frame(id), null))
            if (id > backlog) writer.submit(JournalEntry.Complete(id - backlog))
            if (id % 500_000 == 0L) {
                val done = CompletableFuture<Unit>()
                writer.submit(JournalEntry.Barrier(done)) // also keeps the writer's queue from growing without bound
                done.get(60, TimeUnit.SECONDS)
                val segments = dir.listDirectoryEntries("*.seg")
                mostSegments = maxOf(mostSegments, segments.size)
                mostBytes = maxOf(mostBytes, segments.sumOf { it.fileSize() })
            }
        }
        for (id in total - backlog + 1..total) writer.submit(JournalEntry.Complete(id))
        val done = CompletableFuture<Unit>()
        writer.submit(JournalEntry.Barrier(done))
        done.get(60, TimeUnit.SECONDS)
        writer.stop()
        // ~25 bytes of journal per message and completion: 10M messages wrote ~400 MB in all.
        mostSegments shouldBeLessThanOrEqual 4
        mostBytes shouldBeLessThanOrEqual 4L * segmentBytes
        val left = dir.listDirectoryEntries("*.seg")
        left.size shouldBe 1 // the active segment
        JournalRecovery.recover("q", dir, JournalFileSystem.Default, strict = false).messages.size shouldBe 0
        JournalRecovery.recover("q", dir, JournalFileSystem.Default, strict = false).maxId shouldBe total
    }
})

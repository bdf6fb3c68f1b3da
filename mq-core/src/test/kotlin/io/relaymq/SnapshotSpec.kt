package io.relaymq

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.property.Arb
import io.kotest.property.arbitrary.boolean
import io.kotest.property.arbitrary.int
import io.kotest.property.checkAll
import io.relaymq.internal.QueueFileNames
import io.relaymq.internal.BusSettings
import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.SnapshotFileSystem
import io.relaymq.internal.SnapshotSink
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.delay
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.runTest
import java.io.IOException
import java.io.OutputStream
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.attribute.PosixFilePermission
import kotlin.io.path.listDirectoryEntries
import kotlin.io.path.name
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds


private fun TestScope.persistentMq(
    dir: Path,
    mode: ShutdownMode = ShutdownMode.SNAPSHOT_IMMEDIATELY,
    drainTimeout: Duration = 30.seconds,
    strict: Boolean = false,
    fs: SnapshotFileSystem = SnapshotFileSystem.Default,
) = MQ(BusSettings(StandardTestDispatcher(testScheduler), drainTimeout, dir, mode, strict, snapshotFileSystem = fs))

class SnapshotSpec : FunSpec({

    test("100,000 messages survive a close and a start, with their ids and order; the sequence continues") {
        runTest {
            val dir = tempDir()
            val first = persistentMq(dir)
            first.registerQueue<String>("words", concurrency = 4) { error("never started, never called") }
            repeat(100_000) { first.publish("words", "w$it") }
            val summary = first.shutdown()
            summary.saved shouldBe 100_000
            summary.abandoned shouldBe 0
            summary.queues.getValue("words").saved shouldBe 100_000

            val second = persistentMq(dir)
            val seen = ArrayList<Pair<Long, String>>(100_000)
            second.registerQueue<String>("words", concurrency = 1) { seen += it.id to it.data }
            second.stats("words").pending shouldBe 100_000
            second.publish("words", "new") shouldBe 100_001
            second.start()
            second.awaitIdle()
            seen.size shouldBe 100_001
            seen.take(100_000).forEachIndexed { i, (id, data) ->
                id shouldBe i + 1L
                data shouldBe "w$i"
            }
            seen.last() shouldBe (100_001L to "new")
            // every restored message is processed: the snapshot is gone
            Files.exists(dir.resolve(QueueFileNames.fileName("words"))) shouldBe false
            second.shutdown().saved shouldBe 0
        }
    }

    test("snapshot immediately: running handlers finish, queued messages are saved, not processed") {
        runTest {
            val dir = tempDir()
            val mq = persistentMq(dir)
            val done = mutableListOf<Long>()
            mq.registerQueue<String>("q", concurrency = 2) {
                delay(100)
                done += it.id
            }
            mq.start()
            repeat(10) { mq.publish("q", "m$it") }
            testScheduler.runCurrent() // two handlers are now running
            val summary = mq.shutdown()
            done shouldContainExactly listOf(1L, 2L)
            summary.processedDuringClose shouldBe 2
            summary.saved shouldBe 8
            summary.timedOut shouldBe false

            val again = persistentMq(dir)
            val restored = mutableListOf<Long>()
            again.registerQueue<String>("q") { restored += it.id }
            again.start()
            again.awaitIdle()
            restored shouldContainExactly (3L..10L).toList()
            again.shutdown()
        }
    }

    test("a handler still running at the deadline is cancelled and its message saved too") {
        runTest {
            val dir = tempDir()
            val mq = persistentMq(dir, drainTimeout = 5.seconds)
            mq.registerQueue<String>("q") { if (it.data == "stuck") awaitCancellation() }
            mq.start()
            mq.publish("q", "stuck")
            mq.publish("q", "next")
            testScheduler.runCurrent()
            val summary = mq.shutdown()
            summary.timedOut shouldBe true
            summary.saved shouldBe 2
            summary.abandoned shouldBe 0
            mq.stats("q").saved shouldBe 2

            val again = persistentMq(dir)
            val restored = mutableListOf<String>()
            again.registerQueue<String>("q") { restored += it.data }
            again.start()
            again.awaitIdle()
            restored shouldContainExactly listOf("stuck", "next")
            again.shutdown()
        }
    }

    test("drain-then-snapshot delivers until the deadline and saves only what is left") {
        runTest {
            val dir = tempDir()
            val mq = persistentMq(dir, mode = ShutdownMode.DRAIN_THEN_SNAPSHOT, drainTimeout = 1.seconds)
            val done = mutableListOf<Long>()
            mq.registerQueue<String>("q") {
                delay(300)
                done += it.id
            }
            mq.start()
            repeat(10) { mq.publish("q", "m$it") }
            val summary = mq.shutdown()
            done shouldContainExactly listOf(1L, 2L, 3L)
            summary.saved shouldBe 7
            val again = persistentMq(dir)
            val restored = mutableListOf<Long>()
            again.registerQueue<String>("q") { restored += it.id }
            again.start()
            again.awaitIdle()
            restored shouldContainExactly (4L..10L).toList()
            again.shutdown()
        }
    }

    test("a payload the queue's codec cannot encode is refused at publish") {
        runTest {
            val mq = persistentMq(tempDir())
            mq.registerQueue<Any>("any", QueueOptions(codec = MessageCodec.of(String::class.java, { it.toByteArray() }, { String(it) }))) {}
            shouldThrow<IllegalArgumentException> { mq.publish("any", 42) }.message shouldContain "cannot encode"
            mq.stats("any").published shouldBe 0
            mq.shutdown()
        }
    }

    test("a persistent queue of a type with no built-in codec must be given one") {
        runTest {
            val mq = persistentMq(tempDir())
            data class Order(val id: Int)
            shouldThrow<IllegalArgumentException> { mq.registerQueue<Order>("orders") {} }.message shouldContain "MessageCodec"
            val codec = MessageCodec.of(Order::class.java, { it.id.toString().toByteArray() }, { Order(String(it).toInt()) })
            mq.registerQueue("orders", QueueOptions(codec = codec)) { _: Message<Order> -> }
            mq.publish("orders", Order(7))
            mq.shutdown().saved shouldBe 1
        }
    }

    test("a codec must handle the handler's type (or a subclass): a mismatch is refused at registration, naming both") {
        runTest {
            val mq = persistentMq(tempDir())
            val e = shouldThrow<IllegalArgumentException> {
                mq.registerQueue<Int>("numbers", QueueOptions(codec = MessageCodec.utf8())) {}
            }
            e.message shouldContain "'numbers'"
            e.message shouldContain "java.lang.Integer"
            e.message shouldContain "java.lang.String"
            shouldThrow<IllegalArgumentException> { mq.registerReplyingQueue<String, Int>("bytes", QueueOptions(codec = MessageCodec.bytes())) { 1 } }
            // A Java-made payloadType that is not T is refused too.
            val javaOptions = QueueOptions.Builder(FROM_RELAYMQ).payloadType(Long::class.java).build()
            shouldThrow<IllegalArgumentException> { mq.registerQueue<Int>("typed", javaOptions) {} }.message shouldContain "payloadType"
            mq.queueNames shouldBe emptyList()
            mq.shutdown()
        }
    }

    test("a replying queue saves and restores its payloads with the codec in its options") {
        runTest {
            val dir = tempDir()
            data class Order(val id: Int)
            val options = QueueOptions(concurrency = 2, codec = MessageCodec.of(Order::class.java, { it.id.toString().toByteArray() }, { Order(String(it).toInt()) }))
            val first = persistentMq(dir)
            first.registerReplyingQueue<Order, Int>("orders", options) { it.data.id }
            repeat(3) { first.publish("orders", Order(it + 1)) }
            first.shutdown().saved shouldBe 3
            val second = persistentMq(dir)
            val seen = mutableListOf<Int>()
            second.registerReplyingQueue<Order, Int>("orders", options) { seen += it.data.id; it.data.id * 10 }
            second.start()
            second.request<Int>("orders", Order(4)) shouldBe 40
            second.awaitIdle()
            seen.sorted() shouldContainExactly listOf(1, 2, 3, 4)
            second.shutdown()
        }
    }

    test("a snapshot of a queue that is never registered stays untouched") {
        runTest {
            val dir = tempDir()
            val first = persistentMq(dir)
            first.registerQueue<String>("orphan") {}
            first.publish("orphan", "x")
            first.shutdown()
            val file = dir.resolve(QueueFileNames.fileName("orphan"))
            val bytes = Files.readAllBytes(file)

            val second = persistentMq(dir)
            second.registerQueue<String>("other") {}
            second.start()
            second.shutdown()
            Files.readAllBytes(file) shouldBe bytes
        }
    }

    test("restore, crash before processing, restore again: nothing lost, ids kept") {
        runTest {
            val dir = tempDir()
            val first = persistentMq(dir)
            first.registerQueue<String>("q") {}
            repeat(5) { first.publish("q", "m$it") }
            first.shutdown()

            // Second run restores, processes two, then "crashes": never closed. Its lock is released by
            // hand, as the operating system would on process death.
            val second = persistentMq(dir)
            val processed = mutableListOf<Long>()
            second.registerQueue<String>("q") {
                processed += it.id
                if (processed.size == 2) awaitCancellation()
            }
            second.start()
            testScheduler.runCurrent()
            processed shouldContainExactly listOf(1L, 2L)
            second.crashForTesting()

            // The snapshot was not removed: every message comes back (at-least-once after a restore).
            val third = persistentMq(dir)
            val again = mutableListOf<Long>()
            third.registerQueue<String>("q") { again += it.id }
            third.start()
            third.awaitIdle()
            again shouldContainExactly (1L..5L).toList()
            third.shutdown()
        }
    }

    test("the directory is locked while a bus uses it") {
        runTest {
            val dir = tempDir()
            val first = persistentMq(dir)
            first.start()
            val second = persistentMq(dir)
            shouldThrow<SnapshotException> { second.start() }.message shouldContain "in use by another RelayMQ bus"
            shouldThrow<SnapshotException> { second.registerQueue<String>("q") {} }
            first.shutdown()
            val third = persistentMq(dir)
            third.start() // released by close
            third.shutdown()
        }
    }

    test("snapshot files and the directory are owner-only; leftover temp files are removed") {
        runTest {
            val dir = tempDir().resolve("snapshots")
            val mq = persistentMq(dir)
            mq.registerQueue<String>("q") {}
            mq.publish("q", "x")
            mq.shutdown()
            Files.getPosixFilePermissions(dir) shouldBe setOf(
                PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE,
            )
            Files.getPosixFilePermissions(dir.resolve(QueueFileNames.fileName("q"))) shouldBe setOf(
                PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE,
            )
            val leftover = dir.resolve(QueueFileNames.fileName("q") + ".tmp-crashed")
            Files.write(leftover, byteArrayOf(1, 2, 3))
            val again = persistentMq(dir)
            again.start()
            Files.exists(leftover) shouldBe false
            again.shutdown()
        }
    }

    test("unsafe queue names never write outside the directory, and each gets its own file") {
        runTest {
            val root = tempDir()
            val dir = root.resolve("snapshots")
            val names = listOf("../x", "a/b", "..", ".", "CON", "nul", "Q", "q", "ünïcödé 🚀", "a\\b", " lead", "x".repeat(500))
            val mq = persistentMq(dir)
            for (name in names) mq.registerQueue<String>(name) {}
            for (name in names) mq.publish(name, "payload of $name")
            mq.shutdown().saved shouldBe names.size.toLong()
            root.listDirectoryEntries().map { it.name } shouldContainExactly listOf("snapshots")
            dir.listDirectoryEntries().filter { it.name.endsWith(".snapshot") }.size shouldBe names.size

            val again = persistentMq(dir)
            val seen = mutableMapOf<String, String>()
            for (name in names) again.registerQueue<String>(name) { seen[it.queue] = it.data }
            again.start()
            again.awaitIdle()
            seen shouldBe names.associateWith { "payload of $it" }
            again.shutdown()
        }
    }

    test("a corrupt snapshot is moved aside, logged, and the queue starts without it; strict fails instead") {
        runTest {
            val dir = tempDir()
            val first = persistentMq(dir)
            first.registerQueue<String>("q") {}
            first.publish("q", "x")
            first.shutdown()
            val file = dir.resolve(QueueFileNames.fileName("q"))
            val bytes = Files.readAllBytes(file)
            bytes[bytes.size / 2] = (bytes[bytes.size / 2].toInt() xor 0x10).toByte()
            Files.write(file, bytes)

            val strict = persistentMq(dir, strict = true)
            shouldThrow<SnapshotException> { strict.registerQueue<String>("q") {} }.message shouldContain "left in place"
            Files.readAllBytes(file) shouldBe bytes
            strict.shutdown()

            val lenient = persistentMq(dir)
            val seen = mutableListOf<String>()
            val log = capturedLog { lenient.registerQueue<String>("q") { seen += it.data } }
            lenient.stats("q").pending shouldBe 0
            Files.exists(file) shouldBe false
            val aside = dir.listDirectoryEntries().single { it.name.contains(".corrupt-") }
            Files.readAllBytes(aside) shouldBe bytes
            log shouldContain "ERROR io.relaymq.internal.SnapshotStore - Snapshot of queue 'q' is corrupt ("
            log shouldContain "moved aside to $aside, never deleted. The queue starts without it."
            lenient.publish("q", "fresh") shouldBe 1
            lenient.start()
            lenient.awaitIdle()
            seen shouldContainExactly listOf("fresh")
            lenient.shutdown()
        }
    }

    test("any corruption of a real snapshot: the bus starts, restores all or nothing, never garbage (property)") {
        val source = tempDir()
        runTest {
            val first = persistentMq(source)
            first.registerQueue<String>("q") {}
            repeat(20) { first.publish("q", "payload-$it") }
            first.shutdown()
        }
        val good = Files.readAllBytes(source.resolve(QueueFileNames.fileName("q")))
        checkAll(150, Arb.int(good.indices), Arb.int(1..255), Arb.boolean()) { position, mask, truncate ->
            val bytes = if (truncate) good.copyOf(position) else good.copyOf().also { it[position] = (it[position].toInt() xor mask).toByte() }
            val dir = tempDir()
            Files.write(dir.resolve(QueueFileNames.fileName("q")), bytes)
            runTest {
                val mq = persistentMq(dir)
                val seen = mutableListOf<String>()
                val log = capturedLog { mq.registerQueue<String>("q") { seen += it.data } } // never throws without strict mode
                mq.start()
                mq.awaitIdle()
                seen shouldBe emptyList() // a corrupt file is never partly restored, never read as garbage
                val aside = dir.listDirectoryEntries().single { it.name.contains(".corrupt-") }
                log shouldContain "Snapshot of queue 'q' is corrupt ("
                log shouldContain "moved aside to $aside"
                mq.shutdown()
            }
        }
    }

    test("a failed write or fsync keeps the last good snapshot and close reports the failure") {
        for (failure in listOf("write", "force", "move")) {
            runTest {
                val dir = tempDir()
                val good = persistentMq(dir)
                good.registerQueue<String>("q") {}
                good.publish("q", "old")
                good.shutdown()
                val file = dir.resolve(QueueFileNames.fileName("q"))
                val goodBytes = Files.readAllBytes(file)

                val faulty = persistentMq(dir, fs = FaultyFileSystem(failure))
                faulty.registerQueue<String>("q") { awaitCancellation() } // restores "old" (id 1)
                faulty.publish("q", "new")
                lateinit var e: SnapshotException
                val log = capturedLog { e = shouldThrow<SnapshotException> { faulty.shutdown() } }
                log shouldContain "ERROR io.relaymq.internal.CloseProcedure - Queue 'q': writing the snapshot failed; 2 message(s) NOT saved (ids 1, 2)"
                e.message shouldContain "'q'"
                val summary = e.summary!!
                summary.saved shouldBe 0
                summary.abandoned shouldBe 2
                summary.queues.getValue("q").abandonedIds shouldContainExactly listOf(1L, 2L)
                shouldThrow<SnapshotException> { faulty.shutdown() } // idempotent: same outcome
                Files.readAllBytes(file) shouldBe goodBytes
                dir.listDirectoryEntries().none { it.name.contains(".tmp-") } shouldBe true
            }
        }
    }
})

/** Fails one step of a snapshot write, like square/tape's fault-injecting file. */
private class FaultyFileSystem(private val failing: String) : SnapshotFileSystem {
    override fun create(file: Path): SnapshotSink {
        val real = SnapshotFileSystem.Default.create(file)
        return object : SnapshotSink {
            override val stream: OutputStream = object : OutputStream() {
                private var written = 0

                override fun write(b: Int) {
                    if (failing == "write" && ++written > 20) throw IOException("injected write failure")
                    real.stream.write(b)
                }

                override fun write(b: ByteArray, off: Int, len: Int) {
                    if (failing == "write" && written + len > 20) throw IOException("injected write failure")
                    written += len
                    real.stream.write(b, off, len)
                }
            }

            override fun force() {
                if (failing == "force") throw IOException("injected fsync failure")
                real.force()
            }

            override fun close() = real.close()
        }
    }

    override fun moveAtomically(source: Path, target: Path) {
        if (failing == "move") throw IOException("injected rename failure")
        SnapshotFileSystem.Default.moveAtomically(source, target)
    }

    override fun forceDirectory(directory: Path) = SnapshotFileSystem.Default.forceDirectory(directory)
}

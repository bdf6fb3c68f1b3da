package io.relaymq.internal

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.relaymq.MessageCodec
import io.relaymq.TestDirs
import java.nio.file.Path
import java.util.concurrent.TimeUnit

/**
 * Kills a child JVM (destroyForcibly, like kill -9) while it rewrites a snapshot over and over; the
 * file left behind must always be one complete generation, never a mix or a torn write.
 */
class SnapshotCrashSpec : FunSpec({
    test("a child JVM killed while writing leaves the old snapshot or the new one, intact") {
        val java = Path.of(System.getProperty("java.home"), "bin", "java").toString()
        repeat(6) { attempt ->
            val dir = TestDirs.create("relaymq-crash")
            val child = ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), SnapshotWriterChild::class.java.name, dir.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT) // JVM warnings on stderr must not take the place of "ready"
                .start()
            // Wait until it has written at least one generation, then kill it at a varying moment.
            val ready = child.inputStream.bufferedReader().readLine()
            ready shouldBe "ready"
            Thread.sleep(20L + attempt * 37L)
            child.destroyForcibly()
            child.waitFor(30, TimeUnit.SECONDS) shouldBe true

            val store = SnapshotStore(dir, strict = true)
            store.open()
            val restored = store.read(SnapshotWriterChild.QUEUE, MessageCodec.utf8())!!
            val generation = restored.first().second.substringBefore(':')
            restored.size shouldBe SnapshotWriterChild.sizeOf(generation.toInt())
            restored.forEachIndexed { i, (record, payload) ->
                record.id shouldBe i + 1L
                payload shouldBe "$generation:$i"
            }
            store.close()
            TestDirs.delete(dir)
        }
    }
})

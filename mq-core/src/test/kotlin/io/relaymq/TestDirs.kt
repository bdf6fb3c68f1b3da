package io.relaymq

import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.ConcurrentLinkedQueue

/**
 * Temp directories of the tests, deleted with everything in them when the test JVM exits (kotest and
 * JUnit tests alike, Lincheck's extra instances of a test class included, whose directories no test
 * method sees). A test that wants its directory gone sooner deletes it itself; [delete] forgets it.
 */
internal object TestDirs {
    private val created = ConcurrentLinkedQueue<Path>()

    init {
        Runtime.getRuntime().addShutdownHook(Thread({ deleteAll() }, "test-dirs-cleanup"))
    }

    fun create(prefix: String): Path = Files.createTempDirectory(prefix).also { created.add(it) }

    /** Deletes [dir] now, recursively. */
    fun delete(dir: Path) {
        dir.toFile().deleteRecursively()
        created.remove(dir)
    }

    fun deleteAll() {
        while (true) {
            val dir = created.poll() ?: break
            dir.toFile().deleteRecursively()
        }
    }
}

/** A fresh temp directory for one test, deleted at the latest when the test JVM exits. */
internal fun tempDir(prefix: String = "relaymq-spec"): Path = TestDirs.create(prefix)

package io.relaymq

import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.ConcurrentLinkedQueue

/**
 * Temp directories of the tests, deleted with everything in them when the test JVM exits (kotest and
 * JUnit tests alike, Lincheck's extra instances of a test class included, whose directories no test
 * method sees). A test that wants its directory gone sooner deletes it itself; [delete] forgets it.
 *
 * Also deletes, at exit, the `lincheck-bootstrap<n>.jar` that Lincheck copies into java.io.tmpdir in
 * every JVM that runs it and never removes: only this JVM's own (among its open files), never another
 * JVM's. On Linux the JVM keeps reading its open copy until it exits.
 */
internal object TestDirs {
    private val created = ConcurrentLinkedQueue<Path>()

    init {
        Runtime.getRuntime().addShutdownHook(
            Thread({
                deleteAll()
                deleteLincheckBootstrapJar()
            }, "test-dirs-cleanup"),
        )
    }

    fun create(prefix: String): Path = Files.createTempDirectory(prefix).also { created.add(it) }

    /** Deletes [dir] now, recursively. */
    fun delete(dir: Path) {
        dir.toFile().deleteRecursively()
        created.remove(dir)
    }

    private fun deleteLincheckBootstrapJar() {
        try {
            // Its classes are in a java.base package, so the jar cannot be found as a resource; the JVM
            // keeps it open, so it is among this process's open files (Linux; elsewhere nothing happens).
            val fds = Path.of("/proc/self/fd")
            if (!Files.isDirectory(fds)) return
            val jars = Files.list(fds).use { links ->
                links.toList().mapNotNull { runCatching { Files.readSymbolicLink(it) }.getOrNull() }
            }.filter { it.fileName.toString().let { n -> n.startsWith("lincheck-bootstrap") && n.endsWith(".jar") } }
            jars.toSet().forEach { Files.deleteIfExists(it) }
        } catch (e: Exception) {
            // Best effort: a leftover jar is harmless.
        }
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

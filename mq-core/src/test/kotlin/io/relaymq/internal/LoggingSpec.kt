package io.relaymq.internal

import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.ints.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain
import io.relaymq.TestDirs
import java.io.File
import java.nio.file.Path
import java.util.concurrent.TimeUnit

/**
 * RelayMQ's logging as an application sees it, in child JVMs (a logging facade initializes once per
 * JVM, so this cannot be observed in the test JVM): nothing on stdout, and a handler failure on stderr
 * even when the application has no SLF4J provider.
 */
class LoggingSpec : FunSpec({
    val testClasspath = System.getProperty("java.class.path").split(File.pathSeparator)

    test("with an SLF4J provider, a bus that starts, fails a message and closes writes nothing to stdout; the failure goes to SLF4J") {
        testClasspath.any { "slf4j-simple" in it } shouldBe true
        // The test resources' simplelogger.properties shows errors only; this child shows warnings too.
        val run = runChild(testClasspath, "-Dorg.slf4j.simpleLogger.log.io.relaymq=warn")
        withClue(run) {
            run.exitCode shouldBe 0
            run.stdout shouldBe "" // kotlin-logging's "initializing... active logger factory" line included
            run.stderr shouldContain "WARN io.relaymq.internal.FailureRouting - Handler of queue '${LoggingChild.QUEUE}' failed on message 2"
            run.stderr shouldNotContain "WARNING:" // not through java.util.logging as well
        }
    }

    test("without an SLF4J provider, a handler failure still reaches stderr (java.util.logging), with queue, id and exception") {
        val withoutProvider = testClasspath.filterNot { "slf4j-simple" in it || "slf4j-nop" in it || "logback" in it }
        val run = runChild(withoutProvider)
        withClue(run) {
            run.exitCode shouldBe 0
            run.stdout shouldBe ""
            run.stderr shouldContain "No SLF4J providers were found" // SLF4J's own warning: the fallback is what we test
            run.stderr shouldContain "WARNING: Handler of queue '${LoggingChild.QUEUE}' failed on message 2; the queue carries on"
            run.stderr shouldContain "java.lang.IllegalStateException: ${LoggingChild.FAILURE}"
            run.stderr shouldContain "at io.relaymq.internal.LoggingChild" // the stack trace, down to the handler
            run.stderr shouldNotContain "failed on message 1"
        }
    }

    test("no main source reaches kotlin-logging's KotlinLogging object (it prints its startup line on first use)") {
        val sources = File("src/main").walk().filter { it.isFile && (it.extension == "kt" || it.extension == "java") }.toList()
        sources.size shouldBeGreaterThan 10
        val offenders = sources.filter { file ->
            file.readLines().any { line ->
                line.trim().let {
                    it == "import io.github.oshai.kotlinlogging.KotlinLogging" || it.startsWith("import io.github.oshai.kotlinlogging.slf4j.") ||
                        (!it.startsWith("*") && !it.startsWith("//") && "io.github.oshai.kotlinlogging.KotlinLogging." in it)
                }
            }
        }.map { it.path }
        withClue("create loggers with relayLogger(name) (internal/Logging.kt)") { offenders shouldBe emptyList() }
    }
})

private class ChildRun(val exitCode: Int, val stdout: String, val stderr: String) {
    override fun toString(): String = "child JVM exit $exitCode\n--- stdout ---\n$stdout--- stderr ---\n$stderr--- end ---"
}

private fun runChild(classpath: List<String>, vararg jvmOptions: String): ChildRun {
    val dir = TestDirs.create("relaymq-logging")
    try {
        val out = dir.resolve("stdout").toFile()
        val err = dir.resolve("stderr").toFile()
        val java = Path.of(System.getProperty("java.home"), "bin", "java").toString()
        val child = ProcessBuilder(listOf(java, *jvmOptions, "-cp", classpath.joinToString(File.pathSeparator), LoggingChild::class.java.name))
            .redirectOutput(out)
            .redirectError(err)
            .also { it.environment().remove("KOTLIN_LOGGING_STARTUP_MESSAGE") }
            .start()
        check(child.waitFor(60, TimeUnit.SECONDS)) { child.destroyForcibly(); "the child JVM did not finish in 60 s" }
        return ChildRun(child.exitValue(), out.readText(), err.readText())
    } finally {
        TestDirs.delete(dir)
    }
}

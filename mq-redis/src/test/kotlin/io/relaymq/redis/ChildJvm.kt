package io.relaymq.redis

import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

/**
 * A [RedisChild] in its own JVM: its stdout lines are collected as they come, commands go to its stdin.
 * [kill] sends SIGKILL (like `kill -9`); [close] asks it to shut its bus down and waits for it to exit.
 * Every wait is bounded: a child that hangs fails the test instead of hanging it.
 */
class ChildJvm(vararg args: String, jvmOptions: List<String> = emptyList()) : AutoCloseable {
    private val stderrFile: Path = Files.createTempFile("relaymq-redis-child", ".txt")
    private val process: Process
    private val lines = ArrayList<String>()
    private val reader: Thread

    init {
        val java = Path.of(System.getProperty("java.home"), "bin", "java").toString()
        process = ProcessBuilder(
            listOf(java, "-Xmx256m", "-XX:TieredStopAtLevel=1") + jvmOptions +
                listOf("-cp", System.getProperty("java.class.path"), RedisChild::class.java.name) + args,
        )
            .redirectError(stderrFile.toFile())
            .also { it.environment().remove("KOTLIN_LOGGING_STARTUP_MESSAGE") }
            .start()
        val input = process.inputStream.bufferedReader()
        reader = thread(name = "child-stdout", isDaemon = true) {
            try {
                while (true) {
                    val line = input.readLine() ?: break
                    synchronized(lines) { lines += line }
                }
            } catch (e: java.io.IOException) {
                // the stream closed under us: the child is gone
            }
        }
    }

    /** Every line printed so far. */
    fun lines(): List<String> = synchronized(lines) { lines.toList() }

    /** Lines starting with `<word> `, split into words (the first dropped). */
    fun lines(word: String): List<List<String>> = lines().filter { it.startsWith("$word ") }.map { it.split(' ').drop(1) }

    /** The data of every `handled` line (one entry per handling: a message handled twice shows twice). */
    fun handled(): List<String> = lines("handled").map { it[1] }

    /** The data of every `start` line. */
    fun started(): List<String> = lines("start").map { it[1] }

    /** Waits until [condition] holds on the lines, at most [seconds]; fails the test (with the child's output) if it does not. */
    fun await(what: String, seconds: Long = 60, condition: (List<String>) -> Boolean) {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds)
        while (!condition(lines())) {
            if (System.nanoTime() > deadline) throw AssertionError("child: no $what within $seconds s (alive: ${process.isAlive}); ${describe()}")
            if (!process.isAlive && !reader.isAlive && !condition(lines())) {
                throw AssertionError("child: ended (exit ${process.exitValue()}) before $what; ${describe()}")
            }
            Thread.sleep(20)
        }
    }

    fun awaitReady() = await("'ready'") { "ready" in it }

    fun send(command: String) {
        process.outputStream.write("$command\n".toByteArray())
        process.outputStream.flush()
    }

    /** SIGKILL (kill -9), through the handle so that the lines still in the pipe are read; waits until it died. */
    fun kill() {
        process.toHandle().destroyForcibly()
        check(process.waitFor(30, TimeUnit.SECONDS)) { "the child did not die within 30 s of SIGKILL" }
        reader.join(30_000)
    }

    /** Asks the child to shut its bus down, waits (at most [seconds]) until it exited; returns its `closed` line. */
    fun shutdown(seconds: Long = 60): String {
        send("close")
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            kill()
            throw AssertionError("child: did not close within $seconds s; ${describe()}")
        }
        reader.join(30_000)
        check(process.exitValue() == 0) { "child: exit ${process.exitValue()}; ${describe()}" }
        return lines().last { it.startsWith("closed ") }
    }

    fun stderr(): String = Files.readString(stderrFile)

    fun describe(): String {
        val out = lines()
        return "stdout (${out.size} lines, last 20): ${out.takeLast(20)}; stderr: ${stderr().take(4000)}"
    }

    override fun close() {
        if (process.isAlive) kill()
        Files.deleteIfExists(stderrFile)
    }
}

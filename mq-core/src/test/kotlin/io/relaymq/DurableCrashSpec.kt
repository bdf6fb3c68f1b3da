package io.relaymq

import io.kotest.core.spec.style.FunSpec
import io.relaymq.DurableCrashChild.QUEUE
import io.relaymq.DurableCrashChild.failsFirst
import io.relaymq.DurableCrashChild.keyOf
import io.relaymq.DurableCrashChild.parse
import kotlinx.coroutines.withTimeoutOrNull
import java.io.BufferedInputStream
import java.io.ByteArrayOutputStream
import java.io.InputStream
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread
import kotlin.random.Random
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

/**
 * Kill -9 under load, many times (issue 11): a child JVM ([DurableCrashChild]) with 8 publisher threads
 * and running consumers prints every id its durable queue acknowledged and every message it handled;
 * the parent kills it (`ProcessHandle.destroyForcibly`, SIGKILL on Linux) at a random moment, then opens a bus on the
 * same journal and checks:
 * - every acknowledged message is handled by a child or delivered by the recovery (at least once);
 * - nothing is invented: every message handled or replayed is one a child published (payload shape,
 *   generation, publisher sequence within what was sent), with the id its publish returned, its
 *   ordering key, and an attempt its history explains;
 * - the recovery delivers no message twice, runs messages of one key one at a time, and goes idle;
 * - after its clean shutdown a second recovery delivers nothing, and the journal keeps only a few
 *   segments (tiny 8 KiB segments: roll-over and deletion of finished segments go on all the time, so
 *   kills land during both).
 *
 * Two children in five run with the fsync policies that do not force each commit (`interval`, `none`):
 * the README promises that a kill, unlike a power loss, loses nothing acknowledged under them either.
 * Consumers of a third of the children are slow, so that the backlog spans many segments when the
 * kill comes. Kill moments vary: during the bus's start-up (after the child's `main` began, before its
 * first acknowledgement: journal directory and first segment creation, recovery of what an earlier
 * child left), just after publishing began, or after a longer run. Sometimes the next child starts on
 * the journal a killed child left, without a recovery in between (a chain), so kills land during
 * replay too; the chain is checked as a whole when it ends. Journal directories are fresh or reused.
 * The parent's buses run on real threads ([kotlinx.coroutines.Dispatchers.Default]); sleeps only
 * choose kill moments.
 *
 * The random seed is printed (test output file); `-Drelaymq.crash.seed=<seed>` repeats the same choices
 * (kill moments are still subject to timing), `-Drelaymq.crash.cycles=<n>` changes the number of
 * children. A failing cycle's journal is copied to `target/durable-crash-failures/` for inspection.
 */
class DurableCrashSpec : FunSpec({
    test("kill -9 under load, many times: every acknowledged message is delivered, nothing is invented, the journal stays small")
        .config(timeout = 5.minutes) {
            val seed = System.getProperty("relaymq.crash.seed")?.toLong() ?: System.nanoTime()
            val cycles = System.getProperty("relaymq.crash.cycles")?.toInt() ?: 25
            println("DurableCrashSpec: seed=$seed cycles=$cycles (repeat with -Drelaymq.crash.seed=$seed)")
            val random = Random(seed)
            val started = System.nanoTime()
            var chain: Chain? = null
            var lastDir: Path? = null
            var lastHighestId = 0L // the highest id handed out on lastDir so far
            var startupMs = 300L // `starting` to `ready`, as last observed: the window start-up kills aim at
            val totals = Totals()
            for (cycle in 0 until cycles) {
                val current = chain ?: run {
                    val reuse = lastDir != null && random.nextInt(3) != 0
                    val dir = if (reuse) lastDir else TestDirs.create("relaymq-durable-crash")
                    Chain(dir, reused = reuse, idsAbove = if (reuse) lastHighestId else 0L).also { chain = it }
                }
                // A child after a killed one replays what that one left: kill it during that start-up more often.
                val mode = when (if (current.runs.isNotEmpty() && random.nextInt(3) == 0) 0 else random.nextInt(20)) {
                    in 0..3 -> KillMode.STARTUP
                    in 4..8 -> KillMode.EARLY
                    else -> KillMode.RUN
                }
                val killAfterMs = when (mode) {
                    KillMode.STARTUP -> (startupMs * random.nextDouble() * 1.2).toLong()
                    KillMode.EARLY -> random.nextLong(0, 16)
                    KillMode.RUN -> random.nextLong(30, 700)
                }
                val handlerDelayMs = if (random.nextInt(3) == 0) 3L else 0L // slow consumers: a backlog over many segments
                val policy = when (random.nextInt(5)) {
                    0 -> "interval"
                    1 -> "none"
                    else -> "perGroupCommit"
                }
                val run = runChild(current.dir, generation = cycle, handlerDelayMs, policy, mode, killAfterMs, context = "seed=$seed cycle=$cycle")
                run.startupMs?.let { startupMs = it }
                current.runs += run
                totals.children++
                if (!run.registered && current.runs.size > 1) totals.killedInRecovery++
                totals.acked += run.acked.size
                val endChain = cycle == cycles - 1 || random.nextInt(10) >= 3
                println(
                    "cycle $cycle: ${if (current.reused) "reused" else "fresh"} journal, child ${current.runs.size} of its chain, " +
                        "fsync $policy, ${if (handlerDelayMs > 0) "slow" else "fast"} consumers, mode $mode, " +
                        "killed ${killAfterMs}ms after ${if (mode == KillMode.STARTUP) "main began" else "ready"}" +
                        " (${if (run.registered) "after" else "before"} registration returned)" +
                        " (JVM start ${run.startingAfterMs ?: "-"}ms, bus start to first ack ${run.startupMs ?: "-"}ms): ${run.acked.size} acked, ${run.handled.size} handled, " +
                        "${run.failedAttempts} failed first attempts" + (if (run.torn.isNotEmpty()) ", torn last line '${run.torn}'" else "") +
                        "; journal left: ${describeFiles(current.dir)}",
                )
                if (endChain) {
                    lastHighestId = verifyChain(current, seed, cycle, totals)
                    lastDir = current.dir
                    chain = null
                }
            }
            val seconds = (System.nanoTime() - started) / 1e9
            println(
                "DurableCrashSpec: seed=$seed, ${totals.children} children killed in ${totals.chains} chains " +
                    "(${totals.killedInRecovery} before the registration on a killed child's journal returned), ${"%.1f".format(seconds)} s; " +
                    "${totals.acked} acked, ${totals.replayed} replayed by recoveries (${totals.replayedAfterHandled} of them " +
                    "already handled by a child, ${totals.replayedRetries} at attempt 2), at most ${totals.maxSegments} segment file(s) " +
                    "and ${totals.maxFiles} file(s) after a recovery",
            )
        }
})

private enum class KillMode { STARTUP, EARLY, RUN }

/**
 * Children run one after another on one journal, without a recovery between them; checked together.
 * [idsAbove]: the highest id handed out on this journal before the chain began (0 for a fresh one).
 */
private class Chain(val dir: Path, val reused: Boolean, val idsAbove: Long) {
    val runs = ArrayList<ChildRun>()
}

private class Totals {
    var children = 0
    var killedInRecovery = 0
    var chains = 0
    var acked = 0L
    var replayed = 0L
    var replayedAfterHandled = 0L
    var replayedRetries = 0L
    var maxSegments = 0
    var maxFiles = 0
}

private data class Acked(val id: Long, val payload: String)

/** A handler call: the child's `handled`/`failed` lines, or the recovery's own record. */
private data class Delivery(val id: Long, val payload: String, val attempt: Int, val succeeded: Boolean, val key: String? = null)

/** What one killed child printed. */
private class ChildRun(
    val generation: Int,
    val policy: String,
    val mode: KillMode,
    val killAfterMs: Long,
    /** From spawn to `starting`. */
    val startingAfterMs: Long?,
    /** From `starting` to `ready`: bus start, registration (recovery), first publish. */
    val startupMs: Long?,
    /** Every complete line (the last one may not be, see [torn]). */
    val lines: List<String>,
    /** Bytes after the last newline: a line the kill cut short. Ignored. */
    val torn: String,
    val stderr: String,
) {
    val acked = ArrayList<Acked>()
    val handled = ArrayList<Delivery>()
    var failedAttempts = 0
    /** Whether the durable queue's registration (the journal's recovery) returned before the kill. */
    var registered = false
    val errors = ArrayList<String>()
    val unparseable = ArrayList<String>()

    init {
        for (line in lines) {
            val parts = line.split(' ')
            when {
                line == "ready" || line == "starting" -> Unit
                line == "registered" -> registered = true
                parts[0] == "error" -> errors += line
                parts[0] == "acked" && parts.size == 3 && parts[1].toLongOrNull() != null -> acked += Acked(parts[1].toLong(), parts[2])
                (parts[0] == "handled" || parts[0] == "failed") && parts.size == 4 && parts[1].toLongOrNull() != null &&
                    parts[3].toIntOrNull() != null -> {
                    val delivery = Delivery(parts[1].toLong(), parts[2], parts[3].toInt(), succeeded = parts[0] == "handled")
                    handled += delivery
                    if (!delivery.succeeded) failedAttempts++
                }
                else -> unparseable += line
            }
        }
    }

    fun describe(): String =
        "child g$generation (fsync $policy, $mode, killed after ${killAfterMs}ms, started after ${startingAfterMs ?: "-"}ms, " +
            "first ack ${startupMs ?: "-"}ms later, ${lines.size} lines)" +
            (if (stderr.isNotBlank()) "\n  its stderr: " + stderr.lines().take(30).joinToString("\n    ") else "")
}

/** Reads a child's stdout to its end on its own thread: whole lines, the torn rest, and when `starting` and `ready` came. */
private class OutputReader(stream: InputStream, private val spawnedAt: Long) {
    val lines = ArrayList<String>()
    @Volatile var torn = ""
    @Volatile var startingAt = 0L
    @Volatile var readyAt = 0L
    val starting = CountDownLatch(1)
    val ready = CountDownLatch(1)
    private val reader = thread(isDaemon = true, name = "durable-crash-child-stdout") {
        val input = BufferedInputStream(stream, 1 shl 16)
        val line = ByteArrayOutputStream()
        while (true) {
            val b = input.read()
            if (b < 0) break
            if (b == '\n'.code) {
                val text = line.toString(Charsets.UTF_8)
                line.reset()
                synchronized(lines) { lines += text }
                if (text == "starting") {
                    startingAt = System.nanoTime()
                    starting.countDown()
                } else if (text == "ready") {
                    readyAt = System.nanoTime()
                    ready.countDown()
                }
            } else {
                line.write(b)
            }
        }
        torn = line.toString(Charsets.UTF_8)
    }

    val startingAfterMs: Long? get() = if (startingAt == 0L) null else (startingAt - spawnedAt) / 1_000_000
    val startupMs: Long? get() = if (readyAt == 0L || startingAt == 0L) null else (readyAt - startingAt) / 1_000_000

    fun awaitEnd() {
        reader.join(TimeUnit.SECONDS.toMillis(30))
        check(!reader.isAlive) { "the child's stdout did not end within 30 s of its death" }
    }
}

private fun runChild(dir: Path, generation: Int, handlerDelayMs: Long, policy: String, mode: KillMode, killAfterMs: Long, context: String): ChildRun {
    val java = Path.of(System.getProperty("java.home"), "bin", "java").toString()
    val stderrFile = Files.createTempFile("relaymq-durable-crash-stderr", ".txt")
    try {
        val spawnedAt = System.nanoTime()
        val child = ProcessBuilder(
            java, "-Xmx512m", "-cp", System.getProperty("java.class.path"),
            DurableCrashChild::class.java.name, dir.toString(), generation.toString(), handlerDelayMs.toString(), policy,
        )
            .redirectError(stderrFile.toFile())
            .also { it.environment().remove("KOTLIN_LOGGING_STARTUP_MESSAGE") }
            .start()
        child.outputStream.close()
        val output = OutputReader(child.inputStream, spawnedAt)
        try {
            val signal = if (mode == KillMode.STARTUP) output.starting else output.ready
            if (!signal.await(60, TimeUnit.SECONDS)) {
                throw AssertionError(
                    "$context: child g$generation printed no '${if (mode == KillMode.STARTUP) "starting" else "ready"}' within 60 s " +
                        "(alive: ${child.isAlive}); stdout: ${synchronized(output.lines) { output.lines.take(20) }}; stderr: ${Files.readString(stderrFile)}",
                )
            }
            Thread.sleep(killAfterMs) // only chooses the kill moment
            if (!child.isAlive) {
                throw AssertionError(
                    "$context: child g$generation ended by itself (exit ${child.exitValue()}) before the kill; " +
                        "stdout: ${synchronized(output.lines) { output.lines.takeLast(20) }}; stderr: ${Files.readString(stderrFile)}",
                )
            }
        } finally {
            // SIGKILL through the handle: Process.destroyForcibly would also close our end of the
            // child's stdout, losing the lines still in the pipe.
            child.toHandle().destroyForcibly()
            if (!child.waitFor(30, TimeUnit.SECONDS)) throw AssertionError("$context: child g$generation did not die within 30 s of SIGKILL")
        }
        output.awaitEnd()
        return ChildRun(
            generation, policy, mode, killAfterMs, output.startingAfterMs, output.startupMs, output.lines.toList(), output.torn, Files.readString(stderrFile),
        )
    } finally {
        Files.deleteIfExists(stderrFile)
    }
}

/** What one bus on the journal delivered, from registration until idle, and how its close went. */
private class Recovery(val deliveries: List<Delivery>, val problems: List<String>, val millis: Long)

/** Opens a bus on [dir] as the child does, registers the durable queue, starts, waits until idle, shuts down. */
private suspend fun recover(dir: Path): Recovery {
    val began = System.nanoTime()
    val mq = MQ(DurableCrashChild.settings(dir))
    val deliveries = ConcurrentLinkedQueue<Delivery>()
    val problems = ConcurrentLinkedQueue<String>()
    val running = ConcurrentHashMap<String, Long>() // ordering key -> id of the message being handled
    try {
        mq.registerQueue<String>(QUEUE, DurableCrashChild.options()) { msg ->
            val key = msg.key
            if (key != null) {
                val other = running.putIfAbsent(key, msg.id)
                if (other != null) problems += "message ${msg.id} (${msg.data}) of key $key handled while message $other of that key ran"
            }
            try {
                if (failsFirst(msg.data) && msg.attempt == 1) {
                    deliveries += Delivery(msg.id, msg.data, msg.attempt, succeeded = false, key = key)
                    throw IllegalStateException("first attempt fails on purpose")
                }
                deliveries += Delivery(msg.id, msg.data, msg.attempt, succeeded = true, key = key)
            } finally {
                if (key != null) running.remove(key, msg.id)
            }
        }
        mq.start()
        if (withTimeoutOrNull(60.seconds) { mq.awaitIdle() } == null) {
            problems += "the recovery bus was not idle 60 s after start: ${mq.stats(QUEUE)}"
        }
    } finally {
        val summary = mq.shutdown()
        if (summary.abandoned != 0L || summary.timedOut) problems += "the recovery bus's close abandoned messages or timed out: $summary"
    }
    return Recovery(deliveries.toList(), problems.toList(), (System.nanoTime() - began) / 1_000_000)
}

/** Segment files in the journal (the queue's subdirectory included), and all files, for the bounded-disk check. */
private fun journalFiles(dir: Path): List<Path> =
    Files.walk(dir).use { paths -> paths.filter { Files.isRegularFile(it) }.toList() }

/** "3 files (2 segments, 16384 bytes): a, b, c", at most 8 names. */
private fun describeFiles(dir: Path): String {
    val files = journalFiles(dir)
    val names = files.map { dir.relativize(it).toString() }.sorted()
    return "${files.size} file(s) (${files.count { isSegment(it) }} segment(s), ${files.sumOf { Files.size(it) }} bytes)" +
        (if (names.isEmpty()) "" else ": " + names.take(8).joinToString() + (if (names.size > 8) ", ..." else ""))
}

/** A segment file: `<20-digit index>.seg` (JournalFormat); not a `.torn-`/`.corrupt-` copy, not the lock. */
private fun isSegment(file: Path): Boolean = SEGMENT_NAME.matches(file.fileName.toString())

private val SEGMENT_NAME = Regex("\\d{20}\\.seg")

/** Checks a chain (see the class KDoc of [DurableCrashSpec]); returns the highest id handed out on its journal so far. */
private suspend fun verifyChain(chain: Chain, seed: Long, cycle: Int, totals: Totals): Long {
    val context = "seed=$seed, chain ending at cycle $cycle on a ${if (chain.reused) "reused" else "fresh"} journal ${chain.dir}"
    val problems = ArrayList<String>()
    fun problem(text: String) {
        problems += text
    }
    var highest = chain.idsAbove
    var first: Recovery? = null
    var second: Recovery? = null
    try {
        val generations = chain.runs.map { it.generation }.toSet()

        // The children's own output: well-formed, and what the test relies on below.
        val ackedId = HashMap<String, Long>() // payload -> id its publish returned
        val lastSeq = HashMap<Pair<Int, Int>, Int>() // (generation, publisher) -> highest sequence acked
        for (run in chain.runs) {
            val where = "child g${run.generation}"
            run.errors.forEach { problem("$where: a publish threw: $it") }
            run.unparseable.take(5).forEach { problem("$where printed an unexpected line: '$it'") }
            val perPublisher = HashMap<Int, MutableList<Acked>>()
            for (a in run.acked) {
                val parts = parse(a.payload)
                if (parts == null || parts.first != run.generation) {
                    problem("$where acked a payload not of its own: $a")
                    continue
                }
                if (ackedId.put(a.payload, a.id) != null) problem("$where: payload ${a.payload} acked twice")
                perPublisher.getOrPut(parts.second) { ArrayList() } += a
            }
            for ((publisher, acks) in perPublisher) {
                val seqs = acks.map { parse(it.payload)!!.third }
                if (seqs != (1..seqs.size).toList()) problem("$where: publisher $publisher's acked sequences are not 1..${seqs.size}: ${seqs.take(20)}")
                val bad = acks.zipWithNext().firstOrNull { (a, b) -> b.id <= a.id }
                if (bad != null) problem("$where: publisher $publisher got id ${bad.second.id} (${bad.second.payload}) after ${bad.first.id} (${bad.first.payload})")
                lastSeq[run.generation to publisher] = seqs.size
            }
        }
        // Ids continue after restarts (README: stable across restarts, so handlers can deduplicate): a
        // child's new messages get ids above every id handed out on this journal before it started.
        for (run in chain.runs) {
            val lowest = run.acked.minOfOrNull { it.id }
            if (lowest != null && lowest <= highest) {
                problem("child g${run.generation} got id $lowest (${run.acked.first { it.id == lowest }.payload}) for a new message; ids up to $highest were handed out on this journal before it started")
            }
            highest = maxOf(highest, run.acked.maxOfOrNull { it.id } ?: 0L, run.handled.maxOfOrNull { it.id } ?: 0L)
        }
        val byId = HashMap<Long, String>()
        for ((payload, id) in ackedId) {
            val other = byId.put(id, payload)
            if (other != null) problem("id $id was returned for two payloads, $other and $payload")
        }

        /** Checks that [d], seen by [where] (a child of generation [maxGeneration], or the recovery), is a message a child published. */
        fun checkGenuine(where: String, d: Delivery, maxGeneration: Int) {
            val parts = parse(d.payload)
            if (parts == null) return problem("$where: INVENTED payload '${d.payload}' (id ${d.id}), not of the children's shape")
            val (generation, publisher, seq) = parts
            if (generation !in generations || generation > maxGeneration) {
                return problem("$where: INVENTED message ${d.id} '${d.payload}': no child of generation $generation ran before on this journal since its last recovery")
            }
            val sent = lastSeq[generation to publisher] ?: 0
            if (seq > sent + 1) problem("$where: INVENTED message ${d.id} '${d.payload}': publisher $publisher of g$generation was at most at sequence ${sent + 1}")
            val acked = ackedId[d.payload]
            if (acked != null && acked != d.id) problem("$where: message '${d.payload}' delivered with id ${d.id}, its publish returned id $acked")
            val owner = byId[d.id]
            if (owner != null && owner != d.payload) problem("$where: id ${d.id} delivered with payload '${d.payload}', it was acked for '$owner'")
            val maxAttempt = if (failsFirst(d.payload)) 2 else 1
            if (d.attempt !in 1..maxAttempt) problem("$where: message ${d.id} '${d.payload}' delivered at attempt ${d.attempt} (its first attempt is the only one that fails)")
        }

        val handledByChildren = HashSet<String>()
        for (run in chain.runs) {
            for (d in run.handled) {
                checkGenuine("child g${run.generation}", d, run.generation)
                if (d.succeeded) handledByChildren += d.payload
            }
        }

        first = recover(chain.dir)
        val recovery = first
        recovery.problems.forEach { problem("recovery: $it") }
        val replayed = HashMap<String, MutableList<Delivery>>()
        val seenIds = HashMap<Long, String>()
        for (d in recovery.deliveries) {
            checkGenuine("recovery", d, Int.MAX_VALUE)
            replayed.getOrPut(d.payload) { ArrayList() } += d
            val before = seenIds.put(d.id, d.payload)
            if (before != null && before != d.payload) problem("recovery delivered id ${d.id} for two payloads, '$before' and '${d.payload}'")
            val (_, publisher, seq) = parse(d.payload) ?: continue
            if (d.key != keyOf(publisher, seq)) problem("recovery: message ${d.id} '${d.payload}' has key ${d.key}, it was published with ${keyOf(publisher, seq)}")
        }
        for ((payload, ds) in replayed) {
            val successes = ds.count { it.succeeded }
            if (successes != 1) problem("recovery handled '$payload' (id ${ds[0].id}) successfully $successes times: $ds")
            if (ds.zipWithNext().any { (a, b) -> b.attempt <= a.attempt }) problem("recovery: attempts of '$payload' do not increase: $ds")
        }
        val lost = ackedId.keys.filter { it !in handledByChildren && it !in replayed }
        if (lost.isNotEmpty()) {
            problem(
                "LOST ${lost.size} acknowledged message(s), neither handled by a child nor replayed: " +
                    lost.take(15).joinToString { "$it (id ${ackedId[it]})" },
            )
        }

        second = recover(chain.dir)
        second.problems.forEach { problem("second recovery: $it") }
        if (second.deliveries.isNotEmpty()) {
            problem("the second recovery, after the first one's clean shutdown, delivered ${second.deliveries.size} message(s): ${second.deliveries.take(10)}")
        }
        val files = journalFiles(chain.dir)
        val segments = files.filter { isSegment(it) }
        // A kill leaves at most a torn tail (copied to .torn-<time>): everything a write returned for is
        // in the page cache. Damage followed by valid frames (moved to .corrupt-<time>) cannot come
        // from a kill, only from the writer (say, frames written out of order) or a misreading recovery.
        val corrupt = files.filter { ".corrupt-" in it.fileName.toString() }
        if (corrupt.isNotEmpty()) problem("recovery found corruption in the middle of a segment, impossible after a kill: ${corrupt.map { chain.dir.relativize(it) }}")
        if (segments.size > MAX_SEGMENTS_AT_REST) {
            problem("the journal holds ${segments.size} segment files after the recoveries (at most $MAX_SEGMENTS_AT_REST expected): ${files.map { chain.dir.relativize(it) }}")
        }

        totals.chains++
        highest = maxOf(highest, recovery.deliveries.maxOfOrNull { it.id } ?: 0L)
        val successes = recovery.deliveries.filter { it.succeeded }
        totals.replayed += successes.size
        totals.replayedAfterHandled += successes.count { it.payload in handledByChildren }
        totals.replayedRetries += successes.count { it.attempt > 1 }
        totals.maxSegments = maxOf(totals.maxSegments, segments.size)
        totals.maxFiles = maxOf(totals.maxFiles, files.size)
        println(
            "  chain of ${chain.runs.size} child(ren) checked: ${ackedId.size} acked, ${handledByChildren.size} handled by children, " +
                "${successes.size} replayed (${successes.count { it.payload in handledByChildren }} already handled, " +
                "${successes.count { it.payload !in ackedId }} never acked) in ${recovery.millis} ms, second recovery ${second.millis} ms, " +
                "journal after: ${describeFiles(chain.dir)}",
        )
    } catch (e: Throwable) {
        if (e is kotlinx.coroutines.CancellationException) throw e
        problem("the check itself failed: $e")
        failChain(chain, context, problems, e)
    }
    if (problems.isNotEmpty()) failChain(chain, context, problems, null)
    return highest
}

/** At most this many segment files once nothing is pending: the one being written and one about to go. */
private const val MAX_SEGMENTS_AT_REST = 3

private fun failChain(chain: Chain, context: String, problems: List<String>, cause: Throwable?): Nothing {
    val kept = Path.of("target", "durable-crash-failures", chain.dir.fileName.toString() + "-" + System.nanoTime())
    val copied = runCatching {
        Files.createDirectories(kept)
        chain.dir.toFile().copyRecursively(kept.toFile(), overwrite = true)
        kept.toAbsolutePath().toString()
    }.getOrElse { "not copied: $it" }
    val message = "$context: ${problems.size} problem(s):\n - " + problems.take(40).joinToString("\n - ") +
        "\nchildren: " + chain.runs.joinToString("\n  ") { it.describe() } +
        "\njournal copied to $copied"
    throw AssertionError(message, cause)
}

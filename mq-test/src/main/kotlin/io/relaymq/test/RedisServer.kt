package io.relaymq.test

import java.io.BufferedInputStream
import java.io.IOException
import java.io.InputStream
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.nio.charset.StandardCharsets
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.time.Duration
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.TimeUnit

/**
 * A real `redis-server` for tests, demos and benchmarks: its own process, on a free loopback port
 * (bound to 127.0.0.1 only), in a temporary directory of its own, ready (answering `PING`, its data
 * loaded) when [start] returns. [close] stops it and deletes the directory.
 *
 * Java: `try (RedisServer redis = RedisServer.start()) { ... redis.getUri() ... }`, or with AOF,
 * `RedisServer.start(RedisServer.Persistence.AOF_ALWAYS)`, or with more options,
 * `RedisServer.start(new RedisServer.Options().persistence(RedisServer.Persistence.AOF_ALWAYS).args("--maxmemory", "1gb"))`.
 * Kotlin: `RedisServer.start().use { redis -> ... redis.uri ... }`.
 *
 * The executable is the system property `relaymq.redis.server` if set, else `redis-server` on the `PATH`,
 * else `/usr/bin/redis-server` (Debian and Ubuntu: `apt-get install redis-server`). The server never
 * writes RDB snapshots (`--save ""`); with [Persistence.NONE] it keeps nothing across a restart, with
 * [Persistence.AOF_ALWAYS] every write is in the append-only file, fsynced, before Redis replies, so
 * [kill] followed by [restart] loses nothing that was acknowledged.
 *
 * Crash tests: [kill] (SIGKILL), then [restart] on the same port and directory. A JVM that exits
 * without closing its servers kills them and deletes their directories from a shutdown hook (not
 * after `kill -9` of the JVM itself: then the server lives on).
 * Redis's own log is [logFile]; [logTail] returns its end, and every failure to start quotes it.
 *
 * Thread-safe.
 */
public class RedisServer private constructor(
    private val executable: Path,
    private val options: Options,
) : AutoCloseable {
    /** The server's directory (`--dir`): its append-only files and [logFile]. Deleted by [close]. */
    public val directory: Path = createDirectory(options.parent)

    /** Redis's log file (`--logfile`), in [directory]: read it when something went wrong. */
    public val logFile: Path = directory.resolve("redis.log")

    /** What the process wrote to its standard output and error (configuration errors before [logFile] opens). */
    private val outputFile: Path = directory.resolve("redis-server.out")

    /** What the server keeps across a [restart]. */
    public val persistence: Persistence = options.persistence

    /** The loopback port the server listens on; the same across [restart]. */
    @Volatile
    public var port: Int = 0
        private set

    /** `redis://127.0.0.1:<port>`, for a client such as `RedisStreams.builder(uri)`. */
    public val uri: String get() = "redis://127.0.0.1:$port"

    private val lock = Any()

    @Volatile
    private var process: Process? = null

    @Volatile
    private var closed = false

    /** Whether the server process is alive (false after [stop], [kill] and [close]). */
    public val isRunning: Boolean get() = synchronized(lock) { process?.isAlive == true }

    /** The server's process id, or -1 when it is not running. */
    public val pid: Long get() = synchronized(lock) { process?.takeIf { it.isAlive }?.pid() ?: -1 }

    private fun launchOnFreePort() {
        // The free port is chosen before redis binds it: another process may take it in between; then retry.
        var last: IllegalStateException? = null
        repeat(5) {
            port = freePort()
            try {
                launch()
                return
            } catch (e: PortTakenException) {
                last = e
            }
        }
        throw IllegalStateException("redis-server could not bind a free port after 5 attempts", last)
    }

    /** Starts the process on [port] and waits until it answers PING with its data loaded. */
    private fun launch() {
        val command = mutableListOf(
            executable.toString(),
            "--port", port.toString(),
            "--bind", "127.0.0.1",
            "--dir", directory.toString(),
            "--logfile", logFile.toString(),
            "--daemonize", "no",
            "--save", "",
        )
        when (persistence) {
            Persistence.NONE -> command += listOf("--appendonly", "no")
            Persistence.AOF_ALWAYS -> command += listOf("--appendonly", "yes", "--appendfsync", "always")
            Persistence.AOF_EVERYSEC -> command += listOf("--appendonly", "yes", "--appendfsync", "everysec")
        }
        command += options.extraArgs
        val logStart = if (Files.exists(logFile)) Files.size(logFile) else 0L
        val outStart = if (Files.exists(outputFile)) Files.size(outputFile) else 0L
        val started = try {
            ProcessBuilder(command)
                .directory(directory.toFile())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(outputFile.toFile()))
                .start()
        } catch (e: IOException) {
            throw IllegalStateException("Could not run $executable: ${e.message}. $INSTALL_HINT", e)
        }
        process = started
        val deadline = System.nanoTime() + options.startTimeout.toNanos()
        var lastProblem = "no answer yet"
        while (true) {
            if (!started.isAlive) {
                process = null
                val log = tailSince(logFile, logStart) + tailSince(outputFile, outStart)
                if (log.contains("Address already in use")) throw PortTakenException(port, log)
                throw IllegalStateException(
                    "redis-server exited with code ${started.exitValue()} before answering PING on port $port " +
                        "(command: ${command.joinToString(" ")}). Its log and output:\n$log",
                )
            }
            try {
                val problem = probe()
                if (problem.isEmpty()) return
                lastProblem = problem
            } catch (e: IOException) {
                lastProblem = e.toString() // not listening yet
            }
            if (System.nanoTime() > deadline) {
                started.destroyForcibly()
                started.waitFor(5, TimeUnit.SECONDS)
                process = null
                throw IllegalStateException(
                    "redis-server on port $port was not ready within ${options.startTimeout} ($lastProblem). " +
                        "Its log and output:\n${tailSince(logFile, logStart)}${tailSince(outputFile, outStart)}",
                )
            }
            Thread.sleep(10)
        }
    }

    /**
     * One readiness check: "" when the server answers PING and has finished loading, else what it
     * said (a LOADING error, `loading:1`); throws IOException when it does not answer at all.
     */
    private fun probe(): String {
        Socket().use { socket ->
            socket.connect(InetSocketAddress("127.0.0.1", port), 500)
            socket.soTimeout = 2_000
            val out = socket.getOutputStream()
            val input = BufferedInputStream(socket.getInputStream())
            out.write(resp("PING"))
            out.flush()
            val pong = readReply(input)
            if (pong != "PONG") return "PING answered '$pong'"
            out.write(resp("INFO", "persistence"))
            out.flush()
            val info = readReply(input)
            val loading = info.lineSequence().any { it.trim() == "loading:1" || it.trim() == "async_loading:1" }
            return if (loading) "still loading its data" else ""
        }
    }

    /**
     * Stops the server: `SHUTDOWN NOSAVE` (the append-only file, if any, is flushed and closed), then
     * waits for the process to exit (SIGKILL after 10 seconds). Keeps [directory]; [restart] starts
     * it again. Does nothing if it is not running.
     */
    public fun stop() {
        synchronized(lock) {
            val running = process ?: return
            process = null
            if (running.isAlive) {
                try {
                    Socket().use { socket ->
                        socket.connect(InetSocketAddress("127.0.0.1", port), 1_000)
                        socket.soTimeout = 10_000
                        socket.getOutputStream().write(resp("SHUTDOWN", "NOSAVE"))
                        socket.getOutputStream().flush()
                        // A successful SHUTDOWN closes the connection without a reply; an error reply means it refused.
                        val refused = try {
                            socket.getInputStream().read() >= 0
                        } catch (_: IOException) {
                            false
                        }
                        if (refused) running.destroy()
                    }
                } catch (_: IOException) {
                    running.destroy()
                }
                if (!running.waitFor(10, TimeUnit.SECONDS)) {
                    running.destroyForcibly()
                    running.waitFor(10, TimeUnit.SECONDS)
                }
            }
        }
    }

    /**
     * Kills the server with SIGKILL, as a crash would, and waits for the process to exit. What an
     * append-only file with `appendfsync always` holds survives; [restart] reloads it. Does nothing if
     * it is not running.
     */
    public fun kill() {
        synchronized(lock) {
            val running = process ?: return
            process = null
            running.destroyForcibly() // SIGKILL on Linux and macOS
            running.waitFor(30, TimeUnit.SECONDS)
        }
    }

    /**
     * Starts the server again on the same port and in the same [directory] ([stop]ping it first if it
     * is running), so that an append-only file is reloaded; returns once it answers PING and has
     * finished loading.
     *
     * @throws IllegalStateException after [close], or when it does not come back (the message quotes
     *   its log; the port may have been taken by another process meanwhile).
     */
    public fun restart() {
        synchronized(lock) {
            check(!closed) { "RedisServer on port $port is closed" }
            stop()
            try {
                launch()
            } catch (e: PortTakenException) {
                throw IllegalStateException("Could not restart redis-server: port $port was taken by another process meanwhile", e)
            }
        }
    }

    /** The last [lines] lines of [logFile] (all of it when shorter); "" when there is none yet. */
    @JvmOverloads
    public fun logTail(lines: Int = 40): String {
        if (!Files.exists(logFile)) return ""
        val all = Files.readAllLines(logFile, StandardCharsets.UTF_8)
        return all.takeLast(lines).joinToString("\n")
    }

    /** The last 40 lines [file] got since it was [offset] bytes long, headed by its name; "" if none. */
    private fun tailSince(file: Path, offset: Long): String {
        if (!Files.exists(file)) return ""
        val bytes = Files.readAllBytes(file)
        val from = offset.coerceIn(0L, bytes.size.toLong()).toInt()
        val text = String(bytes, from, bytes.size - from, StandardCharsets.UTF_8).trim()
        return if (text.isEmpty()) "" else "--- $file:\n" + text.lines().takeLast(40).joinToString("\n") + "\n"
    }

    /** [stop]s the server and deletes [directory]. Idempotent. */
    override fun close() {
        synchronized(lock) {
            if (closed) return
            closed = true
            stop()
            directory.toFile().deleteRecursively()
            live.remove(this)
        }
    }

    override fun toString(): String =
        "RedisServer($uri, ${persistence.name.lowercase()}, ${if (isRunning) "pid $pid" else "not running"}, $directory)"

    /** What the server keeps across a [kill] or [stop] and [restart]. No mode writes RDB snapshots. */
    public enum class Persistence {
        /** Nothing: a restarted server is empty (`--appendonly no`). */
        NONE,

        /** An append-only file fsynced before every reply (`--appendonly yes --appendfsync always`): nothing acknowledged is lost. */
        AOF_ALWAYS,

        /** An append-only file fsynced once a second (`--appendonly yes --appendfsync everysec`): a crash may lose the last second. */
        AOF_EVERYSEC,
    }

    /**
     * How to start a [RedisServer]; every setter returns this options object:
     * `new RedisServer.Options().persistence(RedisServer.Persistence.AOF_ALWAYS)`.
     */
    public class Options {
        internal var persistence: Persistence = Persistence.NONE
        internal var executable: Path? = null
        internal var parent: Path? = null
        internal var startTimeout: Duration = Duration.ofSeconds(30)
        internal var extraArgs: List<String> = emptyList()

        /** What the server keeps across a restart; default [Persistence.NONE]. */
        public fun persistence(persistence: Persistence): Options = apply { this.persistence = persistence }

        /** The `redis-server` executable; default: `-Drelaymq.redis.server`, the `PATH`, `/usr/bin/redis-server`. */
        public fun executable(executable: Path): Options = apply { this.executable = executable }

        /**
         * Where to create the server's temporary directory; default the system's temporary directory.
         * For fsync figures, choose one on a real disk (not tmpfs).
         */
        public fun parentDirectory(parent: Path): Options = apply { this.parent = parent }

        /** How long [start] and [restart] wait for the server to answer and load its data; default 30 seconds. */
        public fun startTimeout(timeout: Duration): Options = apply {
            require(!timeout.isNegative && !timeout.isZero) { "startTimeout must be positive, was $timeout" }
            this.startTimeout = timeout
        }

        /** More `redis-server` arguments, after the launcher's own (a later one wins), e.g. `"--maxmemory", "1gb"`. */
        public fun args(vararg args: String): Options = apply { this.extraArgs = extraArgs + args }

        internal fun copy(): Options = Options().also {
            it.persistence = persistence
            it.executable = executable
            it.parent = parent
            it.startTimeout = startTimeout
            it.extraArgs = extraArgs
        }
    }

    private class PortTakenException(port: Int, log: String) :
        IllegalStateException("port $port is already in use:\n$log")

    /** Starting servers, from Java and Kotlin alike. */
    public companion object {
        private const val INSTALL_HINT =
            "Install Redis (Debian/Ubuntu: `apt-get install redis-server`) or pass -Drelaymq.redis.server=/path/to/redis-server."

        private val live: MutableSet<RedisServer> = ConcurrentHashMap.newKeySet()

        @Volatile
        private var hooked = false

        /** Starts a server without persistence; returns once it answers PING. */
        @JvmStatic
        public fun start(): RedisServer = start(Options())

        /** Starts a server with [persistence]; returns once it answers PING and has loaded its data. */
        @JvmStatic
        public fun start(persistence: Persistence): RedisServer = start(Options().persistence(persistence))

        /**
         * Starts a server with [options]; returns once it answers PING and has loaded its data.
         *
         * @throws IllegalStateException when `redis-server` is missing (the message says how to install
         *   it) or does not start (the message quotes its log).
         */
        @JvmStatic
        public fun start(options: Options): RedisServer {
            val own = options.copy()
            val server = RedisServer(own.executable ?: findExecutable(), own)
            ensureShutdownHook()
            live.add(server)
            try {
                synchronized(server.lock) { server.launchOnFreePort() }
            } catch (e: Throwable) {
                live.remove(server)
                server.directory.toFile().deleteRecursively()
                throw e
            }
            return server
        }

        /**
         * The `redis-server` executable [start] would use: the system property `relaymq.redis.server`,
         * else `redis-server` on the `PATH`, else `/usr/bin/redis-server`.
         *
         * @throws IllegalStateException when there is none; the message says how to install it.
         */
        @JvmStatic
        public fun findExecutable(): Path {
            System.getProperty("relaymq.redis.server")?.takeIf { it.isNotBlank() }?.let { configured ->
                val path = Paths.get(configured)
                check(Files.isExecutable(path)) { "-Drelaymq.redis.server=$configured is not an executable file. $INSTALL_HINT" }
                return path
            }
            for (dir in System.getenv("PATH").orEmpty().split(java.io.File.pathSeparator)) {
                if (dir.isBlank()) continue
                val candidate = Paths.get(dir, "redis-server")
                if (Files.isExecutable(candidate)) return candidate
            }
            val debian = Paths.get("/usr/bin/redis-server")
            if (Files.isExecutable(debian)) return debian
            throw IllegalStateException("redis-server not found on the PATH nor at $debian. $INSTALL_HINT")
        }

        /** Whether [findExecutable] finds a `redis-server`: tests and demos can skip themselves without one. */
        @JvmStatic
        public fun isAvailable(): Boolean = try {
            findExecutable()
            true
        } catch (_: IllegalStateException) {
            false
        }

        private fun ensureShutdownHook() {
            if (hooked) return
            synchronized(live) {
                if (hooked) return
                Runtime.getRuntime().addShutdownHook(
                    Thread({
                        for (server in live) {
                            server.process?.destroyForcibly()?.waitFor(5, TimeUnit.SECONDS)
                            server.directory.toFile().deleteRecursively()
                        }
                    }, "relaymq-redis-server-reaper"),
                )
                hooked = true
            }
        }

        private fun freePort(): Int = ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()).use { it.localPort }

        private fun createDirectory(parent: Path?): Path =
            if (parent == null) {
                Files.createTempDirectory("relaymq-redis-")
            } else {
                Files.createDirectories(parent)
                Files.createTempDirectory(parent, "relaymq-redis-")
            }

        private fun resp(vararg args: String): ByteArray {
            val sb = StringBuilder("*").append(args.size).append("\r\n")
            for (a in args) {
                val bytes = a.toByteArray(StandardCharsets.UTF_8)
                sb.append('$').append(bytes.size).append("\r\n").append(a).append("\r\n")
            }
            return sb.toString().toByteArray(StandardCharsets.UTF_8)
        }

        /** Reads one simple-string, error or bulk-string reply; an error reply comes back as its text (starting with '-'). */
        private fun readReply(input: InputStream): String {
            val line = readLine(input)
            return when (line.firstOrNull()) {
                '+' -> line.substring(1)
                '-' -> line
                ':' -> line.substring(1)
                '$' -> {
                    val length = line.substring(1).toInt()
                    if (length < 0) return ""
                    val bytes = input.readNBytes(length + 2)
                    if (bytes.size < length + 2) throw IOException("connection closed mid-reply")
                    String(bytes, 0, length, StandardCharsets.UTF_8)
                }
                else -> throw IOException("unexpected reply '$line'")
            }
        }

        private fun readLine(input: InputStream): String {
            val sb = StringBuilder()
            while (true) {
                val c = input.read()
                if (c < 0) throw IOException("connection closed")
                if (c == '\r'.code) {
                    input.read() // '\n'
                    return sb.toString()
                }
                sb.append(c.toChar())
            }
        }
    }
}

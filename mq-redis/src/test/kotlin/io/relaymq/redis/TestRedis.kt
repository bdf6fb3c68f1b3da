package io.relaymq.redis

import java.net.ServerSocket
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit

/** Temporary: a redis-server on a free loopback port (replaced by mq-test's RedisServer). */
class TestRedis(private val aof: Boolean = false) : AutoCloseable {
    val dir: Path = Files.createTempDirectory("relaymq-redis")
    val port: Int = ServerSocket(0).use { it.localPort }
    val uri: String get() = "redis://127.0.0.1:$port"
    private var process: Process? = null

    init { start() }

    fun start() {
        val args = mutableListOf("redis-server", "--port", "$port", "--bind", "127.0.0.1", "--dir", dir.toString(), "--save", "", "--logfile", dir.resolve("redis.log").toString())
        if (aof) args += listOf("--appendonly", "yes", "--appendfsync", "always")
        process = ProcessBuilder(args).redirectErrorStream(true).start()
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10)
        while (System.nanoTime() < deadline) {
            try {
                java.net.Socket("127.0.0.1", port).use { s ->
                    s.getOutputStream().write("PING\r\n".toByteArray())
                    val b = ByteArray(64)
                    val n = s.getInputStream().read(b)
                    if (n > 0 && String(b, 0, n).startsWith("+PONG")) return
                }
            } catch (e: Exception) { Thread.sleep(20) }
        }
        error("redis did not start")
    }

    fun kill() { process?.destroyForcibly()?.waitFor() }

    fun restart() { kill(); start() }

    override fun close() {
        kill()
        dir.toFile().deleteRecursively()
    }
}

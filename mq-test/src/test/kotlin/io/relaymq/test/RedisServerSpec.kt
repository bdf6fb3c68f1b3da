package io.relaymq.test

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldStartWith
import java.io.BufferedInputStream
import java.io.IOException
import java.io.InputStream
import java.net.ConnectException
import java.net.Socket
import java.nio.charset.StandardCharsets
import java.nio.file.Files
import java.nio.file.Path

/** A tiny RESP client over a plain socket: one command, one reply (an array's elements joined by spaces). */
private fun command(port: Int, vararg args: String): String? = Socket("127.0.0.1", port).use { socket ->
    socket.soTimeout = 5_000
    val request = StringBuilder("*${args.size}\r\n")
    for (a in args) request.append('$').append(a.toByteArray().size).append("\r\n").append(a).append("\r\n")
    socket.getOutputStream().write(request.toString().toByteArray(StandardCharsets.UTF_8))
    reply(BufferedInputStream(socket.getInputStream()))
}

private fun reply(input: InputStream): String? {
    val line = readLine(input)
    return when (line[0]) {
        '+', ':' -> line.substring(1)
        '-' -> throw IOException("Redis error: $line")
        '$' -> {
            val n = line.substring(1).toInt()
            if (n < 0) null else String(input.readNBytes(n + 2), 0, n, StandardCharsets.UTF_8)
        }
        '*' -> (0 until line.substring(1).toInt()).joinToString(" ") { reply(input).toString() }
        else -> error("unexpected reply $line")
    }
}

private fun readLine(input: InputStream): String {
    val sb = StringBuilder()
    while (true) {
        val c = input.read()
        check(c >= 0) { "connection closed" }
        if (c == '\r'.code) {
            input.read()
            return sb.toString()
        }
        sb.append(c.toChar())
    }
}

class RedisServerSpec : FunSpec({
    test("start: a server on a free loopback port that answers PING, with its own directory and log") {
        RedisServer.start().use { redis ->
            redis.isRunning shouldBe true
            redis.uri shouldBe "redis://127.0.0.1:${redis.port}"
            command(redis.port, "PING") shouldBe "PONG"
            command(redis.port, "CONFIG", "GET", "appendonly") shouldBe "appendonly no"
            Files.isDirectory(redis.directory) shouldBe true
            Files.exists(redis.logFile) shouldBe true
            redis.logTail() shouldContain "Ready to accept connections"
            redis.persistence shouldBe RedisServer.Persistence.NONE
        }
    }

    test("two servers get different ports and directories") {
        RedisServer.start().use { a ->
            RedisServer.start().use { b ->
                (a.port == b.port) shouldBe false
                (a.directory == b.directory) shouldBe false
                command(a.port, "SET", "k", "a")
                command(b.port, "GET", "k") shouldBe null
            }
        }
    }

    test("restart with AOF (appendfsync always) keeps a key, after a stop and after a kill") {
        RedisServer.start(RedisServer.Persistence.AOF_ALWAYS).use { redis ->
            val port = redis.port
            command(port, "SET", "kept", "1") shouldBe "OK"
            redis.restart()
            redis.port shouldBe port
            command(port, "GET", "kept") shouldBe "1"

            command(port, "SET", "kept", "2") shouldBe "OK"
            redis.kill()
            redis.isRunning shouldBe false
            redis.restart()
            command(port, "GET", "kept") shouldBe "2"
            command(port, "CONFIG", "GET", "appendfsync") shouldBe "appendfsync always"
        }
    }

    test("restart without persistence starts empty") {
        RedisServer.start().use { redis ->
            command(redis.port, "SET", "lost", "1") shouldBe "OK"
            redis.restart()
            command(redis.port, "GET", "lost") shouldBe null
        }
    }

    test("kill: the process is gone at once, nothing listens, stop and kill again do nothing") {
        RedisServer.start().use { redis ->
            val pid = redis.pid
            redis.kill()
            redis.isRunning shouldBe false
            redis.pid shouldBe -1L
            ProcessHandle.of(pid).map { it.isAlive }.orElse(false) shouldBe false
            shouldThrow<ConnectException> { command(redis.port, "PING") }
            redis.kill()
            redis.stop()
        }
    }

    test("close stops the server and deletes its directory; it is idempotent and final") {
        val redis = RedisServer.start(RedisServer.Options().persistence(RedisServer.Persistence.AOF_ALWAYS))
        val dir = redis.directory
        val pid = redis.pid
        command(redis.port, "SET", "k", "v")
        redis.close()
        redis.isRunning shouldBe false
        ProcessHandle.of(pid).map { it.isAlive }.orElse(false) shouldBe false
        Files.exists(dir) shouldBe false
        redis.close()
        shouldThrow<IllegalStateException> { redis.restart() }
    }

    test("a missing executable says how to install Redis") {
        val e = shouldThrow<IllegalStateException> {
            RedisServer.start(RedisServer.Options().executable(Path.of("/nonexistent/redis-server")))
        }
        e.message shouldContain "apt-get install redis-server"
    }

    test("a server that cannot start reports its log") {
        val e = shouldThrow<IllegalStateException> {
            RedisServer.start(RedisServer.Options().args("--no-such-option", "1"))
        }
        e.message shouldStartWith "redis-server exited"
        e.message shouldContain "no-such-option"
    }
})

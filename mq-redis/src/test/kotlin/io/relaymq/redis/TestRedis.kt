package io.relaymq.redis

import io.relaymq.test.RedisServer

/**
 * The redis-server of mq-redis's tests: mq-test's [RedisServer] (free loopback port, own directory),
 * with or without an append-only file fsynced on every write.
 */
class TestRedis(aof: Boolean = false) : AutoCloseable {
    private val server = RedisServer.start(if (aof) RedisServer.Persistence.AOF_ALWAYS else RedisServer.Persistence.NONE)

    val uri: String get() = server.uri
    val port: Int get() = server.port

    /** SIGKILL, as a crash would. */
    fun kill() = server.kill()

    /** Killed (a crash) and started again on the same port and directory. */
    fun restart() {
        server.kill()
        server.restart()
    }

    override fun close() = server.close()
}

package io.relaymq.internal

import io.relaymq.MQ
import kotlinx.coroutines.runBlocking

/**
 * The child JVM of [LoggingSpec]: a bus starts, handles a message, fails on another and closes. It
 * writes nothing itself, so whatever reaches stdout or stderr came from RelayMQ and its logging.
 */
object LoggingChild {
    const val QUEUE: String = "logging-probe"
    const val FAILURE: String = "the handler failed on purpose"

    @JvmStatic
    fun main(args: Array<String>) = runBlocking {
        val mq = MQ()
        mq.registerQueue<String>(QUEUE) { if (it.data == "fail") throw IllegalStateException(FAILURE) }
        mq.start()
        mq.publish(QUEUE, "ok")
        mq.publish(QUEUE, "fail") // message 2
        mq.awaitIdle()
        mq.shutdown()
        Unit
    }
}

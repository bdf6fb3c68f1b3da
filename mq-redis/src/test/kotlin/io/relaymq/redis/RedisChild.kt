package io.relaymq.redis

import io.relaymq.MQ
import io.relaymq.PublishOptions
import io.relaymq.QueueOptions
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import java.io.FileDescriptor
import java.io.FileOutputStream
import java.time.Duration
import kotlin.system.exitProcess
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * A child JVM with one bus on Redis (see [ChildJvm]), for the specs that need a second process.
 *
 * Arguments, `key=value`: `uri`, `prefix`, `queue`, `consumer` (consumer name), `visibility` (ms), `timeout` (publishTimeout, ms),
 * `concurrency`, `work` (ms each handler sleeps), `mode` (`work`: a plain handler; `reply`: returns
 * `r:<data>`, throws for data starting with `fail`), `start` (`false`: registered, never started).
 *
 * Prints (one `write` per line): `ready`; `start <id> <data>` when a handler begins; `handled <id> <data>
 * <epochMillis>` when it ends; `published <id> <data>` / `publish-failed <data> <exception>`;
 * `publish-done <tag>`; `closed <summary>` before it exits.
 *
 * Reads commands on stdin: `publish <count> <tag> [delayMs]` (publishes `<tag><i>`, one after another),
 * `request <count> <tag>` (requests `<tag><i>` on its own queue, one after another: `answer <data> <result>` or
 * `request-failed <data> <exception>`, then `request-done <tag>`), `pause`, `resume`, `concurrency <n>`,
 * `close` (or end of input): shuts the bus down and exits 0.
 */
object RedisChild {
    private val stdout = FileOutputStream(FileDescriptor.out)

    fun out(line: String) {
        val bytes = (line + "\n").toByteArray(Charsets.UTF_8)
        synchronized(stdout) { stdout.write(bytes) }
    }

    @JvmStatic
    fun main(args: Array<String>) {
        val options = args.associate { it.substringBefore('=') to it.substringAfter('=') }
        val queue = options.getValue("queue")
        val work = options["work"]?.toLong() ?: 0L
        val backend = RedisStreams.builder(options.getValue("uri"))
            .keyPrefix(options.getValue("prefix"))
            .visibilityTimeout(Duration.ofMillis(options["visibility"]?.toLong() ?: 30_000L))
            .publishTimeout(Duration.ofMillis(options["timeout"]?.toLong() ?: 10_000L))
            .apply { options["consumer"]?.let { consumerName(it) } }
            .build()
        val mq = MQ(backend = backend)
        val queueOptions = QueueOptions(concurrency = options["concurrency"]?.toInt() ?: 1)
        when (options["mode"] ?: "work") {
            "work" -> mq.registerQueue<String>(queue, queueOptions) { m ->
                out("start ${m.id} ${m.data}")
                if (work > 0) delay(work)
                out("handled ${m.id} ${m.data} ${System.currentTimeMillis()}")
            }
            "reply" -> mq.registerReplyingQueue<String, String>(queue, queueOptions) { m ->
                out("start ${m.id} ${m.data}")
                if (work > 0) delay(work)
                out("handled ${m.id} ${m.data} ${System.currentTimeMillis()}")
                if (m.data.startsWith("fail")) throw IllegalStateException("boom ${m.data}")
                "r:${m.data}"
            }
            else -> error("unknown mode ${options["mode"]}")
        }
        if (options["start"] != "false") mq.start()
        out("ready")
        runBlocking {
            while (true) {
                val line = readlnOrNull()?.trim() ?: break
                val words = line.split(' ')
                when (words[0]) {
                    "publish" -> {
                        val count = words[1].toInt()
                        val tag = words[2]
                        val publishOptions = words.getOrNull(3)?.let { PublishOptions(delay = it.toLong().milliseconds) }
                        for (i in 0 until count) {
                            val data = "$tag$i"
                            try {
                                val id = if (publishOptions == null) mq.publish(queue, data) else mq.publish(queue, data, publishOptions)
                                out("published $id $data")
                            } catch (e: Exception) {
                                out("publish-failed $data ${e.toString().replace('\n', ' ')}")
                            }
                        }
                        out("publish-done $tag")
                    }
                    "request" -> {
                        for (i in 0 until words[1].toInt()) {
                            val data = "${words[2]}$i"
                            try {
                                out("answer $data ${mq.request<String>(queue, data, timeout = 60.seconds)}")
                            } catch (e: Exception) {
                                out("request-failed $data ${e.toString().replace('\n', ' ')}")
                            }
                        }
                        out("request-done ${words[2]}")
                    }
                    "pause" -> mq.pause(queue).also { out("paused") }
                    "resume" -> mq.resume(queue).also { out("resumed") }
                    "concurrency" -> mq.setConcurrency(queue, words[1].toInt()).also { out("concurrency ${words[1]}") }
                    "close" -> break
                }
            }
            out("closed ${mq.shutdown()}")
        }
        exitProcess(0)
    }
}

package io.relaymq.examples

import io.relaymq.MQ
import io.relaymq.PublishOptions
import io.relaymq.QueueOptions
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import java.util.concurrent.ConcurrentHashMap
import kotlin.random.Random

/**
 * Ordering keys in Kotlin: chat messages per conversation are delivered in order, conversations in
 * parallel. Run with
 * `mvn -q -pl mq-examples -am package exec:java -DskipTests -Ddemo.mainClass=io.relaymq.examples.OrderingKeysKt`.
 */
fun main() = runBlocking {
    val mq = MQ()
    val delivered = ConcurrentHashMap<String, MutableList<Int>>()
    mq.registerQueue<Int>("chat", QueueOptions(concurrency = 8)) { msg ->
        delay(Random.nextLong(1, 30))
        delivered.computeIfAbsent(msg.key!!) { mutableListOf() } += msg.data // one at a time per key
    }
    mq.start()
    repeat(20) { n -> listOf("room-a", "room-b", "room-c", "room-d").forEach { mq.publish("chat", n, PublishOptions(key = it)) } }
    mq.awaitIdle()
    delivered.toSortedMap().forEach { (room, messages) ->
        println("$room: ${messages.size} messages, ${if (messages == messages.sorted()) "in order" else "OUT OF ORDER"}")
    }
    mq.shutdown()
    Unit
}

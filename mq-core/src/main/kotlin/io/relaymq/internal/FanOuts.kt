package io.relaymq.internal

import io.relaymq.FanOutException
import io.relaymq.FanOutResult
import io.relaymq.PublishOptions
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ConcurrentHashMap
import kotlin.coroutines.cancellation.CancellationException

/**
 * Fan-out names bound to lists of queues, and the publish that puts one copy into each through the
 * bus's one publish sequence ([Bus.publish] for Kotlin, [Bus.publishAsync] for Java). A copy a queue
 * refuses does not stop the others: the caller learns which accepted and which refused.
 */
internal class FanOuts(private val bus: Bus) {
    private val bindings = ConcurrentHashMap<String, List<String>>()


    fun bind(name: String, queues: List<String>) {
        require(name.isNotBlank()) { "Fan-out name must not be blank" }
        require(queues.isNotEmpty()) { "Fan-out '$name' needs at least one queue" }
        require(queues.toSet().size == queues.size) { "Fan-out '$name' lists a queue twice: $queues" }
        for (queue in queues) bus.engine(queue)
        require(bindings.putIfAbsent(name, queues.toList()) == null) { "A fan-out named '$name' is already bound" }
    }

    private fun fanOutQueues(name: String): List<String> = bindings[name]
        ?: throw IllegalArgumentException("No fan-out named '$name' is bound; bind it with bindFanOut(\"$name\", queues) first.")

    suspend fun publish(name: String, data: Any, options: PublishOptions?): FanOutResult {
        val queues = fanOutQueues(name)
        val key = options?.key
        val dueAt = options?.let(bus::dueAtOf) ?: 0L
        val accepted = LinkedHashMap<String, Long>()
        val refused = LinkedHashMap<String, Throwable>()
        for (queue in queues) {
            try {
                accepted[queue] = bus.publish(queue, data, null, key, dueAt)
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                refused[queue] = e
            }
        }
        if (refused.isNotEmpty()) throw FanOutException(name, accepted, refused)
        return FanOutResult(name, accepted)
    }

    fun publishAsync(name: String, data: Any, options: PublishOptions?): CompletableFuture<FanOutResult> {
        val queues = fanOutQueues(name)
        val key = options?.key
        val dueAt = options?.let(bus::dueAtOf) ?: 0L
        val futures = queues.map { queue ->
            try {
                bus.publishAsync(queue, data, null, key, dueAt)
            } catch (e: Exception) {
                CompletableFuture.failedFuture(e)
            }
        }
        return CompletableFuture.allOf(*futures.toTypedArray()).handle { _, _ ->
            val accepted = LinkedHashMap<String, Long>()
            val refused = LinkedHashMap<String, Throwable>()
            queues.zip(futures).forEach { (queue, future) ->
                try {
                    accepted[queue] = future.join()
                } catch (e: java.util.concurrent.CompletionException) {
                    refused[queue] = e.cause ?: e
                }
            }
            if (refused.isNotEmpty()) throw FanOutException(name, accepted, refused)
            FanOutResult(name, accepted)
        }
    }
}

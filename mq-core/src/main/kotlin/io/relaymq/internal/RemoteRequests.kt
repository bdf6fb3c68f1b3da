package io.relaymq.internal

import io.relaymq.spi.RemoteBackend
import io.relaymq.spi.ReplyListener
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.Executor
import java.util.concurrent.atomic.AtomicLong

private val logger = relayLogger("io.relaymq.internal.RemoteRequests")

/**
 * This bus's requests to remote queues that wait for their outcome: each gets a correlation number,
 * travels with its message, and comes back through the backend's reply listener, maybe from another
 * process. The listener opens at the first request.
 *
 * A requester that stops waiting (timeout, cancellation) forgets its entry; the message is not
 * withdrawn (it is in the store already) and its late outcome is dropped here.
 */
internal class RemoteRequests(private val backend: RemoteBackend, private val executor: Executor) : ReplyListener {
    private class Waiter(val queue: String, val reply: Any)

    private val next = AtomicLong()
    private val waiting = ConcurrentHashMap<Long, Waiter>()
    @Volatile private var address: String? = null
    private val lock = Any()

    /** The address outcomes for this bus go to, opening the listener on first use. */
    fun address(): String = address ?: synchronized(lock) {
        address ?: backend.openReplies(this).also { address = it }
    }

    /** Registers [reply] (a [KotlinReply] or a Java `CompletableFuture`) and returns its correlation number. */
    fun register(queue: String, reply: Any): Long {
        val correlation = next.incrementAndGet()
        waiting[correlation] = Waiter(queue, reply)
        when (reply) {
            is KotlinReply -> reply.invokeOnCompletion { waiting.remove(correlation) }
            is java.util.concurrent.CompletableFuture<*> -> reply.whenComplete { _, _ -> waiting.remove(correlation) }
        }
        return correlation
    }

    /** The request never left (its publish failed): forget it. */
    fun forget(correlation: Long) {
        waiting.remove(correlation)
    }

    override fun onReply(correlation: Long, outcome: ByteArray) {
        val waiter = waiting.remove(correlation) ?: return // gave up waiting, or a second run of its message
        val result = try {
            RemoteOutcome.decode(outcome, waiter.queue)
        } catch (e: Exception) {
            logger.error(e) { "Queue '${waiter.queue}': an undecodable request outcome arrived; failing the request" }
            Result.failure(IllegalStateException("Queue '${waiter.queue}': the request's outcome could not be decoded: $e", e))
        }
        when (val reply = waiter.reply) {
            is KotlinReply -> result.fold({ reply.complete(it) }, { reply.completeExceptionally(it) })
            is java.util.concurrent.CompletableFuture<*> -> executor.execute {
                @Suppress("UNCHECKED_CAST")
                val future = reply as java.util.concurrent.CompletableFuture<Any?>
                result.fold({ future.complete(it) }, { future.completeExceptionally(it) })
            }
        }
    }

    /** The bus closed: nobody will answer the requests still waiting here. */
    fun failAll(failure: () -> Throwable) {
        for (correlation in waiting.keys.toList()) {
            val waiter = waiting.remove(correlation) ?: continue
            when (val reply = waiter.reply) {
                is KotlinReply -> reply.completeExceptionally(failure())
                is java.util.concurrent.CompletableFuture<*> -> reply.completeExceptionally(failure())
            }
        }
    }
}

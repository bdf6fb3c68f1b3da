package io.relaymq.internal

import io.relaymq.Message
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job

/**
 * What stores and moves one queue's messages between `publish` and the queue's consumers.
 *
 * The engine ([QueueEngine] and its parts: [Admission], [MessageLifecycle], [ConsumerLoop]) owns ids,
 * counters, handlers and the lifecycle; a transport only holds ready messages in order. Today's implementation is [ChannelRelay] (in memory); bounded, persistent and
 * remote (Redis Streams) transports plug in here without changing the public API.
 *
 * Contract, for every implementation:
 * - [offer] never suspends and never loses a message: it either takes ownership or returns `false`.
 * - A message given to [offer] is handed to a consumer ([poll] or [awaitNext]/[accept]) at most once,
 *   or, after the transport was stopped,
 *   by [drainUndelivered]; never both, never neither. (Duplicates in [drainUndelivered] itself are
 *   allowed; the engine de-duplicates by id.)
 * - After [closeForPublishing], [offer] returns `false` (but for internal offers); after [finishInput]
 *   always, and consumers keep receiving what was accepted, then the end.
 */
internal interface MessageTransport<T> {
    /**
     * Accepts [message] without suspending; `false` when the transport no longer accepts messages.
     * [internal] offers (due delayed messages and retries of already accepted ones) are still taken
     * after [closeForPublishing], until [finishInput].
     */
    fun offer(message: Message<T>, internal: Boolean = false): Boolean

    /**
     * Launches whatever moves messages (the relay coroutine) in [scope] and returns its job, which ends
     * once everything accepted was handed to consumers after [finishInput], or when cancelled.
     * Called at most once.
     */
    fun start(scope: CoroutineScope): Job

    /** Registers one consumer's take counter, for [poll] and [accept], until [retireTakeCounter]. */
    fun registerTakeCounter(counter: TakeCounter)

    /**
     * The consumer of [counter] stopped for good (it never takes again): its takes are kept, the
     * counter is no longer read, so a queue resized up and down many times does not sum ever more
     * counters.
     */
    fun retireTakeCounter(counter: TakeCounter)

    /**
     * The next message if one is ready now, without suspending (the consumers' fast path), counted in
     * [counter] (one the transport was given by [registerTakeCounter]).
     */
    fun poll(counter: TakeCounter): Message<T>?

    /**
     * The oldest waiting message, wherever it waits (ready for a consumer, or in a backlog behind
     * those), for an overflow policy that drops the oldest; `null` when none waits. Not a consumer's take.
     */
    fun pollOldest(): Message<T>?

    /**
     * Before a consumer waits with [awaitNext]: `false` when the transport is closed and empty (the
     * consumer stops); otherwise calls [whenEmpty] (nothing to take right now) and returns `true`.
     */
    fun prepareToWait(whenEmpty: () -> Unit): Boolean

    /**
     * Suspends for the next element for a consumer; pass it to [accept]. A tail call into the channel,
     * so waiting allocates nothing. Throws when the transport is closed and empty.
     * Cancellation: if the caller is cancelled, no message is lost; one already taken out for it goes to
     * [drainUndelivered].
     */
    suspend fun awaitNext(): Any?

    /** Turns what [awaitNext] returned into a message counted in [counter], or [TakeInterrupted] after [wakeConsumers]. */
    fun accept(element: Any?, counter: TakeCounter): Any?

    /**
     * Makes up to [count] consumers waiting in [awaitNext] get [TakeInterrupted], without losing or
     * reordering any message. A wake-up that finds no waiting consumer is consumed later as a no-op.
     */
    fun wakeConsumers(count: Int)

    /** Stops accepting new messages (internal offers still go in); accepted ones keep flowing. Idempotent. */
    fun closeForPublishing()

    /** No more offers of any kind: once everything is handed out, consumers see the end. Idempotent. */
    fun finishInput()

    /**
     * Every accepted message never handed to a consumer, in no particular order, and refuses every later
     * [offer]. Only valid once the relay has finished and the consumers are cancelled.
     */
    fun drainUndelivered(): List<Message<T>>
}

/** What [MessageTransport.take] returns when interrupted before a message arrived. */
internal object TakeInterrupted

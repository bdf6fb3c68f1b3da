package io.relaymq.internal

import java.util.concurrent.CompletableFuture

/**
 * The future a Java `request` returns. However it ends before a consumer took its message (the caller
 * cancels or completes it, its timeout from `orTimeout` fires), the message is withdrawn *before* the
 * future completes: a caller that sees the timeout and publishes again finds the place free.
 * (A `whenComplete` hook would not do: dependents run in reverse order of registration, so the caller's
 * own continuation could run first.)
 */
internal class RequestFuture<R> : CompletableFuture<R>() {
    /** Withdraws the message if it still waits; set once the message is accepted. */
    @Volatile var beforeEnd: (() -> Unit)? = null

    override fun complete(value: R): Boolean {
        if (!isDone) beforeEnd?.invoke()
        return super.complete(value)
    }

    override fun completeExceptionally(ex: Throwable): Boolean {
        if (!isDone) beforeEnd?.invoke()
        return super.completeExceptionally(ex)
    }

    override fun cancel(mayInterruptIfRunning: Boolean): Boolean {
        if (!isDone) beforeEnd?.invoke()
        return super.cancel(mayInterruptIfRunning)
    }
}

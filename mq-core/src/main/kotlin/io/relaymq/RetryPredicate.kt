package io.relaymq

/** Decides which handler failures are worth another attempt (see [RetryPolicy]). */
public fun interface RetryPredicate {
    /** `true` to retry after [failure]; `false` sends the message to the dead letters at once. */
    public fun isRetryable(failure: Throwable): Boolean
}

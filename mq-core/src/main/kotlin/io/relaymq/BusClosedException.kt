package io.relaymq

/**
 * Thrown (or used to fail a future) when an operation needs a bus that is still open but the bus is
 * closing or closed: publishing, registering a queue, or starting. A message refused this way was
 * never accepted and will never be delivered; the caller still owns it.
 */
public class BusClosedException(
    /** The queue the refused operation was aimed at, or `null` when it concerned the whole bus. */
    @get:JvmName("queueName") public val queueName: String?,
    message: String,
) : IllegalStateException(message)

package io.relaymq

/**
 * Thrown when a message is published to (or stats are asked of) a queue name that was never registered.
 * Register the queue first with `registerQueue`; names are case-sensitive.
 */
public class UnknownQueueException(
    /** The name that matched no registered queue. */
    @get:JvmName("queueName") public val queueName: String,
) : IllegalArgumentException(
    "No queue named '$queueName' is registered. Register it with registerQueue(\"$queueName\", ...) " +
        "before publishing to it (queue names are case-sensitive).",
)

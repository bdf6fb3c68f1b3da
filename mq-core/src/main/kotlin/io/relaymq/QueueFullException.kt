package io.relaymq

/**
 * Thrown by a publish to a full queue whose policy is [OverflowPolicy.REJECT]. The message was not
 * accepted; retry later, or shed the load (answer "too busy" to your own caller).
 */
public class QueueFullException(
    /** The full queue. */
    @get:JvmName("queueName") public val queueName: String,
    /** Its capacity. */
    @get:JvmName("capacity") public val capacity: Int,
) : IllegalStateException(
    "Queue '$queueName' is full ($capacity messages waiting) and rejects new messages; retry later or shed load.",
)

@file:JvmName("Messages")

package io.relaymq

import io.relaymq.internal.QueueOrigin
import io.relaymq.internal.RichMessage
import java.time.Instant

/**
 * A message as a handler of [queue] would receive it, for unit-testing handlers without a bus:
 * Kotlin `Message("mail", "hello@example.com")`, Java `Messages.of("mail", "hello@example.com")`.
 *
 * The message behaves like one a queue created ([Message.equals] compares queue and id); it is not
 * attached to any queue, so nothing waits for its outcome.
 *
 * @param queue the queue name the handler sees in [Message.queue]; not blank.
 * @param data the payload.
 * @param id the message's id, at least 1.
 * @param attempt which delivery this is (1 for the first, 2 for the first retry, ...), at least 1.
 * @param key the ordering key, or `null`; not blank.
 * @param publishedAt the publish time; kept with millisecond precision, like a queue does.
 * @throws IllegalArgumentException for a blank queue or key, or an id or attempt below 1.
 */
@JvmName("of")
@JvmOverloads
public fun <T : Any> Message(
    queue: String,
    data: T,
    id: Long = 1,
    attempt: Int = 1,
    key: String? = null,
    publishedAt: Instant = Instant.now(),
): Message<T> {
    require(queue.isNotBlank()) { "queue must not be blank" }
    require(id >= 1) { "id must be at least 1, was $id" }
    require(attempt >= 1) { "attempt must be at least 1, was $attempt" }
    require(key == null || key.isNotBlank()) { "key must not be blank; pass null for no key" }
    val millis = publishedAt.toEpochMilli()
    val origin = QueueOrigin.around(queue, id, millis)
    val packed = origin.pack(id, millis)
    return if (attempt == 1 && key == null) {
        Message(origin, data, packed)
    } else {
        RichMessage(origin, data, packed, null, key, attempt, dueAtMillis = 0L, firstFailureAtMillis = RichMessage.NEVER_FAILED)
    }
}

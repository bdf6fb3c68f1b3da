package io.relaymq.internal

import io.relaymq.Message
import io.relaymq.MessageCodec
import java.util.concurrent.atomic.AtomicLong

private val logger = relayLogger("io.relaymq.internal.QueueSnapshots")

/**
 * One queue's side of the snapshot directory: messages to records and back (both directions here, so
 * the two cannot drift), and the rule for the restored file: it is deleted once every message restored
 * from it was processed, dropped or withdrawn. A crash before that restores them all again, hence
 * at-least-once across crashes.
 */
internal class QueueSnapshots<T>(
    private val queue: String,
    private val store: SnapshotStore,
    val codec: MessageCodec<T>,
) {
    private var restoredMaxId = 0L
    private val restoredRemaining = AtomicLong()

    /** Decodes the queue's snapshot (user code: the codec; call with no lock held). `null` when there is none. */
    fun read(): List<Pair<MessageRecord, T>>? = store.read(queue, codec)

    /**
     * Messages for [records], in their order, with their ids, publish and due times, attempts and keys;
     * from now on [ended] counts them down.
     */
    fun toMessages(records: List<Pair<MessageRecord, T>>): List<Message<T>> {
        val messages = restoredMessages(queue, records)
        restoredMaxId = records.maxOfOrNull { it.first.id } ?: 0L
        restoredRemaining.set(messages.size.toLong())
        if (messages.isNotEmpty()) {
            logger.info { "Queue '$queue': restored ${messages.size} message(s) from its snapshot, ids up to $restoredMaxId" }
        }
        return messages
    }

    /** A message ended for good; deletes the restored file once the last restored one did. */
    fun ended(message: Message<T>) {
        if (message.id <= restoredMaxId && restoredRemaining.decrementAndGet() == 0L) store.delete(queue)
    }

    /** Replaces the queue's snapshot with [messages] (any order: written in id order). Returns how many. */
    fun write(messages: List<Message<T>>): Int = store.write(queue, messages.sortedBy { it.id }.map(::toRecord))

    private fun toRecord(message: Message<T>) = MessageRecord(
        id = message.id,
        publishedAtMillis = message.publishedAtMillis,
        payload = codec.encode(message.data),
        dueAtMillis = message.dueAtMillis,
        firstFailureAtMillis = (message as? RichMessage<*>)?.firstFailureAtMillis ?: RichMessage.NEVER_FAILED,
        attempt = message.attempt,
        key = message.key,
    )

    val file get() = store.fileFor(queue)
}

/**
 * Messages for [records] (from a snapshot or a journal), in their order, with their ids, publish and due
 * times, attempts and keys. No reply waits for a restored message.
 */
internal fun <T> restoredMessages(queue: String, records: List<Pair<MessageRecord, T>>): List<Message<T>> {
    val origins = Origins(queue)
    return records.map { (record, payload) ->
        val origin = origins.originFor(record.id, record.publishedAtMillis)
        val packed = origin.pack(record.id, record.publishedAtMillis)
        val plain = record.dueAtMillis == 0L && record.attempt == 1 && record.key == null
        if (plain) {
            Message(origin, payload, packed)
        } else {
            RichMessage(origin, payload, packed, null, record.key, record.attempt, record.dueAtMillis, record.firstFailureAtMillis)
        }
    }
}

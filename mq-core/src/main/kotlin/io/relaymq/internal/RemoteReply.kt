package io.relaymq.internal

import io.relaymq.MessageDroppedException
import io.relaymq.spi.RemoteDelivery

/**
 * The end of one message fetched from a remote backend, told through the engine's reply hook (every
 * message that ends in this JVM has its reply completed exactly once, see [MessageLifecycle]), plus the
 * dead-letter watch ([LetterWatch]) for final failures:
 *
 * | local end                                  | in the store                                   |
 * |--------------------------------------------|------------------------------------------------|
 * | succeeded                                  | result sent to the requester, then acknowledged |
 * | failed for good, dead letter stored / none | failure sent to the requester; acknowledged once the letter is safe ([letterSafe]) |
 * | failed for good, dead letter refused       | released ([letterLost]): delivered again        |
 * | taken by the close (saved)                 | released: another consumer takes it at once     |
 *
 * The result is always sent before the acknowledgement (one connection keeps their order), so a crash
 * between the two can run the message again, never lose its answer.
 */
internal class RemoteReply(private val feed: RemoteFeed, val delivery: RemoteDelivery) {
    fun succeeded(result: Any?) {
        feed.answer(delivery) { RemoteOutcome.success(result, feed.queue, delivery.id) }
        feed.acknowledge(delivery)
    }

    fun failed(failure: Throwable) {
        if (failure is MessageDroppedException) {
            // The close took it (no other drop exists on a remote queue): not handled here, back to the store.
            feed.release(delivery)
            return
        }
        feed.answer(delivery) { RemoteOutcome.failure(failure, delivery.id) }
    }

    /** The handler failed and the retry policy wants [next]: the store keeps it until due. */
    fun retry(next: RichMessage<*>) {
        feed.retry(delivery, next)
    }

    fun letterSafe() {
        feed.acknowledge(delivery)
    }

    fun letterLost() {
        feed.release(delivery)
    }
}

package io.relaymq.internal

/**
 * A FIFO queue of references in fixed chunks of [CHUNK] slots, for one thread at a time (the relay's
 * backlog, [ChannelRelay]). Why not `ArrayDeque`: a deque grows by half when full, so a backlog of a
 * million messages holds 4 to 6 bytes of array per message and copies the whole array at each
 * growth; chunks hold 4 bytes and a little (one chunk header per [CHUNK] messages), never copy, and
 * give their memory back as the backlog drains.
 */
internal class ChunkedQueue<E : Any> {
    private class Chunk {
        val slots = arrayOfNulls<Any>(CHUNK)
        var next: Chunk? = null
    }

    private var head = Chunk()
    private var headIndex = 0
    private var tail = head
    private var tailIndex = 0

    /** Elements in the queue. */
    var size: Int = 0
        private set

    fun isEmpty(): Boolean = size == 0

    fun isNotEmpty(): Boolean = size != 0

    fun addLast(element: E) {
        if (tailIndex == CHUNK) {
            val chunk = Chunk()
            tail.next = chunk
            tail = chunk
            tailIndex = 0
        }
        tail.slots[tailIndex++] = element
        size++
    }

    /** The oldest element; only when not empty. */
    @Suppress("UNCHECKED_CAST")
    fun first(): E {
        check(size > 0) { "empty" }
        return head.slots[headIndex] as E
    }

    fun removeFirst() {
        check(size > 0) { "empty" }
        head.slots[headIndex++] = null
        size--
        if (size == 0) {
            // Empty: start over at the beginning of the head chunk instead of walking into new chunks.
            headIndex = 0
            tailIndex = 0
            tail = head
            head.next = null
        } else if (headIndex == CHUNK) {
            // The head chunk is used up; elements remain, so the next chunk exists.
            head = checkNotNull(head.next)
            headIndex = 0
        }
    }

    /** Moves every element, oldest first, into [target], leaving this queue empty. */
    fun drainTo(target: MutableCollection<in E>) {
        while (isNotEmpty()) {
            target.add(first())
            removeFirst()
        }
    }

    private companion object {
        const val CHUNK = 1024
    }
}

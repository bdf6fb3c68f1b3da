package io.relaymq.internal

/**
 * A map from message ids (positive longs) to ints without boxing: open addressing with linear probing
 * and backward-shift deletion, so it never fills with tombstones. Single-threaded: the journal writer
 * owns it. A durable queue with a million pending messages keeps 16-32 MB here instead of ~80 MB of
 * boxed `HashMap` entries.
 */
internal class LongIntMap(initialCapacity: Int = 1024) {
    private var keys = LongArray(tableSize(initialCapacity))
    private var values = IntArray(keys.size)
    var size: Int = 0
        private set

    /** The value of [key], or [missing] when absent. [key] must be non-zero (0 marks an empty slot). */
    fun get(key: Long, missing: Int = -1): Int {
        val mask = keys.size - 1
        var i = slot(key, mask)
        while (true) {
            val k = keys[i]
            if (k == key) return values[i]
            if (k == 0L) return missing
            i = (i + 1) and mask
        }
    }

    fun put(key: Long, value: Int) {
        require(key != 0L) { "0 is not a valid key" }
        if ((size + 1) * 2 > keys.size) grow()
        val mask = keys.size - 1
        var i = slot(key, mask)
        while (true) {
            val k = keys[i]
            if (k == key) {
                values[i] = value
                return
            }
            if (k == 0L) {
                keys[i] = key
                values[i] = value
                size++
                return
            }
            i = (i + 1) and mask
        }
    }

    /** Removes [key]; returns its value, or [missing] when absent. */
    fun remove(key: Long, missing: Int = -1): Int {
        val mask = keys.size - 1
        var i = slot(key, mask)
        while (true) {
            val k = keys[i]
            if (k == 0L) return missing
            if (k == key) break
            i = (i + 1) and mask
        }
        val removed = values[i]
        size--
        // Backward-shift: move later entries of the probe chain into the hole.
        var hole = i
        var j = (i + 1) and mask
        while (true) {
            val k = keys[j]
            if (k == 0L) break
            val home = slot(k, mask)
            // Move k into the hole if its home is not in (hole, j] cyclically.
            val movable = if (hole <= j) home <= hole || home > j else home <= hole && home > j
            if (movable) {
                keys[hole] = k
                values[hole] = values[j]
                hole = j
            }
            j = (j + 1) and mask
        }
        keys[hole] = 0L
        values[hole] = 0
        return removed
    }

    /** Calls [action] for every entry (in no particular order). */
    inline fun forEach(action: (Long, Int) -> Unit) {
        val k = keysArray()
        val v = valuesArray()
        for (i in k.indices) if (k[i] != 0L) action(k[i], v[i])
    }

    @PublishedApi internal fun keysArray(): LongArray = keys

    @PublishedApi internal fun valuesArray(): IntArray = values

    private fun grow() {
        val oldKeys = keys
        val oldValues = values
        keys = LongArray(oldKeys.size * 2)
        values = IntArray(keys.size)
        size = 0
        for (i in oldKeys.indices) if (oldKeys[i] != 0L) put(oldKeys[i], oldValues[i])
    }

    private companion object {
        fun tableSize(capacity: Int): Int = Integer.highestOneBit(maxOf(16, capacity * 2 - 1)) * 2

        fun slot(key: Long, mask: Int): Int {
            val h = key * -0x61c8864680b583ebL // Fibonacci hashing spreads sequential ids
            return (h xor (h ushr 32)).toInt() and mask
        }
    }
}

package io.relaymq.internal

import java.util.TreeMap

/**
 * Which journal segments are still needed, so that disk use follows the backlog, not the history.
 * Owned by one thread at a time: recovery builds it, then the journal writer alone updates it.
 *
 * ## Invariants
 * - Each pending message has exactly one home: the segment holding its MESSAGE record ([homes]);
 *   `live` of a segment counts the pending messages whose home it is.
 * - A segment holding a RETRY or COMPLETE record for a message homed in an older segment *refers*
 *   to that segment: deleting it first would let the older record come back after a crash (a
 *   finished message delivered again, or a retry replayed at an older attempt). References point to
 *   older segments only, so they never form a cycle.
 * - A segment may be deleted once it is not the active one, `live` is 0 and every segment it refers to
 *   is gone. Its records then affect nothing any more: its messages ended, and what it says about
 *   other messages is about messages whose records are gone.
 */
internal class SegmentBook(expectedPending: Int = 1024) {
    class Segment(val index: Int) {
        var live: Int = 0
        val refers: MutableSet<Int> = HashSet(4)
    }

    private val homes = LongIntMap(expectedPending)
    private var lastRestored: Segment? = null
    private val segments = TreeMap<Int, Segment>()
    var active: Int = -1
        private set

    /** Pending messages. */
    val pending: Int get() = homes.size

    fun addSegment(index: Int): Segment = Segment(index).also { segments[index] = it }

    fun activate(index: Int) {
        if (index !in segments) addSegment(index)
        active = index
    }

    /** Recovery: the next segment created gets the index after [index] (the highest any file had). */
    fun continueAfter(index: Int) {
        active = index
    }

    fun contains(index: Int): Boolean = index in segments

    fun indices(): List<Int> = segments.keys.toList()

    /** The home of pending message [id], or -1. */
    fun homeOf(id: Long): Int = homes.get(id)

    /** A MESSAGE record of [id] was written to [segment] (a publish, or a relocation by recovery). */
    fun published(id: Long, segment: Int) {
        val previous = homes.get(id)
        if (previous >= 0) segments[previous]?.let { it.live-- }
        homes.put(id, segment)
        segments.getValue(segment).live++
    }

    /** Recovery: pending message [id] (not yet in the book) is homed in [segment], which exists. */
    fun restoreHome(id: Long, segment: Int) {
        homes.put(id, segment)
        val book = lastRestored?.takeIf { it.index == segment } ?: segments.getValue(segment).also { lastRestored = it }
        book.live++
    }

    /** A RETRY record of [id] was written to [segment]; `false` when [id] is not pending (nothing to keep). */
    fun retried(id: Long, segment: Int): Boolean {
        val home = homes.get(id)
        if (home < 0) return false
        if (home != segment) segments.getValue(segment).refers += home
        return true
    }

    /** A COMPLETE record of [id] was written to [segment]. Returns the home it had, or -1 when it was not pending. */
    fun completed(id: Long, segment: Int): Int {
        val home = homes.remove(id)
        if (home < 0) return -1
        segments[home]?.let { it.live-- }
        if (home != segment) segments.getValue(segment).refers += home
        return home
    }

    /** [segment] refers to [older] (a tombstone for a failed write into [older]). */
    fun refer(segment: Int, older: Int) {
        if (older != segment && older in segments) segments.getValue(segment).refers += older
    }

    /**
     * Removes and returns every segment that may be deleted now (see the class KDoc), oldest first; the
     * caller deletes their files.
     */
    fun takeDeletable(): List<Int> {
        var result: MutableList<Int>? = null
        val iterator = segments.values.iterator()
        while (iterator.hasNext()) {
            val segment = iterator.next()
            if (segment.index == active || segment.live != 0) continue
            if (segment.refers.any { it in segments }) continue
            iterator.remove()
            (result ?: ArrayList<Int>().also { result = it }).add(segment.index)
        }
        return result ?: emptyList()
    }

    fun liveOf(index: Int): Int = segments[index]?.live ?: 0
}

package io.relaymq.internal

import io.relaymq.JournalException
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.file.Files
import java.nio.file.Path
import java.time.Instant
import java.time.ZoneOffset
import java.time.format.DateTimeFormatter

private val logger = relayLogger("io.relaymq.internal.JournalRecovery")

/** What recovery hands to the queue: its pending messages in replay order ([JournalRecovery.replayOrder]), and the journal's state. */
internal class RecoveredJournal(
    val messages: List<MessageRecord>,
    /** The highest id any record or segment header mentions: the queue's ids continue above it. */
    val maxId: Long,
    val book: SegmentBook,
    /** Records recovery must write into the new segment before anything else (see [JournalRecovery]). */
    val relocations: List<JournalEntry>,
    /** Corrupt files to move aside once [relocations] are on disk. */
    val corrupt: List<Path>,
)

/**
 * Reads a durable queue's journal directory back at registration: every segment in order, repairs,
 * and the pending messages.
 *
 * - **Torn tail** (damage with no valid frame after it: the write a crash interrupted): the damaged
 *   bytes are copied to `<segment>.torn-<time>` and the segment is truncated at its last valid frame.
 *   Normal after a crash, so also done in strict mode; logged as a warning.
 * - **Corruption in the middle** (valid frames after damage, a bad header, a file of another queue):
 *   strict mode refuses, changing nothing. Otherwise every valid frame is recovered, what the file
 *   still meant is written again into the new segment (its pending messages, the retries and
 *   completions it recorded for messages of other segments), and then the file is moved to
 *   `<segment>.corrupt-<time>`, never deleted; logged as an error.
 * - An **unborn** newest segment (a crash while creating it: no header, nothing else) is deleted.
 * - Segments whose messages all ended are deleted ([SegmentBook]).
 *
 * Record semantics: records apply in order, segment by segment; RETRY and COMPLETE only touch a
 * MESSAGE of the same id written before them.
 */
internal object JournalRecovery {
    private class Pending(var record: MessageRecord, val home: Int, var stateSegment: Int)

    fun recover(queue: String, directory: Path, fs: JournalFileSystem, strict: Boolean): RecoveredJournal {
        val segments = try {
            Files.list(directory).use { files ->
                files.toList().mapNotNull { path -> JournalFormat.segmentIndexOf(path.fileName.toString())?.let { it to path } }
            }.sortedBy { it.first }
        } catch (e: IOException) {
            throw JournalException("Queue '$queue': cannot list its journal directory $directory: $e", e)
        }
        require(segments.all { it.first < Int.MAX_VALUE }) { "journal segment index out of range in $directory" }

        // Pending messages in journal order; `slots` maps an id to its place (no boxing: a million pending
        // messages are the normal case for a recovery that matters).
        // Sized from the files (a message record is rarely under 128 bytes; the maps grow if it is), so that a big recovery does not rehash all along.
        val expected = segments.sumOf { Files.size(it.second) / 128 }.coerceIn(1024, 1L shl 26).toInt()
        val pending = ArrayList<Pending?>(expected)
        val slots = LongIntMap(expected)
        val book = SegmentBook(expected)
        val corruptIndices = HashSet<Int>()
        val corruptFiles = ArrayList<Path>()
        // Per corrupt segment: completions it recorded for messages of other segments (id to home).
        val completedByCorrupt = ArrayList<Pair<Long, Int>>()
        var maxId = 0L
        var maxIndex = -1

        for ((position, entry) in segments.withIndex()) {
            val (index64, path) = entry
            val index = index64.toInt()
            maxIndex = maxOf(maxIndex, index)
            val bytes = try {
                Files.readAllBytes(path)
            } catch (e: IOException) {
                throw JournalException("Queue '$queue': cannot read journal segment $path: $e", e)
            }
            val scan = JournalFormat.scan(bytes)
            val newest = position == segments.lastIndex
            val header = scan.header
            val foreign = header != null && (header.queue != queue || header.index != index64)
            when {
                header == null && !scan.corruptInMiddle && (newest || scan.dataEnd == 0L) -> {
                    // Unborn: created by a writer that died before its header reached the disk.
                    if (scan.dataEnd > 0) copyAside(fs, path, bytes, 0, scan.dataEnd, "torn")
                    fs.delete(path)
                    logger.warn { "Queue '$queue': removed journal segment $path, which a crash left without a header" }
                    continue
                }
                header == null || foreign || scan.corruptInMiddle -> {
                    val why = when {
                        header == null -> JournalFormat.describeBadHeader(bytes)
                        foreign -> "it belongs to queue '${header.queue}', segment ${header.index}"
                        else -> scan.why ?: "damaged"
                    }
                    if (strict) {
                        throw JournalException(
                            "Queue '$queue': journal segment $path is corrupt ($why); it was left in place. " +
                                "Inspect or move it, or start without strictJournal to recover every valid record and move the file aside.",
                        )
                    }
                    logger.error {
                        "Queue '$queue': journal segment $path is corrupt ($why). Recovering its ${scan.records.size} valid record(s); " +
                            "the file will be moved aside, never deleted."
                    }
                    corruptIndices += index
                    corruptFiles.add(path)
                    if (foreign) continue // nothing in it is ours
                }
                scan.damageAt >= 0 -> {
                    // Torn tail: repaired in place, strict or not; it is what a crash leaves.
                    if (scan.dataEnd > scan.damageAt) copyAside(fs, path, bytes, scan.damageAt, scan.dataEnd, "torn")
                    fs.openExisting(path).use {
                        it.truncate(scan.validEnd)
                        it.force()
                    }
                    logger.warn {
                        "Queue '$queue': journal segment $path ended in a torn write (${scan.why}); truncated at offset ${scan.validEnd}" +
                            (if (scan.dataEnd > scan.damageAt) ", the damaged bytes copied aside" else "")
                    }
                }
            }
            if (index !in corruptIndices) book.addSegment(index)
            header?.let { maxId = maxOf(maxId, it.baseId) }
            for (record in scan.records) {
                maxId = maxOf(maxId, record.id)
                when (record.type) {
                    JournalFormat.MESSAGE -> {
                        val previous = slots.get(record.id)
                        if (previous >= 0) pending[previous] = null
                        slots.put(record.id, pending.size)
                        pending.add(Pending(record.message!!, index, index))
                    }
                    JournalFormat.RETRY -> {
                        val slot = slots.get(record.id)
                        if (slot < 0) continue
                        val p = pending[slot]!!
                        p.record = p.record.retried(record.attempt, record.dueAtMillis, record.firstFailureAtMillis)
                        p.stateSegment = index
                        if (p.home != index && index !in corruptIndices) book.refer(index, p.home)
                    }
                    JournalFormat.COMPLETE -> {
                        val slot = slots.remove(record.id)
                        if (slot < 0) continue
                        val p = pending[slot]!!
                        pending[slot] = null
                        if (p.home != index) {
                            if (index in corruptIndices) completedByCorrupt += record.id to p.home else book.refer(index, p.home)
                        }
                    }
                }
            }
        }
        book.continueAfter(maxOf(maxIndex, 0))

        // What the corrupt files still meant goes into the new segment before they are moved aside.
        val relocations = ArrayList<JournalEntry>()
        val live = pending.filterNotNull()
        for (p in live) {
            val id = p.record.id
            if (p.home in corruptIndices) {
                relocations += JournalEntry.Append(id, JournalFormat.messageFrame(p.record), null)
            } else {
                book.restoreHome(id, p.home)
                if (p.stateSegment in corruptIndices) {
                    relocations += JournalEntry.Retry(id, p.record.attempt, p.record.dueAtMillis, p.record.firstFailureAtMillis)
                }
            }
        }
        for ((id, home) in completedByCorrupt) {
            if (home !in corruptIndices && book.contains(home)) relocations += JournalEntry.Tombstone(id, home)
        }
        val messages = replayOrder(live.map { it.record })
        if (messages.isNotEmpty()) {
            logger.info { "Queue '$queue': recovered ${messages.size} pending message(s) from its journal, ids up to $maxId" }
        }
        return RecoveredJournal(messages, maxId, book, relocations, corruptFiles)
    }

    /**
     * The order to replay messages in: id order, which is the order the queue accepted them in (the
     * admission takes a durable message's id and journals it in one step), so each ordering key's line
     * comes back as it was. Journal order would not do: recovery relocates the messages of a corrupt
     * segment into the newest one.
     */
    internal fun replayOrder(records: List<MessageRecord>): List<MessageRecord> {
        var sorted = true
        for (i in 1 until records.size) if (records[i - 1].id > records[i].id) sorted = false
        return if (sorted) records else records.sortedWith { a, b -> a.id.compareTo(b.id) } // no boxing
    }

    /** Moves corrupt segments aside (after their relocations are on disk). */
    fun moveAside(queue: String, directory: Path, fs: JournalFileSystem, files: List<Path>) {
        for (file in files) {
            val aside = file.resolveSibling("${file.fileName}.corrupt-${stamp()}")
            try {
                fs.move(file, aside)
                logger.error { "Queue '$queue': corrupt journal segment moved aside to $aside" }
            } catch (e: IOException) {
                throw JournalException("Queue '$queue': could not move corrupt journal segment $file aside: $e", e)
            }
        }
        if (files.isNotEmpty()) fs.forceDirectory(directory)
    }

    private fun copyAside(fs: JournalFileSystem, path: Path, bytes: ByteArray, from: Long, to: Long, what: String) {
        val aside = path.resolveSibling("${path.fileName}.$what-${stamp()}")
        try {
            fs.create(aside).use {
                it.write(ByteBuffer.wrap(bytes, from.toInt(), (to - from).toInt()), 0)
                it.force()
            }
        } catch (e: IOException) {
            logger.warn(e) { "Could not copy the damaged bytes of $path aside to $aside" }
        }
    }

    private fun stamp(): String =
        DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss.SSS'Z'").withZone(ZoneOffset.UTC).format(Instant.now())
}

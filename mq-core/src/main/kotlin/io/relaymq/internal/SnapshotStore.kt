package io.relaymq.internal

import io.relaymq.MessageCodec
import io.relaymq.SnapshotException
import java.io.IOException
import java.nio.channels.FileChannel
import java.nio.channels.FileLock
import java.nio.channels.OverlappingFileLockException
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardOpenOption
import java.nio.file.attribute.PosixFilePermissions
import java.time.Instant
import java.time.ZoneOffset
import java.time.format.DateTimeFormatter
import java.util.UUID

private val logger = relayLogger("io.relaymq.internal.SnapshotStore")

/**
 * One bus's snapshot directory: the lock that keeps other buses out, reading (with quarantine of
 * corrupt files) and atomic writing of per-queue snapshot files. The format is in [SnapshotFormat],
 * file names in [QueueFileNames].
 *
 * Writing a snapshot: encode into a new temp file in the same directory (owner-only permissions),
 * flush and fsync it, atomically rename it over the queue's snapshot, fsync the directory. A crash at
 * any point leaves either the old snapshot or the new one, never a mix; a failure leaves the old one
 * and deletes the temp file. Leftover temp files of a crashed writer are removed when the directory is
 * next opened.
 */
internal class SnapshotStore(
    val directory: Path,
    private val strict: Boolean,
    private val fs: SnapshotFileSystem = SnapshotFileSystem.Default,
) : AutoCloseable {
    /** Shared with the journal when both live in one directory. */
    val lock: DirectoryLock = DirectoryLock(directory)

    private var opened = false // guarded by this

    /**
     * Takes the directory lock (creating the directory if needed; the journal may have taken it already
     * when both share the directory) and clears leftover temp files. Idempotent.
     */
    @Synchronized
    fun open() {
        if (opened && lock.isOpen) return
        try {
            try {
                lock.open()
            } catch (e: IllegalStateException) {
                throw SnapshotException("Snapshot ${e.message}")
            }
            Files.list(directory).use { files ->
                files.filter { it.fileName.toString().contains(TEMP_MARK) }.forEach {
                    logger.info { "Removing leftover temp file $it of an interrupted snapshot write" }
                    Files.deleteIfExists(it)
                }
            }
            opened = true
        } catch (e: IOException) {
            throw SnapshotException("Cannot use snapshot directory $directory: $e", e)
        }
    }

    fun fileFor(queue: String): Path = directory.resolve(QueueFileNames.fileName(queue))

    /**
     * The queue's snapshot, decoded with [codec], or `null` when there is none. A corrupt or
     * undecodable file is moved aside and logged (the queue starts without it), or with `strict`
     * left in place and reported by throwing [SnapshotException].
     */
    @Synchronized
    fun <T> read(queue: String, codec: MessageCodec<T>): List<Pair<MessageRecord, T>>? {
        val file = fileFor(queue)
        if (!Files.exists(file)) return null
        return try {
            val snapshot = Files.newInputStream(file).buffered(64 * 1024).use { SnapshotFormat.read(it, Files.size(file)) }
            if (snapshot.queueName != queue) {
                throw CorruptSnapshotException("the file belongs to queue '${snapshot.queueName}'")
            }
            snapshot.records.map { record ->
                val payload = try {
                    codec.decode(record.payload)
                } catch (e: Exception) {
                    throw CorruptSnapshotException("$codec cannot decode message ${record.id}: $e", e)
                }
                record to payload
            }
        } catch (e: IOException) {
            reject(queue, file, e)
            null
        }
    }

    private fun reject(queue: String, file: Path, cause: IOException) {
        if (strict) {
            throw SnapshotException(
                "Snapshot of queue '$queue' at $file cannot be restored (${cause.message}); it was left in place. " +
                    "Inspect or remove it, or start without strict snapshots to continue without it.",
                cause,
            )
        }
        val stamp = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss.SSS'Z'").withZone(ZoneOffset.UTC).format(Instant.now())
        val aside = file.resolveSibling("${file.fileName}.corrupt-$stamp")
        try {
            Files.move(file, aside)
            logger.error(cause) {
                "Snapshot of queue '$queue' is corrupt (${cause.message}); moved aside to $aside, never deleted. " +
                    "The queue starts without it."
            }
        } catch (e: IOException) {
            logger.error(cause) { "Snapshot of queue '$queue' at $file is corrupt (${cause.message}) and could not be moved aside: $e" }
        }
    }

    /**
     * Replaces the queue's snapshot with [records] (in id order), or deletes it when there are none.
     * Returns how many were written. Records are made by [QueueSnapshots], which owns both directions
     * of the message <-> record mapping.
     * @throws IOException when the write fails; the previous snapshot is then untouched.
     */
    @Synchronized
    fun write(queue: String, records: List<MessageRecord>): Int {
        val target = fileFor(queue)
        if (records.isEmpty()) {
            Files.deleteIfExists(target)
            return 0
        }
        val temp = directory.resolve("${target.fileName}$TEMP_MARK${UUID.randomUUID()}")
        try {
            fs.create(temp).use { sink ->
                SnapshotFormat.write(sink.stream, queue, System.currentTimeMillis(), records.asSequence())
                sink.force()
            }
            fs.moveAtomically(temp, target)
            fs.forceDirectory(directory)
            return records.size
        } catch (e: Exception) {
            try {
                Files.deleteIfExists(temp)
            } catch (suppressed: IOException) {
                e.addSuppressed(suppressed)
            }
            throw if (e is IOException) e else IOException("encoding the snapshot of queue '$queue' failed: $e", e)
        }
    }

    /** Deletes the queue's snapshot once every restored message is processed. */
    @Synchronized
    fun delete(queue: String) {
        try {
            if (Files.deleteIfExists(fileFor(queue))) logger.info { "Every restored message of queue '$queue' is processed; snapshot removed" }
        } catch (e: IOException) {
            logger.warn(e) { "Could not remove the processed snapshot of queue '$queue'" }
        }
    }

    /** Snapshot files in the directory that belong to none of [registered] (left untouched). */
    fun orphans(registered: Collection<String>): List<Path> {
        val known = registered.mapTo(HashSet()) { QueueFileNames.fileName(it) }
        return Files.list(directory).use { files ->
            files.filter {
                val name = it.fileName.toString()
                name.startsWith(QueueFileNames.PREFIX) && name.endsWith(QueueFileNames.SUFFIX) && name !in known
            }.toList()
        }
    }

    @Synchronized
    override fun close() {
        lock.close()
    }

    companion object {
        const val LOCK_FILE: String = DirectoryLock.LOCK_FILE
        const val TEMP_MARK: String = ".tmp-"
    }
}

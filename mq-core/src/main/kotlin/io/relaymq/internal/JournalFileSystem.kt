package io.relaymq.internal

import java.io.IOException
import java.nio.ByteBuffer
import java.nio.channels.FileChannel
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardCopyOption
import java.nio.file.StandardOpenOption
import java.nio.file.attribute.PosixFilePermissions

/**
 * The file operations a journal needs, behind an interface so that tests can make any of them fail
 * (a write, an fsync, a rename, a full disk) and check that the journal stays consistent: no
 * acknowledged record lost, no half-written record replayed.
 */
internal interface JournalFileSystem {
    /** Creates [file], which must not exist, owner read/write only where the file system has POSIX permissions. */
    fun create(file: Path): JournalFile

    /** Opens an existing [file] for reading and repairing (truncation) at recovery. */
    fun openExisting(file: Path): JournalFile

    /** Renames [source] to [target] atomically (both in one directory). */
    fun move(source: Path, target: Path)

    /** Deletes [file] if it exists. */
    fun delete(file: Path)

    /** Forces [directory]'s entries (created, renamed and deleted files) to disk, where the platform allows it. */
    fun forceDirectory(directory: Path)

    object Default : JournalFileSystem {
        override fun create(file: Path): JournalFile {
            val options = setOf(StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE)
            val channel = if (posix(file.parent)) {
                FileChannel.open(file, options, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))
            } else {
                FileChannel.open(file, options)
            }
            return ChannelJournalFile(channel)
        }

        override fun openExisting(file: Path): JournalFile =
            ChannelJournalFile(FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE))

        override fun move(source: Path, target: Path) {
            Files.move(source, target, StandardCopyOption.ATOMIC_MOVE)
        }

        override fun delete(file: Path) {
            Files.deleteIfExists(file)
        }

        override fun forceDirectory(directory: Path) {
            try {
                FileChannel.open(directory, StandardOpenOption.READ).use { it.force(true) }
            } catch (e: IOException) {
                // Some platforms (Windows) cannot open a directory; its entries are as durable as they allow.
                if (posix(directory)) throw e
            }
        }
    }
}

/** One open journal segment file. Positional: the journal writer, alone, decides where bytes go. */
internal interface JournalFile : AutoCloseable {
    /** Writes all of [buffer] at [position]. */
    fun write(buffer: ByteBuffer, position: Long)

    /** Reads into [buffer] from [position] until it is full or the file ends; returns the bytes read. */
    fun read(buffer: ByteBuffer, position: Long): Int

    /** Forces written data to disk (`fdatasync`: the data, and the metadata needed to read it back). */
    fun force()

    /** Cuts the file to [size] bytes. */
    fun truncate(size: Long)

    fun size(): Long

    override fun close()
}

private class ChannelJournalFile(private val channel: FileChannel) : JournalFile {
    override fun write(buffer: ByteBuffer, position: Long) {
        var at = position
        while (buffer.hasRemaining()) at += channel.write(buffer, at)
    }

    override fun read(buffer: ByteBuffer, position: Long): Int {
        var total = 0
        while (buffer.hasRemaining()) {
            val n = channel.read(buffer, position + total)
            if (n < 0) break
            total += n
        }
        return total
    }

    override fun force() {
        channel.force(false)
    }

    override fun truncate(size: Long) {
        channel.truncate(size)
    }

    override fun size(): Long = channel.size()

    override fun close() {
        channel.close()
    }
}

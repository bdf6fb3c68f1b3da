package io.relaymq.internal

import java.io.OutputStream
import java.nio.ByteBuffer
import java.nio.channels.FileChannel
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardCopyOption
import java.nio.file.StandardOpenOption
import java.nio.file.attribute.PosixFilePermissions

/**
 * The few file operations a snapshot write needs, behind an interface so that tests can make any of
 * them fail (in the spirit of square/tape's fault-injecting file) and check that the last good snapshot
 * survives.
 */
internal interface SnapshotFileSystem {
    /** Creates [file] (owner read/write only where the file system has POSIX permissions) for writing. */
    fun create(file: Path): SnapshotSink

    /** Atomically replaces [target] with [source]. */
    fun moveAtomically(source: Path, target: Path)

    /** Forces [directory]'s entries (the rename) to disk, where the platform allows it. */
    fun forceDirectory(directory: Path)

    object Default : SnapshotFileSystem {
        override fun create(file: Path): SnapshotSink {
            val options = setOf(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)
            val channel = if (posix(file.parent)) {
                FileChannel.open(file, options, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))
            } else {
                FileChannel.open(file, options)
            }
            return ChannelSink(channel)
        }

        override fun moveAtomically(source: Path, target: Path) {
            Files.move(source, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
        }

        override fun forceDirectory(directory: Path) {
            try {
                FileChannel.open(directory, StandardOpenOption.READ).use { it.force(true) }
            } catch (e: java.io.IOException) {
                // Some platforms (Windows) cannot open a directory; the rename is as durable as they allow.
                if (posix(directory)) throw e
            }
        }
    }
}

/** Where a snapshot's bytes go: a stream to write, then [force] to put them on disk. */
internal interface SnapshotSink : AutoCloseable {
    val stream: OutputStream

    fun force()

    override fun close()
}

internal fun posix(path: Path): Boolean = path.fileSystem.supportedFileAttributeViews().contains("posix")

private class ChannelSink(private val channel: FileChannel) : SnapshotSink {
    override val stream: OutputStream = object : OutputStream() {
        override fun write(b: Int) {
            write(byteArrayOf(b.toByte()), 0, 1)
        }

        override fun write(b: ByteArray, off: Int, len: Int) {
            val buffer = ByteBuffer.wrap(b, off, len)
            while (buffer.hasRemaining()) channel.write(buffer)
        }
    }.buffered(64 * 1024)

    override fun force() {
        stream.flush()
        channel.force(true)
    }

    override fun close() {
        channel.close()
    }
}

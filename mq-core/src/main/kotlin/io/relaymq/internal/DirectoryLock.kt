package io.relaymq.internal

import java.io.IOException
import java.nio.channels.FileChannel
import java.nio.channels.FileLock
import java.nio.channels.OverlappingFileLockException
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardOpenOption
import java.nio.file.attribute.PosixFilePermissions

/**
 * Keeps other buses (in this process or another) out of a directory a bus writes: an OS file lock on
 * `.relaymq.lock` inside it, released at close, and by the operating system when the process dies.
 * Creates the directory, owner-only, when missing. One per directory and bus: a bus whose snapshot
 * and journal directories are the same shares one.
 */
internal class DirectoryLock(val directory: Path) : AutoCloseable {
    private var channel: FileChannel? = null // guarded by this
    private var lock: FileLock? = null // guarded by this

    /**
     * Takes the lock; idempotent.
     * @throws IOException when the directory cannot be created or opened.
     * @throws IllegalStateException when another bus holds the lock (the message says what to do).
     */
    @Synchronized
    fun open() {
        if (lock != null) return
        if (!Files.isDirectory(directory)) {
            if (posix(directory.toAbsolutePath().parent ?: directory)) {
                Files.createDirectories(directory, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")))
            } else {
                Files.createDirectories(directory)
            }
        }
        val opened = FileChannel.open(directory.resolve(LOCK_FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE)
        val acquired = try {
            opened.tryLock()
        } catch (e: OverlappingFileLockException) {
            null
        }
        if (acquired == null) {
            opened.close()
            throw IllegalStateException(
                "Directory $directory is in use by another RelayMQ bus (in this process or another). " +
                    "Give each bus its own directory, or close the other bus first.",
            )
        }
        channel = opened
        lock = acquired
    }

    val isOpen: Boolean @Synchronized get() = lock != null

    @Synchronized
    override fun close() {
        try {
            lock?.release()
            channel?.close()
        } catch (e: IOException) {
            relayLogger("io.relaymq.internal.DirectoryLock").warn(e) { "Could not release the lock of directory $directory" }
        }
        lock = null
        channel = null
    }

    companion object {
        const val LOCK_FILE: String = ".relaymq.lock"
    }
}

/** `true` when [a] and [b] name the same directory (as far as can be told before either exists). */
internal fun sameDirectory(a: Path, b: Path): Boolean {
    val x = a.toAbsolutePath().normalize()
    val y = b.toAbsolutePath().normalize()
    if (x == y) return true
    return try {
        Files.exists(x) && Files.exists(y) && Files.isSameFile(x, y)
    } catch (e: IOException) {
        false
    }
}

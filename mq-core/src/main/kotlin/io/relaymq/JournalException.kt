package io.relaymq

/**
 * A durable queue's journal could not do its job: the journal directory is locked by another bus or
 * cannot be used, a journal file is corrupt (with `strictJournal`), or writing or forcing a batch of
 * records failed (a full disk, an I/O error). For a failed write, the publishes of that batch were not
 * accepted (nothing of them is delivered), and the queue goes on with the next batch once the fault
 * clears. The message says which queue or file, what failed and what to do.
 */
public class JournalException(message: String, cause: Throwable? = null) : RuntimeException(message, cause)

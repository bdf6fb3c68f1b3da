package io.relaymq.internal

/**
 * Told what became of the dead letter of a message that failed for good: [safe] once the dead-letter
 * queue holds it (at once in memory; once stored in a journal or a remote store), [lost] when a remote
 * store refused it (the message then goes back to its own store, to be delivered again). A durable
 * queue's failed journal write calls neither: the message stays in its journal.
 */
internal interface LetterWatch {
    fun safe()

    fun lost()
}

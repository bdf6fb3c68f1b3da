package io.relaymq

/**
 * Receives the messages a queue gives up on (see [DeadLetter]), as an alternative to a dead-letter
 * queue. Runs on the consumer that made the last attempt; an exception it throws is logged, and the
 * dead letter counted as delivered all the same.
 */
public fun interface DeadLetterHandler {
    /** [letter] failed for good. */
    @Throws(Exception::class)
    public fun onDeadLetter(letter: DeadLetter)
}

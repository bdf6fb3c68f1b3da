package io.relaymq.internal

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.update

/**
 * One queue's run state as its consumers see it: [paused] (take nothing new until resumed) and
 * [stopping] (the close: finish the current message, take no more, never resume). Consumers that may
 * not take wait in [awaitRunnable]; every change (pause, resume, stop, a consumer retired) wakes them
 * to look again.
 */
internal class QueueControl {
    @Volatile var paused: Boolean = false
        private set

    @Volatile var stopping: Boolean = false
        private set

    private val changes = MutableStateFlow(0L)

    fun pause() {
        paused = true
        changed()
    }

    fun resume() {
        paused = false
        changed()
    }

    fun stop() {
        stopping = true
        changed()
    }

    /** Something a waiting consumer must look at again (a consumer was retired). */
    fun changed() {
        changes.update { it + 1 }
    }

    /** Suspends while the queue is paused and not stopping, or until [changed]. Cancellable. */
    suspend fun awaitRunnable() {
        val seen = changes.value // read before the flags: a change after this read ends the wait
        if (!paused || stopping) return
        changes.first { it != seen }
    }
}

package io.relaymq.spi

/** Receives the outcomes of this bus's requests (see [RemoteBackend.openReplies]). */
public fun interface ReplyListener {
    /** Called on the backend's thread for every outcome sent to this bus; keep it short. */
    public fun onReply(correlation: Long, outcome: ByteArray)
}

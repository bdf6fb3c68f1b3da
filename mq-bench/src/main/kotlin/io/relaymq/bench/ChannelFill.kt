package io.relaymq.bench

import kotlinx.coroutines.channels.Channel

/** A raw `Channel(UNLIMITED)` holding [n] copies of the shared payload, for the footprint comparison. */
fun filledChannel(n: Int): Any {
    val channel = Channel<Int>(Channel.UNLIMITED)
    repeat(n) { channel.trySend(Workload.PAYLOAD) }
    return channel
}

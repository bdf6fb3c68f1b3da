package io.relaymq.bench

import io.relaymq.MQ
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlin.time.Duration.Companion.seconds

// JMH calls these from its own (blocking) threads, so each batch enters the coroutine world through
// runBlocking once; the per-message work inside is pure coroutine code for ours and for the peers alike.

/** RelayMQ through the Kotlin API: `producers` coroutines publish, `consumers` handlers count. */
class RelayWorkload(private val producers: Int, consumers: Int) : Workload {
    private val completion = Completion()
    private val mq = MQ(dispatcher = Dispatchers.Default, drainTimeout = 10.seconds)

    init {
        mq.registerQueue<Int>("bench", consumers) { completion.onMessage() }
        mq.start()
    }

    override fun run(n: Int) {
        completion.arm(n)
        runBlocking(Dispatchers.Default) {
            repeat(producers) { launch { repeat(n / producers) { mq.publish("bench", Workload.PAYLOAD) } } }
        }
        completion.await()
    }

    override fun close() {
        mq.close()
    }
}

/** The floor: one `Channel(UNLIMITED)` hop, `producers` senders and `consumers` receivers. */
class ChannelWorkload(private val producers: Int, consumers: Int) : Workload {
    private val completion = Completion()
    private val channel = Channel<Int>(Channel.UNLIMITED)
    private val scope = CoroutineScope(Dispatchers.Default + Job())

    init {
        repeat(consumers) { scope.launch { for (x in channel) completion.onMessage() } }
    }

    override fun run(n: Int) {
        completion.arm(n)
        runBlocking(Dispatchers.Default) {
            repeat(producers) { launch { repeat(n / producers) { channel.send(Workload.PAYLOAD) } } }
        }
        completion.await()
    }

    override fun close() {
        channel.close()
        scope.cancel()
    }
}

/** `request`: publish, then wait for the handler's result, `k` times in a row. */
class RelayRoundTrip : Workload {
    private val mq = MQ(dispatcher = Dispatchers.Default, drainTimeout = 10.seconds)

    init {
        mq.registerReplyingQueue<Int, Int>("rt") { it.data }
        mq.start()
    }

    override fun run(n: Int) = runBlocking(Dispatchers.Default) {
        repeat(n) { mq.request<Int>("rt", Workload.PAYLOAD) }
    }

    override fun close() {
        mq.close()
    }
}

/** The floor for a round trip: two rendezvous channels and an echo coroutine. */
class PingPongRoundTrip : Workload {
    private val ping = Channel<Int>()
    private val pong = Channel<Int>()
    private val scope = CoroutineScope(Dispatchers.Default + Job())

    init {
        scope.launch { for (x in ping) pong.send(x) }
    }

    override fun run(n: Int) = runBlocking(Dispatchers.Default) {
        repeat(n) {
            ping.send(Workload.PAYLOAD)
            pong.receive()
        }
    }

    override fun close() {
        scope.cancel()
    }
}

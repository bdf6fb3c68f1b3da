package io.relaymq.examples

import io.relaymq.MQ
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import java.io.IOException
import java.util.concurrent.ConcurrentHashMap
import kotlin.random.Random
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * The word-enrichment scenario in Kotlin: suspend handlers, no threads blocked while the "dictionary"
 * answers. Run with
 * `mvn -q -pl mq-examples -am package exec:java -DskipTests -Ddemo.mainClass=io.relaymq.examples.WordEnrichmentKt`.
 */
fun main() = runBlocking {
    val random = Random(7)
    val definitions = ConcurrentHashMap<String, String>()
    val mq = MQ(drainTimeout = 30.seconds)

    mq.registerQueue<String>("enrich", concurrency = 4) { msg ->
        val latency = synchronized(random) { 200 + random.nextInt(1300) }
        delay(latency.milliseconds) // a suspending HTTP call would go here
        if (latency % 10 == 0) throw IOException("dictionary timed out on '${msg.data}'")
        definitions[msg.data] = "${msg.data}: ${msg.data.length} letters"
    }
    mq.start()

    val progress = launch {
        while (true) {
            val s = mq.stats("enrich")
            println("published ${s.published} | done ${s.succeeded} | failed ${s.failed} | in flight ${s.inFlight} | pending ${s.pending}")
            delay(500)
        }
    }

    val words = "the quick brown fox jumps over the lazy dog while the slow dictionary answers in its own time"
        .split(" ").toSet()
    for (word in words) mq.publish("enrich", word)

    delay(2.seconds)
    val summary = mq.shutdown()
    progress.cancel()
    println("Closed: $summary")
    println("Definitions: ${definitions.size} of ${words.size}, failed: ${mq.stats("enrich").failed}")
}

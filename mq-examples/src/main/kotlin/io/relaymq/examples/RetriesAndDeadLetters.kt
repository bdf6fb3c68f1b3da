package io.relaymq.examples

import io.relaymq.DeadLetter
import io.relaymq.MQ
import io.relaymq.QueueOptions
import io.relaymq.RetryPolicy
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import java.io.IOException
import kotlin.random.Random
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * Retries and dead letters in Kotlin: an LLM call that fails transiently, retried with backoff; prompts
 * the model refuses for good go to a dead-letter queue. Run with
 * `mvn -q -pl mq-examples -am package exec:java -DskipTests -Ddemo.mainClass=io.relaymq.examples.RetriesAndDeadLettersKt`.
 */
fun main() = runBlocking {
    val mq = MQ()
    mq.registerQueue<DeadLetter>("prompts-dead") { msg ->
        val letter = msg.data
        println("  DEAD: '${letter.data}' after ${letter.attempts} attempt(s): ${letter.failureMessage}")
    }
    val retry = RetryPolicy(maxAttempts = 5, initialBackoff = 50.milliseconds, maxBackoff = 1.seconds, retryOn = { it is IOException })
    mq.registerQueue<String>("prompts", QueueOptions(concurrency = 3, retry = retry, deadLetterQueue = "prompts-dead")) { msg ->
        delay(Random.nextLong(20, 100)) // the model thinks
        if (msg.data.startsWith("forbidden")) throw IllegalStateException("the model refuses: ${msg.data}")
        if (Random.nextInt(3) == 0) throw IOException("model endpoint overloaded")
        println("  answered '${msg.data}' on attempt ${msg.attempt}")
    }
    mq.start()
    listOf("summarise the minutes", "translate the menu", "forbidden request", "draft a reply", "name the cat")
        .forEach { mq.publish("prompts", it) }
    mq.awaitIdle()
    val s = mq.stats("prompts")
    println("prompts: ${s.succeeded} answered, ${s.retried} retried attempts, ${s.deadLettered} dead-lettered")
    mq.shutdown()
    Unit
}

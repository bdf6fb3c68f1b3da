package io.relaymq

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.time.Instant

/** `Message(queue, data)`: unit-testing a Kotlin handler without a bus. */
class MessagesSpec : FunSpec({
    test("a suspend handler runs on a made message") {
        val seen = mutableListOf<String>()
        val handler: suspend (Message<String>) -> Unit = { m -> seen += "${m.queue}#${m.id}:${m.data}@${m.attempt}/${m.key}" }

        handler(Message("mail", "a@example.com"))
        handler(Message("mail", "b@example.com", id = 9, attempt = 2, key = "user-1"))

        seen shouldBe listOf("mail#1:a@example.com@1/null", "mail#9:b@example.com@2/user-1")
    }

    test("the publish time keeps millisecond precision, as a queue's messages do") {
        val m = Message("q", 1, publishedAt = Instant.parse("2026-01-02T03:04:05.678901Z"))
        m.publishedAt shouldBe Instant.parse("2026-01-02T03:04:05.678Z")
    }

    test("bad fields are refused, naming the field") {
        shouldThrow<IllegalArgumentException> { Message("", "x") }.message shouldContain "queue"
        shouldThrow<IllegalArgumentException> { Message("q", "x", id = -1) }.message shouldContain "id"
        shouldThrow<IllegalArgumentException> { Message("q", "x", attempt = 0) }.message shouldContain "attempt"
        shouldThrow<IllegalArgumentException> { Message("q", "x", key = " ") }.message shouldContain "key"
    }
})

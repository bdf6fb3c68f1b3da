package io.relaymq.internal

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.property.Arb
import io.kotest.property.arbitrary.string
import io.kotest.property.checkAll
import java.nio.file.Path

class QueueFileNamesSpec : FunSpec({
    test("every name maps to a plain file name inside the directory") {
        checkAll(1_000, Arb.string(1..300)) { name ->
            val file = QueueFileNames.fileName(name)
            (file.length <= 200) shouldBe true
            file.all { it in 'a'..'z' || it in '0'..'9' || it in "_-%.~ABCDEF" } shouldBe true
            val dir = Path.of("/snapshots")
            dir.resolve(file).normalize().parent shouldBe dir
        }
    }

    test("names that differ only in case or in unsafe characters get different files") {
        val names = listOf("Q", "q", "a/b", "a%2Fb", "a_b", "..", ".", "CON", "con")
        names.map { QueueFileNames.fileName(it) }.toSet().size shouldBe names.size
        QueueFileNames.fileName("orders-2024_v1") shouldBe "queue-orders-2024_v1.snapshot"
    }
})

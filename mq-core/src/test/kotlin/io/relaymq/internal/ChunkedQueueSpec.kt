package io.relaymq.internal

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.property.Arb
import io.kotest.property.arbitrary.int
import io.kotest.property.arbitrary.list
import io.kotest.property.checkAll

class ChunkedQueueSpec : FunSpec({
    test("behaves like a FIFO queue through any mix of adds and removes across chunk boundaries") {
        checkAll(300, Arb.list(Arb.int(-1500..3000), 1..20)) { steps ->
            val queue = ChunkedQueue<Int>()
            val model = ArrayDeque<Int>()
            var next = 0
            for (step in steps) {
                if (step >= 0) {
                    repeat(step) { queue.addLast(next); model.addLast(next); next++ }
                } else {
                    repeat(minOf(-step, model.size)) {
                        queue.first() shouldBe model.first()
                        queue.removeFirst()
                        model.removeFirst()
                    }
                }
                queue.size shouldBe model.size
                queue.isEmpty() shouldBe model.isEmpty()
            }
            val rest = ArrayList<Int>()
            queue.drainTo(rest)
            rest shouldBe model.toList()
            queue.isEmpty() shouldBe true
        }
    }
})

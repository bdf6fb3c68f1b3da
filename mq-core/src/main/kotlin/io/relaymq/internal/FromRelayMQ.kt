package io.relaymq.internal

/**
 * Hides a public class's constructor from Java. Kotlin compiles a constructor that takes a value class
 * as a private constructor plus a synthetic bridge, and javac refuses to call synthetic members; an
 * `internal` Kotlin constructor alone would be public in bytecode. RelayMQ's public value types take
 * this marker so that only RelayMQ creates them.
 */
@JvmInline
internal value class FromRelayMQ(private val unused: Boolean)

/** The one instance of [FromRelayMQ]. */
internal val FROM_RELAYMQ: FromRelayMQ = FromRelayMQ(true)

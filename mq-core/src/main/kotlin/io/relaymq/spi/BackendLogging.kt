@file:JvmName("BackendLogging")

package io.relaymq.spi

import io.github.oshai.kotlinlogging.KLogger
import io.relaymq.internal.relayLogger

/**
 * A logger for backend modules that logs the way mq-core does: through SLF4J when a provider is
 * present, else through `java.util.logging`, and never on stdout (kotlin-logging's own factory would
 * print a startup line there).
 */
public fun backendLogger(name: String): KLogger = relayLogger(name)

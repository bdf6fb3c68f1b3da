package io.relaymq.internal

import io.github.oshai.kotlinlogging.KLogger
import io.github.oshai.kotlinlogging.KLoggingEventBuilder
import io.github.oshai.kotlinlogging.Level
import io.github.oshai.kotlinlogging.Marker

/**
 * The logger of every RelayMQ file: `private val logger = relayLogger("io.relaymq.internal.<File>")`.
 *
 * Two things kotlin-logging's `KotlinLogging.logger` would do to the application, and this does not:
 * - **No startup line.** The `KotlinLogging` object prints "kotlin-logging: initializing..." to
 *   System.out when it is first used, unless the application sets a system property or environment
 *   variable. A library must not write to the application's stdout, nor set global configuration to
 *   avoid it, so RelayMQ never touches that object (nor `toKLogger()`, which goes through it): its
 *   loggers are [RelayLogger]s, which talk to SLF4J themselves.
 * - **No silent loss without an SLF4J provider.** With slf4j-api alone, SLF4J 2 falls back to its NOP
 *   logger and every handler failure, dead letter and abandoned message would vanish. When SLF4J's
 *   logger factory is that fallback, RelayMQ logs through java.util.logging instead, which the JDK
 *   configures to print INFO and above to stderr. An application that chose slf4j-nop on purpose is
 *   left silent.
 *
 * The backend is chosen at the first log call of each logger, not at its creation, so creating a logger
 * in a static initializer does not start SLF4J's initialization.
 */
internal fun relayLogger(name: String): KLogger = RelayLogger(name)

/**
 * A [KLogger] over SLF4J, or over java.util.logging when SLF4J has no provider (see [relayLogger]).
 * Every level method is implemented here (not through the interface's defaults), so that a
 * location-aware SLF4J backend, told this class's name, reports the RelayMQ class that logged.
 */
internal class RelayLogger(override val name: String) : KLogger {
    @Volatile
    private var settled: LogSink? = null

    private fun sink(): LogSink = settled ?: LogSinks.resolve(name).also { if (it.final) settled = it }

    override fun isLoggingEnabledFor(level: Level, marker: Marker?): Boolean = sink().isEnabled(level)

    override fun at(level: Level, marker: Marker?, block: KLoggingEventBuilder.() -> Unit) {
        val sink = sink()
        if (!sink.isEnabled(level)) return
        val event = KLoggingEventBuilder().apply(block)
        sink.log(level, event.message, event.cause)
    }

    private fun log(level: Level, cause: Throwable?, message: () -> Any?) {
        val sink = sink()
        if (sink.isEnabled(level)) sink.log(level, messageOf(message), cause)
    }

    override fun trace(message: () -> Any?): Unit = log(Level.TRACE, null, message)
    override fun trace(throwable: Throwable?, message: () -> Any?): Unit = log(Level.TRACE, throwable, message)
    override fun trace(marker: Marker?, message: () -> Any?): Unit = log(Level.TRACE, null, message)
    override fun trace(marker: Marker?, throwable: Throwable?, message: () -> Any?): Unit = log(Level.TRACE, throwable, message)
    override fun debug(message: () -> Any?): Unit = log(Level.DEBUG, null, message)
    override fun debug(throwable: Throwable?, message: () -> Any?): Unit = log(Level.DEBUG, throwable, message)
    override fun debug(marker: Marker?, message: () -> Any?): Unit = log(Level.DEBUG, null, message)
    override fun debug(marker: Marker?, throwable: Throwable?, message: () -> Any?): Unit = log(Level.DEBUG, throwable, message)
    override fun info(message: () -> Any?): Unit = log(Level.INFO, null, message)
    override fun info(throwable: Throwable?, message: () -> Any?): Unit = log(Level.INFO, throwable, message)
    override fun info(marker: Marker?, message: () -> Any?): Unit = log(Level.INFO, null, message)
    override fun info(marker: Marker?, throwable: Throwable?, message: () -> Any?): Unit = log(Level.INFO, throwable, message)
    override fun warn(message: () -> Any?): Unit = log(Level.WARN, null, message)
    override fun warn(throwable: Throwable?, message: () -> Any?): Unit = log(Level.WARN, throwable, message)
    override fun warn(marker: Marker?, message: () -> Any?): Unit = log(Level.WARN, null, message)
    override fun warn(marker: Marker?, throwable: Throwable?, message: () -> Any?): Unit = log(Level.WARN, throwable, message)
    override fun error(message: () -> Any?): Unit = log(Level.ERROR, null, message)
    override fun error(throwable: Throwable?, message: () -> Any?): Unit = log(Level.ERROR, throwable, message)
    override fun error(marker: Marker?, message: () -> Any?): Unit = log(Level.ERROR, null, message)
    override fun error(marker: Marker?, throwable: Throwable?, message: () -> Any?): Unit = log(Level.ERROR, throwable, message)

    override fun toString(): String = "RelayLogger($name)"

    private companion object {
        fun messageOf(message: () -> Any?): String? = try {
            message()?.toString()
        } catch (e: Exception) {
            "Log message invocation failed: $e"
        }
    }
}

/** Where a [RelayLogger] writes. [final] is false while SLF4J is still initializing: ask again next time. */
internal interface LogSink {
    val final: Boolean
    fun isEnabled(level: Level): Boolean
    fun log(level: Level, message: String?, cause: Throwable?)
}

internal object LogSinks {
    fun resolve(name: String): LogSink =
        try {
            Slf4jSinks.resolve(name) ?: JulSink(name)
        } catch (e: LinkageError) {
            JulSink(name) // slf4j-api excluded from the classpath
        } catch (e: IllegalStateException) {
            JulSink(name) // SLF4J's initialization failed ("LoggerFactory in failed state")
        }
}

/** java.util.logging, named like the SLF4J logger would be; the source class is the logger's name. */
internal class JulSink(private val name: String) : LogSink {
    private val logger = java.util.logging.Logger.getLogger(name)
    override val final: Boolean get() = true

    override fun isEnabled(level: Level): Boolean = level != Level.OFF && logger.isLoggable(julLevel(level))

    override fun log(level: Level, message: String?, cause: Throwable?) {
        logger.logp(julLevel(level), name, null, message, cause)
    }

    private fun julLevel(level: Level): java.util.logging.Level = when (level) {
        Level.TRACE -> java.util.logging.Level.FINEST
        Level.DEBUG -> java.util.logging.Level.FINE
        Level.INFO -> java.util.logging.Level.INFO
        Level.WARN -> java.util.logging.Level.WARNING
        Level.ERROR -> java.util.logging.Level.SEVERE
        Level.OFF -> java.util.logging.Level.OFF
    }
}

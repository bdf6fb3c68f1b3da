package io.relaymq.internal

import io.github.oshai.kotlinlogging.Level
import org.slf4j.LoggerFactory
import org.slf4j.helpers.NOPLoggerFactory
import org.slf4j.helpers.SubstituteLoggerFactory
import org.slf4j.spi.LocationAwareLogger

/**
 * Every reference to SLF4J of [relayLogger]'s loggers, in one class that is loaded only when a logger
 * first logs, so that an application without slf4j-api gets java.util.logging instead of an error.
 */
internal object Slf4jSinks {
    /** The SLF4J logger [name], or `null` when SLF4J has no provider and fell back to NOP. */
    fun resolve(name: String): LogSink? =
        when (val factory = LoggerFactory.getILoggerFactory()) {
            // Another thread is initializing SLF4J: its substitute loggers replay to the real one.
            is SubstituteLoggerFactory -> Slf4jSink(factory.getLogger(name), final = false)
            is NOPLoggerFactory -> if (nopChosen) Slf4jSink(factory.getLogger(name), final = true) else null
            else -> Slf4jSink(factory.getLogger(name), final = true)
        }

    /** slf4j-nop on the classpath: the application asked for silence (the fallback uses the same factory class). */
    private val nopChosen: Boolean by lazy {
        try {
            Class.forName("org.slf4j.nop.NOPServiceProvider", false, LoggerFactory::class.java.classLoader)
            true
        } catch (e: ClassNotFoundException) {
            false
        }
    }
}

private val FQCN: String = RelayLogger::class.java.name

internal class Slf4jSink(private val logger: org.slf4j.Logger, override val final: Boolean) : LogSink {
    override fun isEnabled(level: Level): Boolean = when (level) {
        Level.TRACE -> logger.isTraceEnabled
        Level.DEBUG -> logger.isDebugEnabled
        Level.INFO -> logger.isInfoEnabled
        Level.WARN -> logger.isWarnEnabled
        Level.ERROR -> logger.isErrorEnabled
        Level.OFF -> false
    }

    override fun log(level: Level, message: String?, cause: Throwable?) {
        if (logger is LocationAwareLogger) {
            val slf4jLevel = when (level) {
                Level.TRACE -> LocationAwareLogger.TRACE_INT
                Level.DEBUG -> LocationAwareLogger.DEBUG_INT
                Level.INFO -> LocationAwareLogger.INFO_INT
                Level.WARN -> LocationAwareLogger.WARN_INT
                Level.ERROR -> LocationAwareLogger.ERROR_INT
                Level.OFF -> return
            }
            logger.log(null, FQCN, slf4jLevel, message, null, cause)
            return
        }
        when (level) {
            Level.TRACE -> logger.trace(message, cause)
            Level.DEBUG -> logger.debug(message, cause)
            Level.INFO -> logger.info(message, cause)
            Level.WARN -> logger.warn(message, cause)
            Level.ERROR -> logger.error(message, cause)
            Level.OFF -> Unit
        }
    }
}

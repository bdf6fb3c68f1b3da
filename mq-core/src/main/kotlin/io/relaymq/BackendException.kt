package io.relaymq

/**
 * A remote backend (Redis) could not do what was asked in time: the store is down, unreachable or too
 * slow. A publish that fails with it may still have been stored: the answer may be what was lost, so a
 * publisher that retries can publish the message twice.
 */
public class BackendException(message: String, cause: Throwable? = null) : RuntimeException(message, cause)

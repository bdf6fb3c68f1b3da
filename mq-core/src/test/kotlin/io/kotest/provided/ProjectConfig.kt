package io.kotest.provided

import io.kotest.core.config.AbstractProjectConfig
import kotlin.time.Duration
import kotlin.time.Duration.Companion.minutes

/** A hung test fails with a timeout instead of hanging the build. */
class ProjectConfig : AbstractProjectConfig() {
    override val timeout: Duration = 2.minutes
}

package io.relaymq.redis;

/** mq-redis's binary-compatibility dump, {@code mq-redis/api/mq-redis.api}: mq-core's check, run on this module. */
class ApiDumpTest extends io.relaymq.ApiDumpTest {
}

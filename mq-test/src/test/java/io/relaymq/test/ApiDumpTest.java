package io.relaymq.test;

/** mq-test's binary-compatibility dump, {@code mq-test/api/mq-test.api}: mq-core's check, run on this module. */
class ApiDumpTest extends io.relaymq.ApiDumpTest {
}

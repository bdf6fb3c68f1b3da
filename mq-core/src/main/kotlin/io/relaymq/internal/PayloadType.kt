package io.relaymq.internal

import io.relaymq.QueueOptions

/**
 * The class a queue's payloads must be instances of, or `null` when the queue takes any payload; the
 * rules are [QueueOptions]'s ("The queue's payload type"), checked here and nowhere else, at
 * registration. Primitive classes count as their boxes (`int` as `Integer`): payloads arrive boxed.
 *
 * @param handlerType the handler's declared payload class: Kotlin's reified `T`; `null` for Java handlers.
 * @throws IllegalArgumentException when the sources disagree; the message names the queue and both classes.
 */
internal fun payloadTypeOf(queue: String, handlerType: Class<*>?, options: QueueOptions): Class<*>? {
    val declared = handlerType?.boxed()
    val given = options.payloadType?.boxed()
    if (declared != null && given != null) {
        require(declared.isAssignableFrom(given)) {
            "Queue '$queue': QueueOptions.payloadType is ${given.name}, but the handler takes ${declared.name} " +
                "payloads. Make payloadType ${declared.simpleName} (or a subclass), or leave it out."
        }
    }
    val type = given ?: declared
    val codec = options.codec ?: return type.orNullIfAny()
    val codecType = codec.type().boxed()
    if (type != null) {
        require(type.isAssignableFrom(codecType)) {
            "Queue '$queue' takes ${type.name} payloads, but its codec $codec handles ${codecType.name}: restored " +
                "payloads would not be ${type.simpleName}s. Pass a MessageCodec for ${type.simpleName} (or a subclass)."
        }
    }
    return (type ?: codecType).orNullIfAny()
}

private fun Class<*>.boxed(): Class<*> = kotlin.javaObjectType

/** `Object` admits every payload: no check needed at publish. */
private fun Class<*>?.orNullIfAny(): Class<*>? = if (this == Any::class.java) null else this

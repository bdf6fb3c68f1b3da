package io.relaymq;

import org.jetbrains.annotations.NotNull;

/**
 * Turns one queue's payloads into bytes and back, so that pending messages can be written to a
 * snapshot on close and restored on the next start. RelayMQ never uses Java serialization: every
 * payload that crosses the disk goes through a codec. A queue gets its codec from
 * {@link QueueOptions#codec()}.
 *
 * <p>A codec declares the payload {@link #type()} it handles; a bus with a snapshot directory refuses,
 * at publish, any payload its queue's codec cannot take ({@link #canEncode(Object)}), so a payload that
 * cannot be saved is never discovered at close.
 *
 * <p>Built-ins: {@link #utf8()} for {@code String}, {@link #bytes()} for {@code byte[]}. Write your own
 * with {@link #of(Class, Encoder, Decoder)} or by implementing this interface (for JSON, Protobuf,
 * ...). Codecs must be thread-safe and {@code decode(encode(x))} must equal {@code x} as far as your
 * handlers care.
 *
 * <p>(Written in Java so that its factories are plain static methods for Java callers, without a
 * Kotlin {@code Companion}; Kotlin calls them the same way: {@code MessageCodec.utf8()}.)
 *
 * @param <T> the payload type.
 */
public interface MessageCodec<T> {
    /** The payload class this codec handles. */
    @NotNull
    Class<T> type();

    /** {@code true} if {@code value} can be encoded; by default, when it is an instance of {@link #type()}. */
    default boolean canEncode(@NotNull Object value) {
        return type().isInstance(value);
    }

    /** The bytes of {@code value}. Called on close, for each message saved to the snapshot. */
    @NotNull
    byte[] encode(T value) throws Exception;

    /** The payload back from {@code bytes} written by {@link #encode}. Called on start, for each restored message. */
    @NotNull
    T decode(@NotNull byte[] bytes) throws Exception;

    /** A function that encodes a payload, for {@link #of(Class, Encoder, Decoder)}. */
    @FunctionalInterface
    interface Encoder<T> {
        /** The bytes of {@code value}. */
        @NotNull
        byte[] encode(T value) throws Exception;
    }

    /** A function that decodes a payload, for {@link #of(Class, Encoder, Decoder)}. */
    @FunctionalInterface
    interface Decoder<T> {
        /** The payload back from {@code bytes}. */
        @NotNull
        T decode(@NotNull byte[] bytes) throws Exception;
    }

    /** UTF-8 text. */
    @NotNull
    static MessageCodec<String> utf8() {
        return BuiltInCodecs.UTF8;
    }

    /** Raw bytes, stored as they are. */
    @NotNull
    static MessageCodec<byte[]> bytes() {
        return BuiltInCodecs.BYTES;
    }

    /**
     * A codec for {@code type} made of two functions, for lambdas and method references.
     *
     * @throws NullPointerException if an argument is null.
     */
    @NotNull
    static <T> MessageCodec<T> of(@NotNull Class<T> type, @NotNull Encoder<T> encoder, @NotNull Decoder<T> decoder) {
        java.util.Objects.requireNonNull(type, "type");
        java.util.Objects.requireNonNull(encoder, "encoder");
        java.util.Objects.requireNonNull(decoder, "decoder");
        return new FunctionCodec<>(type, encoder, decoder);
    }
}
